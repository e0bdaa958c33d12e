"""A structural-similarity reconstruction term: 1 - SSIM per frame, summed over time.

Not part of the paper's loss (Eq. 1 has pixel MSE, the perceptual term and
KL); an optional extra term, off by default (`--ssim_weight=0`). Where the
MSE barely notices faint grey on a black background, SSIM's luminance
comparison `(2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1)` halves for a window of
mean 0.01 against an empty one, so the term pushes empty regions to black and
strokes to their true contrast.
"""

from __future__ import annotations

import tensorflow as tf

from svgpl_tf.losses.base import ReconstructionTerm

# Wang et al.'s SSIM: an 11x11 Gaussian window of sigma 1.5, K1 0.01, K2 0.03.
SSIM_FILTER_SIZE, SSIM_FILTER_SIGMA = 11, 1.5


class SSIMTerm(ReconstructionTerm):
    """`1 - SSIM` of each predicted frame, averaged over the batch, summed over time.

    SSIM is `tf.image.ssim` with the Gaussian window (data range 1), the
    evaluation's `"gaussian"` mode; frames must be at least 11 pixels on a
    side. The sum over time matches the scaling of the pixel terms.

    Args:
        weight: multiplier of the term in the total loss.
        name: key of the term in the logs.

    Example:
        >>> term = SSIMTerm()
        >>> x = tf.random.stateless_uniform([2, 3, 16, 16, 1], seed=[0, 0])
        >>> float(term(x, x)["ssim"])  # identical frames
        0.0
    """

    def __init__(self, weight: float = 1.0, name: str = "ssim"):
        super().__init__(weight=weight, name=name)

    def __call__(self, target: tf.Tensor, pred: tf.Tensor) -> dict[str, tf.Tensor]:
        target = tf.cast(target, tf.float32)  # [batch, time, h, w, c]
        pred = tf.cast(pred, tf.float32)
        similarity = tf.image.ssim(
            pred,
            target,
            max_val=1.0,
            filter_size=SSIM_FILTER_SIZE,
            filter_sigma=SSIM_FILTER_SIGMA,
            k1=0.01,
            k2=0.03,
        )  # [batch, time]
        per_step = tf.reduce_mean(1.0 - similarity, axis=0)  # [time]
        return {self.name: tf.reduce_sum(per_step)}
