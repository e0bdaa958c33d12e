"""The building blocks of the frame encoders and decoders (`svgpl_tf.models.backbones`).

The blocks of DCGAN-64 and VGG-64 (Denton & Fergus, 2018): convolution,
BatchNorm and LeakyReLU in the published order, the embedding head, a VGG
stage, and `Backbone`, the arguments and config that the four encoders and
decoders share. The BatchNorm is `svgpl_tf.models.batchnorm`'s.

Example:
    >>> from svgpl_tf.models.init import SeededLayers
    >>> block = conv_bn_lrelu(SeededLayers(0, "float32"), 8, 3, 2, "block", fused=False)
    >>> tuple(block(keras.ops.zeros([2, 16, 16, 1]), training=False).shape)
    (2, 8, 8, 8)
"""

from __future__ import annotations

import keras
from keras import layers

from svgpl_tf.models.batchnorm import GroupedBatchNormalization
from svgpl_tf.models.elementwise import LeakyReLU
from svgpl_tf.models.init import SeededLayers

# Base channel count of both backbones in the published architectures.
DEFAULT_NF = 64


# The block builders take `make`, the module's `SeededLayers` (its dtype
# policy and seeds), a block `name`, and `fused`, the BatchNorm's fused-kernel
# switch (`GroupedBatchNormalization`).


def batchnorm_block(make: SeededLayers, fused: bool):
    """The BatchNorm of every block, named `bn`.

    It is `synchronized`: under a tf.distribute strategy its batch statistics
    are those of the global batch, so training does not depend on the number
    of replicas (outside a strategy this changes nothing).
    """
    return make(
        GroupedBatchNormalization, fused=fused, momentum=0.9, epsilon=1e-5, synchronized=True,
        name="bn",
    )  # fmt: skip


def conv_bn_lrelu(make, filters, kernel, strides, name, fused):
    """Conv -> BatchNorm -> LeakyReLU(0.2), the basic block of both backbones.

    Args:
        filters, kernel, strides: those of the `Conv2D` (padding "same").
    """
    return keras.Sequential(
        [
            make(layers.Conv2D, filters, kernel, strides, padding="same", name="conv"),
            batchnorm_block(make, fused),
            make(LeakyReLU, 0.2),
        ],
        name=name,
    )


def upconv_bn_lrelu(make, filters, kernel, strides, padding, name, fused):
    """ConvTranspose -> BatchNorm -> LeakyReLU(0.2).

    Args:
        filters, kernel, strides, padding: those of the `Conv2DTranspose`.
    """
    return keras.Sequential(
        [
            make(layers.Conv2DTranspose, filters, kernel, strides, padding=padding, name="deconv"),
            batchnorm_block(make, fused),
            make(LeakyReLU, 0.2),
        ],
        name=name,
    )


def embedding_head(make, g_dim, name, fused):
    """4x4 valid conv to g_dim, BatchNorm, tanh: [n, 4, 4, c] -> [n, 1, 1, g_dim].

    Args:
        g_dim: size of the embedding.
    """
    return keras.Sequential(
        [
            make(layers.Conv2D, g_dim, 4, 1, padding="valid", name="conv"),
            batchnorm_block(make, fused),
            make(layers.Activation, "tanh"),
        ],
        name=name,
    )


def vgg_block(make, widths, name, fused):
    """VGG stage: one 3x3 `_conv_bn_lrelu` per width, named `{name}_{i}`.

    Args:
        widths: output channels of each convolution, in order.
    """
    return keras.Sequential(
        [conv_bn_lrelu(make, w, 3, 1, f"{name}_{i}", fused) for i, w in enumerate(widths)],
        name=name,
    )


class Backbone(layers.Layer):
    """The arguments and config the four encoders and decoders share.

    Subclasses create their layers in `_make_layers(make)`, called once the
    arguments are set, with a `SeededLayers` of the module's seed and dtype
    policy (`dtype=`, as any Keras layer takes it).

    Args:
        g_dim: size of the frame embedding (the encoder's output, the
            decoder's input).
        channels: number of channels of the frames.
        nf: base channel width (64 in the published architecture).
        fused_batchnorm: run the BatchNorm layers through the fused kernel
            where it applies (see `GroupedBatchNormalization`).
        seed: seed of the initial weights (see `SeededLayers`).
    """

    def __init__(
        self,
        g_dim: int = 128,
        channels: int = 1,
        nf: int = DEFAULT_NF,
        fused_batchnorm: bool = False,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.g_dim = g_dim
        self.channels = channels
        self.nf = nf
        self.fused_batchnorm = fused_batchnorm
        self.seed = seed
        self._make_layers(SeededLayers(seed, self.dtype_policy))

    def _make_layers(self, make: SeededLayers) -> None:
        raise NotImplementedError

    def get_config(self):
        return {
            **super().get_config(),
            "g_dim": self.g_dim,
            "channels": self.channels,
            "nf": self.nf,
            "fused_batchnorm": self.fused_batchnorm,
            "seed": self.seed,
        }
