"""Pixel-wise reconstruction loss: the MSE term of SVG-LP and SVG-PL."""

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
