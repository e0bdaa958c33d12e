"""Frame encoders and decoders: DCGAN-64 and VGG-64 (Denton & Fergus, 2018).

Both pairs follow the published SVG architectures layer for layer (kernel
sizes, strides, channel counts, biases and BatchNorm), so at `g_dim=128` their
parameter counts equal those of the reference implementation. The encoder
returns the frame embedding and its four intermediate feature maps, which the
decoder takes as skip connections (the U-Net-like links of SVG).

Shapes below are for 64x64 frames; 128x128 frames add one more stride-2 stage
in neither backbone, so only 64x64 is supported (see `SUPPORTED_IMAGE_SIZES`).

The decoders' `decode(g, skip_terms(skips))` equals `call(g, skips)`, one
frame's skip terms serving every frame decoded with its skips (see
`svgpl_tf.models.skip_terms`); their blocks are `svgpl_tf.models.backbone_blocks`'s.
"""

from __future__ import annotations

import keras
from keras import layers

from svgpl_tf.choices import BACKBONES
from svgpl_tf.models.backbone_blocks import (
    DEFAULT_NF,
    Backbone,
    conv_bn_lrelu,
    embedding_head,
    upconv_bn_lrelu,
    vgg_block,
)
from svgpl_tf.models.init import SeededLayers
from svgpl_tf.models.skip_terms import (
    add_shared,
    apply_block,
    bias_activation,
    conv_block_with_term,
    conv_slice,
)


@keras.saving.register_keras_serializable(package="svgpl_tf")
class DCGANEncoder(Backbone):
    """DCGAN-64 frame encoder.

    Args:
        g_dim, channels, nf, fused_batchnorm, seed: see `Backbone`.

    Call returns `(h, skips)`: `h` is `[n, g_dim]` and `skips` the four
    feature maps `[n, 32, 32, 64]`, `[n, 16, 16, 128]`, `[n, 8, 8, 256]`,
    `[n, 4, 4, 512]`.

    Example:
        >>> enc = DCGANEncoder(g_dim=128, channels=1)
        >>> h, skips = enc(keras.ops.zeros([2, 64, 64, 1]))
        >>> tuple(h.shape)
        (2, 128)
    """

    def _make_layers(self, make: SeededLayers) -> None:
        nf, fused = self.nf, self.fused_batchnorm
        self.c1 = conv_bn_lrelu(make, nf, 4, 2, "c1", fused)  # 64 -> 32
        self.c2 = conv_bn_lrelu(make, nf * 2, 4, 2, "c2", fused)  # 32 -> 16
        self.c3 = conv_bn_lrelu(make, nf * 4, 4, 2, "c3", fused)  # 16 -> 8
        self.c4 = conv_bn_lrelu(make, nf * 8, 4, 2, "c4", fused)  # 8 -> 4
        self.c5 = embedding_head(make, self.g_dim, "c5", fused)  # 4 -> 1

    def build(self, input_shape):
        shape = tuple(input_shape)
        for block in (self.c1, self.c2, self.c3, self.c4, self.c5):
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, x, training=None, groups=None):
        h1 = apply_block(self.c1, x, training, groups)  # [n, 32, 32, 64]
        h2 = apply_block(self.c2, h1, training, groups)  # [n, 16, 16, 128]
        h3 = apply_block(self.c3, h2, training, groups)  # [n, 8, 8, 256]
        h4 = apply_block(self.c4, h3, training, groups)  # [n, 4, 4, 512]
        h5 = apply_block(self.c5, h4, training, groups)  # [n, 1, 1, g_dim]
        return keras.ops.reshape(h5, [-1, self.g_dim]), [h1, h2, h3, h4]


