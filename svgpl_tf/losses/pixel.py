"""Pixel-wise reconstruction losses: the MSE of SVG-LP and SVG-PL, binary cross-entropy, L1."""

from __future__ import annotations

import abc

import tensorflow as tf

from svgpl_tf.losses.base import ReconstructionTerm


class PixelTerm(ReconstructionTerm):
    """A per-pixel error, averaged per frame, summed over time and averaged over the batch.

    This is the reference SVG scaling: `nn.MSELoss()` (a per-pixel mean over
    the batch) accumulated over every predicted frame. Subclasses give the
    per-pixel error in `error`; both inputs arrive in float32.

    Args:
        weight: multiplier of the term in the total loss.
        name: key of the term in the logs; the subclass's `default_name` if None.
    """

    default_name = "pixel"

    def __init__(self, weight: float = 1.0, name: str | None = None):
        super().__init__(weight=weight, name=name or self.default_name)

    @abc.abstractmethod
    def error(self, target: tf.Tensor, pred: tf.Tensor) -> tf.Tensor:
        """The error of each pixel, `[batch, time, h, w, c]`."""

    def __call__(self, target: tf.Tensor, pred: tf.Tensor) -> dict[str, tf.Tensor]:
        err = self.error(tf.cast(target, tf.float32), tf.cast(pred, tf.float32))
        per_step = tf.reduce_mean(err, axis=[0, 2, 3, 4])  # [time]
        return {self.name: tf.reduce_sum(per_step)}


class PixelMSE(PixelTerm):
    """Mean squared error per frame, summed over time (the paper's pixel term, Eq. 1).

    Args:
        weight, name: see `PixelTerm`.

    Example:
        >>> term = PixelMSE()
        >>> x = tf.zeros([2, 3, 8, 8, 1])
        >>> float(term(x, x + 0.5)["mse"])  # 3 frames * 0.25
        0.75
    """

    default_name = "mse"

    def error(self, target: tf.Tensor, pred: tf.Tensor) -> tf.Tensor:
        return tf.square(target - pred)


# Probabilities are clipped to [BCE_EPSILON, 1 - BCE_EPSILON] before the log.
BCE_EPSILON = 1e-6


class PixelBCE(PixelTerm):
    """Binary cross-entropy per frame, summed over time.

    Each pixel of the target in [0, 1] is the probability of a Bernoulli
    variable and the prediction its model (Improved-VRNN's SM-MNIST term,
    Castrejon et al. 2019). Its gradient at the decoder's pre-sigmoid output is
    `pred - target`, which does not vanish near saturation as the MSE's does.
    The value is not 0 at `pred == target` for grey targets (it is their
    entropy).

    Args:
        weight, name: see `PixelTerm`.

    Example:
        >>> term = PixelBCE()
        >>> x = tf.fill([2, 3, 8, 8, 1], 0.5)
        >>> round(float(term(tf.zeros_like(x), x)["bce"]), 4)  # 3 frames * log 2
        2.0794
    """

    default_name = "bce"

    def error(self, target: tf.Tensor, pred: tf.Tensor) -> tf.Tensor:
        p = tf.clip_by_value(pred, BCE_EPSILON, 1.0 - BCE_EPSILON)
        return -(target * tf.math.log(p) + (1.0 - target) * tf.math.log(1.0 - p))


class PixelL1(PixelTerm):
    """Mean absolute error per frame, summed over time.

    Where the MSE's optimum is the mean of the plausible futures, which blurs
    a digit over every place it may be, the L1 term's optimum is their
    per-pixel median: a pixel that is lit in fewer than half of the futures is
    predicted black.

    Args:
        weight, name: see `PixelTerm`.

    Example:
        >>> term = PixelL1()
        >>> x = tf.zeros([2, 3, 8, 8, 1])
        >>> float(term(x, x + 0.5)["l1"])  # 3 frames * 0.5
        1.5
    """

    default_name = "l1"

    def error(self, target: tf.Tensor, pred: tf.Tensor) -> tf.Tensor:
        return tf.abs(target - pred)
