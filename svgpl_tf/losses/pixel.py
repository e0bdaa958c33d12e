"""Pixel-wise reconstruction losses: the MSE of SVG-LP and SVG-PL, binary cross-entropy, L1."""

from __future__ import annotations

import tensorflow as tf

from svgpl_tf.losses.base import ReconstructionTerm


class PixelMSE(ReconstructionTerm):
    """Mean squared error per frame, summed over time, averaged over the batch.

    This is the reference SVG scaling: `nn.MSELoss()` (a per-pixel mean over
    the batch) accumulated over every predicted frame.

    Args:
        weight: multiplier of the term in the total loss.
        name: key of the term in the logs.

    Example:
        >>> term = PixelMSE()
        >>> x = tf.zeros([2, 3, 8, 8, 1])
        >>> float(term(x, x + 0.5)["mse"])  # 3 frames * 0.25
        0.75
    """

    def __init__(self, weight: float = 1.0, name: str = "mse"):
        super().__init__(weight=weight, name=name)

    def __call__(self, target: tf.Tensor, pred: tf.Tensor) -> dict[str, tf.Tensor]:
        err = tf.square(tf.cast(target, tf.float32) - tf.cast(pred, tf.float32))
        per_step = tf.reduce_mean(err, axis=[0, 2, 3, 4])  # [time]
        return {self.name: tf.reduce_sum(per_step)}


# Probabilities are clipped to [BCE_EPSILON, 1 - BCE_EPSILON] before the log.
BCE_EPSILON = 1e-6


class PixelBCE(ReconstructionTerm):
    """Binary cross-entropy per frame, summed over time, averaged over the batch.

    Each pixel of the target in [0, 1] is the probability of a Bernoulli
    variable and the prediction its model (Improved-VRNN's SM-MNIST term,
    Castrejon et al. 2019). Its gradient at the decoder's pre-sigmoid output is
    `pred - target`, which does not vanish near saturation as the MSE's does.
    The scaling is `PixelMSE`'s: the per-pixel mean over the batch, summed
    over the frames. The value is not 0 at `pred == target` for grey targets
    (it is their entropy).

    Args:
        weight: multiplier of the term in the total loss.
        name: key of the term in the logs.

    Example:
        >>> term = PixelBCE()
        >>> x = tf.fill([2, 3, 8, 8, 1], 0.5)
        >>> round(float(term(tf.zeros_like(x), x)["bce"]), 4)  # 3 frames * log 2
        2.0794
    """

    def __init__(self, weight: float = 1.0, name: str = "bce"):
        super().__init__(weight=weight, name=name)

    def __call__(self, target: tf.Tensor, pred: tf.Tensor) -> dict[str, tf.Tensor]:
        y = tf.cast(target, tf.float32)
        p = tf.clip_by_value(tf.cast(pred, tf.float32), BCE_EPSILON, 1.0 - BCE_EPSILON)
        err = -(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
        per_step = tf.reduce_mean(err, axis=[0, 2, 3, 4])  # [time]
        return {self.name: tf.reduce_sum(per_step)}


class PixelL1(ReconstructionTerm):
    """Mean absolute error per frame, summed over time, averaged over the batch.

    Where the MSE's optimum is the mean of the plausible futures, which blurs
    a digit over every place it may be, the L1 term's optimum is their
    per-pixel median: a pixel that is lit in fewer than half of the futures is
    predicted black. The scaling is `PixelMSE`'s: the per-pixel mean over the
    batch, summed over the frames.

    Args:
        weight: multiplier of the term in the total loss.
        name: key of the term in the logs.

    Example:
        >>> term = PixelL1()
        >>> x = tf.zeros([2, 3, 8, 8, 1])
        >>> float(term(x, x + 0.5)["l1"])  # 3 frames * 0.5
        1.5
    """

    def __init__(self, weight: float = 1.0, name: str = "l1"):
        super().__init__(weight=weight, name=name)

    def __call__(self, target: tf.Tensor, pred: tf.Tensor) -> dict[str, tf.Tensor]:
        err = tf.abs(tf.cast(target, tf.float32) - tf.cast(pred, tf.float32))
        per_step = tf.reduce_mean(err, axis=[0, 2, 3, 4])  # [time]
        return {self.name: tf.reduce_sum(per_step)}