@keras.saving.register_keras_serializable(package="svgpl_tf")
class DCGANDecoder(Backbone):
    """DCGAN-64 frame decoder with skip connections, sigmoid output.

    Args:
        g_dim, channels, nf, fused_batchnorm, seed: see `Backbone`.

    Call takes `(g, skips)` with `g` `[n, g_dim]` and the encoder's four skip
    maps, and returns frames `[n, 64, 64, channels]` in (0, 1).

    Example:
        >>> enc, dec = DCGANEncoder(128, 1), DCGANDecoder(128, 1)
        >>> h, skips = enc(keras.ops.zeros([2, 64, 64, 1]))
        >>> tuple(dec(h, skips).shape)
        (2, 64, 64, 1)
    """

    def _make_layers(self, make: SeededLayers) -> None:
        nf, fused = self.nf, self.fused_batchnorm
        self.upc1 = upconv_bn_lrelu(make, nf * 8, 4, 1, "valid", "upc1", fused)  # 1 -> 4
        self.upc2 = upconv_bn_lrelu(make, nf * 4, 4, 2, "same", "upc2", fused)  # 4 -> 8
        self.upc3 = upconv_bn_lrelu(make, nf * 2, 4, 2, "same", "upc3", fused)  # 8 -> 16
        self.upc4 = upconv_bn_lrelu(make, nf, 4, 2, "same", "upc4", fused)  # 16 -> 32
        self.upc5 = make(
            layers.Conv2DTranspose, self.channels, 4, 2, padding="same", activation="sigmoid",
            name="upc5",
        )  # 32 -> 64  # fmt: skip

    def build(self, g_shape, skips_shape=None):
        n, nf = g_shape[0], self.nf
        self.upc1.build((n, 1, 1, self.g_dim))
        self.upc2.build((n, 4, 4, nf * 8 * 2))
        self.upc3.build((n, 8, 8, nf * 4 * 2))
        self.upc4.build((n, 16, 16, nf * 2 * 2))
        self.upc5.build((n, 32, 32, nf * 2))

    def call(self, g, skips, training=None, groups=None):
        s1, s2, s3, s4 = skips
        d1 = apply_block(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        # d2 [n, 8, 8, 256], d3 [n, 16, 16, 128], d4 [n, 32, 32, 64]
        d2 = apply_block(self.upc2, keras.ops.concatenate([d1, s4], -1), training, groups)
        d3 = apply_block(self.upc3, keras.ops.concatenate([d2, s3], -1), training, groups)
        d4 = apply_block(self.upc4, keras.ops.concatenate([d3, s2], -1), training, groups)
        return self.upc5(keras.ops.concatenate([d4, s1], -1))  # [n, 64, 64, c]

    def skip_terms(self, skips):
        """The skip maps' share of the decoder (see the module docstring).

        Args:
            skips: the encoder's four maps `[n, 32, 32, nf]` ... `[n, 4, 4, 8nf]`.

        Returns:
            Four terms for `decode`: `[n, 8, 8, 4nf]`, `[n, 16, 16, 2nf]`,
            `[n, 32, 32, nf]`, `[n, 64, 64, c]`.
        """
        s1, s2, s3, s4 = skips
        nf = self.nf
        return [
            conv_slice(self.upc2.layers[0], s4, nf * 8, nf * 16),  # [n, 8, 8, 4nf]
            conv_slice(self.upc3.layers[0], s3, nf * 4, nf * 8),  # [n, 16, 16, 2nf]
            conv_slice(self.upc4.layers[0], s2, nf * 2, nf * 4),  # [n, 32, 32, nf]
            conv_slice(self.upc5, s1, nf, nf * 2),  # [n, 64, 64, c]
        ]

    def decode(self, g, terms, training=None, groups=None):
        """Frames from `g` `[k * n, g_dim]` and `skip_terms` `[n, ...]`.

        Equals `call(g, skips)` when `terms = skip_terms(skips)`; each term row
        serves k consecutive rows of `g` (k = 1: one term row per frame).
        """
        t2, t3, t4, t5 = terms
        d1 = apply_block(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        d2 = conv_block_with_term(self.upc2, d1, t2, training, groups)  # [kn, 8, 8, 4nf]
        d3 = conv_block_with_term(self.upc3, d2, t3, training, groups)  # [kn, 16, 16, 2nf]
        d4 = conv_block_with_term(self.upc4, d3, t4, training, groups)  # [kn, 32, 32, nf]
        out = conv_slice(self.upc5, d4, 0, self.nf, inference=not training)
        out = add_shared(out, t5)
        return bias_activation(self.upc5, out)  # [kn, 64, 64, c]


@keras.saving.register_keras_serializable(package="svgpl_tf")
class VGGEncoder(Backbone):
    """VGG-64 frame encoder: 2-2-3-3 blocks of 3x3 convs with max-pooling.

    Args:
        g_dim, channels, nf, fused_batchnorm, seed: see `Backbone`.

    Call returns `(h, skips)`: `h` is `[n, g_dim]` and `skips` the four
    feature maps `[n, 64, 64, 64]`, `[n, 32, 32, 128]`, `[n, 16, 16, 256]`,
    `[n, 8, 8, 512]` (before each max-pooling).

    Example:
        >>> h, skips = VGGEncoder(128, 3)(keras.ops.zeros([2, 64, 64, 3]))
        >>> [tuple(s.shape[1:]) for s in skips][0]
        (64, 64, 64)
    """

    def _make_layers(self, make: SeededLayers) -> None:
        nf, fused = self.nf, self.fused_batchnorm
        self.c1 = vgg_block(make, [nf, nf], "c1", fused)  # 64 x 64
        self.c2 = vgg_block(make, [nf * 2, nf * 2], "c2", fused)  # 32 x 32
        self.c3 = vgg_block(make, [nf * 4] * 3, "c3", fused)  # 16 x 16
        self.c4 = vgg_block(make, [nf * 8] * 3, "c4", fused)  # 8 x 8
        self.c5 = embedding_head(make, self.g_dim, "c5", fused)  # 4 -> 1
        self.pool = make(layers.MaxPooling2D, 2, 2)

    def build(self, input_shape):
        n, h, w, c = tuple(input_shape)
        shape = (n, h, w, c)
        for block in (self.c1, self.c2, self.c3, self.c4):
            block.build(shape)
            shape = block.compute_output_shape(shape)
            shape = (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
        self.c5.build(shape)

    def call(self, x, training=None, groups=None):
        h1 = apply_block(self.c1, x, training, groups)  # [n, 64, 64, 64]
        h2 = apply_block(self.c2, self.pool(h1), training, groups)  # [n, 32, 32, 128]
        h3 = apply_block(self.c3, self.pool(h2), training, groups)  # [n, 16, 16, 256]
        h4 = apply_block(self.c4, self.pool(h3), training, groups)  # [n, 8, 8, 512]
        h5 = apply_block(self.c5, self.pool(h4), training, groups)  # [n, 1, 1, g_dim]
        return keras.ops.reshape(h5, [-1, self.g_dim]), [h1, h2, h3, h4]


@keras.saving.register_keras_serializable(package="svgpl_tf")
class VGGDecoder(Backbone):
    """VGG-64 frame decoder: mirrors `VGGEncoder` with nearest upsampling.

    Args:
        g_dim, channels, nf, fused_batchnorm, seed: see `Backbone`.

    Example:
        >>> enc, dec = VGGEncoder(128, 3), VGGDecoder(128, 3)
        >>> h, skips = enc(keras.ops.zeros([1, 64, 64, 3]))
        >>> tuple(dec(h, skips).shape)
        (1, 64, 64, 3)
    """

    def _make_layers(self, make: SeededLayers) -> None:
        nf, fused = self.nf, self.fused_batchnorm
        self.upc1 = upconv_bn_lrelu(make, nf * 8, 4, 1, "valid", "upc1", fused)  # 1 -> 4
        self.upc2 = vgg_block(make, [nf * 8, nf * 8, nf * 4], "upc2", fused)  # 8 x 8
        self.upc3 = vgg_block(make, [nf * 4, nf * 4, nf * 2], "upc3", fused)  # 16 x 16
        self.upc4 = vgg_block(make, [nf * 2, nf], "upc4", fused)  # 32 x 32
        self.upc5 = vgg_block(make, [nf], "upc5", fused)  # 64 x 64
        self.out = make(
            layers.Conv2DTranspose, self.channels, 3, 1, padding="same", activation="sigmoid",
            name="out",
        )  # fmt: skip
        self.up = make(layers.UpSampling2D, 2, interpolation="nearest")

    def build(self, g_shape, skips_shape=None):
        n, nf = g_shape[0], self.nf
        self.upc1.build((n, 1, 1, self.g_dim))
        self.upc2.build((n, 8, 8, nf * 8 * 2))
        self.upc3.build((n, 16, 16, nf * 4 * 2))
        self.upc4.build((n, 32, 32, nf * 2 * 2))
        self.upc5.build((n, 64, 64, nf * 2))
        self.out.build((n, 64, 64, nf))

    def call(self, g, skips, training=None, groups=None):
        s1, s2, s3, s4 = skips
        d1 = apply_block(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        d2 = apply_block(self.upc2, keras.ops.concatenate([self.up(d1), s4], -1), training, groups)
        d3 = apply_block(self.upc3, keras.ops.concatenate([self.up(d2), s3], -1), training, groups)
        d4 = apply_block(self.upc4, keras.ops.concatenate([self.up(d3), s2], -1), training, groups)
        d5 = apply_block(self.upc5, keras.ops.concatenate([self.up(d4), s1], -1), training, groups)
        return self.out(d5)  # [n, 64, 64, c]

    def skip_terms(self, skips):
        """The skip maps' share of the decoder (see the module docstring).

        Args:
            skips: the encoder's four maps `[n, 64, 64, nf]` ... `[n, 8, 8, 8nf]`.

        Returns:
            Four terms for `decode`: `[n, 8, 8, 8nf]`, `[n, 16, 16, 4nf]`,
            `[n, 32, 32, 2nf]`, `[n, 64, 64, nf]`.
        """
        s1, s2, s3, s4 = skips
        nf = self.nf
        blocks = (self.upc2, self.upc3, self.upc4, self.upc5)
        first = [block.layers[0].layers[0] for block in blocks]  # each block's first conv
        return [
            conv_slice(first[0], s4, nf * 8, nf * 16),  # [n, 8, 8, 8nf]
            conv_slice(first[1], s3, nf * 4, nf * 8),  # [n, 16, 16, 4nf]
            conv_slice(first[2], s2, nf * 2, nf * 4),  # [n, 32, 32, 2nf]
            conv_slice(first[3], s1, nf, nf * 2),  # [n, 64, 64, nf]
        ]

    def decode(self, g, terms, training=None, groups=None):
        """Frames from `g` `[k * n, g_dim]` and `skip_terms` `[n, ...]`.

        Equals `call(g, skips)` when `terms = skip_terms(skips)`; each term row
        serves k consecutive rows of `g` (k = 1: one term row per frame).
        """
        d = apply_block(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        for block, term in zip((self.upc2, self.upc3, self.upc4, self.upc5), terms):
            first, *rest = block.layers
            d = conv_block_with_term(first, self.up(d), term, training, groups)
            for layer in rest:
                d = apply_block(layer, d, training, groups)
        return self.out(d)  # [kn, 64, 64, c]


_REGISTRY = {"dcgan": (DCGANEncoder, DCGANDecoder), "vgg": (VGGEncoder, VGGDecoder)}


def make_backbone(
    name: str,
    g_dim: int,
    channels: int,
    nf: int = DEFAULT_NF,
    fused_batchnorm: bool = False,
    seeds: tuple[int, int] = (0, 1),
    dtype=None,
):
    """Returns a new `(encoder, decoder)` pair for the backbone `name`.

    Args:
        name: one of `BACKBONES`.
        g_dim: size of the frame embedding.
        channels: number of frame channels.
        nf: base channel width; 64 is the published architecture, smaller
            values give fast models for tests and CPU demos.
        fused_batchnorm: run every BatchNorm through the fused kernel where
            it applies (see `GroupedBatchNormalization`).
        seeds: the encoder's and the decoder's seeds (their initial weights).
        dtype: the dtype policy of both (None: Keras's default).
    """
    if name not in _REGISTRY:
        raise ValueError(f"Unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}.")
    enc_cls, dec_cls = _REGISTRY[name]
    common = dict(fused_batchnorm=fused_batchnorm, dtype=dtype)
    return (
        enc_cls(g_dim, channels, nf, seed=seeds[0], name="encoder", **common),
        dec_cls(g_dim, channels, nf, seed=seeds[1], name="decoder", **common),
    )
