"""Best-of-N sampling keeps the sample evaluation keeps: the best mean SSIM."""

import numpy as np
import tensorflow as tf

from svgpl_tf.benchmarks.sampling import select_best
from svgpl_tf.evaluation import metrics


def test_best_sample_is_chosen_by_ssim_not_mse():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.0, 0.5, [1, 2, 16, 16, 1]).astype(np.float32)  # [b, t, h, w, c]
    brighter = truth + 0.2  # the same structure, larger pixel error
    flat = np.full_like(truth, truth.mean())  # smaller pixel error, no structure
    frames = tf.constant(np.stack([flat, brighter], axis=1))  # [b, 2, t, h, w, c]
    pixel_error = tf.reduce_mean(tf.square(frames - truth[:, None]), axis=[2, 3, 4, 5])
    assert int(tf.argmin(pixel_error, axis=1)[0]) == 0  # MSE would keep the flat one
    best, ssim = select_best(frames, tf.constant(truth))
    np.testing.assert_array_equal(best.numpy(), brighter)
    assert best.shape == truth.shape and ssim.shape == (1, 2)
    score = metrics.ssim(frames, truth[:, None], "uniform")  # [b, 2, t]
    np.testing.assert_allclose(ssim.numpy(), metrics.best_of_n(score).numpy())
