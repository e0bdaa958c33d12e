"""The KL term of SVG: KL(q(z_t | x_1:t) || p(z_t | x_1:t-1)) through TFP."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def kl_divergence(posterior: tfd.Normal, prior: tfd.Normal) -> tf.Tensor:
    """KL between two diagonal Gaussians with the reference SVG scaling.

    Summed over the z dimensions and the time steps, averaged over the batch
    (`kl_criterion` of the reference code, accumulated over every frame).

    Args:
        posterior: `tfd.Normal` with batch shape `[batch, time, z_dim]`.
        prior: `tfd.Normal` broadcastable to the same shape.

    Returns:
        A float32 scalar.

    Example:
        >>> q = tfd.Normal(tf.zeros([2, 3, 4]), tf.ones([2, 3, 4]))
        >>> float(kl_divergence(q, q))
        0.0
    """
    kl = tfd.kl_divergence(posterior, prior)  # [batch, time, z_dim]
    return tf.reduce_mean(tf.reduce_sum(kl, axis=[1, 2]))
