"""The teacher-forced pass's batched pieces (`svgpl_tf.models.teacher_forcing`)."""

import numpy as np
import pytest
import tensorflow as tf

from svgpl_tf.models import backbones, sampling
from svgpl_tf.models.teacher_forcing import (
    decode_shared,
    fold_time,
    skip_sources,
    training_noise,
    unfold_time,
)


def test_fold_time_keeps_each_frame_in_order():
    x = tf.reshape(tf.range(2 * 3 * 4), [2, 3, 4])  # [batch, time, 4]
    folded = fold_time(x)
    np.testing.assert_array_equal(folded[4], x[1, 1])  # row b * T + t
    np.testing.assert_array_equal(unfold_time(folded, 2), x)


@pytest.mark.parametrize("last_frame_skip", [False, True])
def test_skip_sources(last_frame_skip):
    got = skip_sources(6, 3, last_frame_skip).numpy().tolist()
    assert got == ([0, 1, 2, 3, 4, 5] if last_frame_skip else [0, 1, 2, 2, 2, 2])


@pytest.mark.parametrize("last_frame_skip", [False, True])
def test_decode_shared_equals_decoding_each_step_with_its_skips(last_frame_skip):
    enc, dec = backbones.make_backbone("dcgan", 16, 1, 8)
    x = tf.random.uniform([2, 5, 64, 64, 1], seed=3)  # [batch, T, h, w, c]
    h, skips = enc(fold_time(x), training=False)
    skips = [unfold_time(s, 2) for s in skips]  # [b, T, ...]
    g_pred = tf.random.normal([2, 4, 16], seed=4)  # [b, T-1, g]
    idx = skip_sources(4, 2, last_frame_skip)
    step_skips = [fold_time(tf.gather(s, idx, axis=1)) for s in skips]
    plain = unfold_time(dec(fold_time(g_pred), step_skips, training=False), 2)
    fast = decode_shared(dec, g_pred, skips, 2, last_frame_skip, False, None)
    np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-5)


def test_training_noise_is_the_keyed_stream_of_seed_example_and_step():
    class Optimizer:
        iterations = tf.Variable(7, dtype=tf.int64)

    eps = training_noise(3, Optimizer(), 2, 4, 5)  # [batch, steps, z]
    keys = tf.constant([[3, 0], [3, 1]], tf.int64)  # (seed, example)
    want = sampling.keyed_normal(keys, tf.constant(7, tf.int64), 4, 5)
    np.testing.assert_array_equal(eps, tf.reshape(want, [2, 4, 5]))
    # Example 1 of a batch of 3 draws what example 1 of a batch of 2 drew.
    np.testing.assert_array_equal(training_noise(3, Optimizer(), 3, 4, 5)[1], eps[1])
    before = training_noise(3, None, 2, 4, 5)  # no optimizer yet: step 0
    assert np.abs(before.numpy() - eps.numpy()).max() > 0.5
