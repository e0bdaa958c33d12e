"""Shared fixtures: tiny model sizes so the suite runs in minutes on 2 cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from helpers import TINY_MODEL  # noqa: E402

pytest_plugins = ["serving_fixtures"]

from svgpl_tf.config import Config  # noqa: E402


@pytest.fixture
def tiny_config():
    """A valid configuration with tiny sizes, procedural sprites, 4 steps."""
    return Config(
        **TINY_MODEL,
        n_past=2,
        n_future=2,
        batch_size=2,
        num_test_sequences=4,
        steps=4,
        log_every=2,
        checkpoint_every=2,
        sample_every=2,
    ).validate()


@pytest.fixture(autouse=True)
def no_global_dtype_policy():
    """No test may leave Keras's global dtype policy changed: models keep their
    precision to themselves (`runs.build_model`)."""
    import keras

    before = keras.config.dtype_policy().name
    yield
    assert keras.config.dtype_policy().name == before, "the global dtype policy leaked"


def portable_noise(keys, step, num_samples, z_dim):
    """A deterministic stand-in for `sampling.keyed_normal`, the same with and without XLA.

    TF 2.21's stateless random ops give other numbers under XLA than in a
    plain graph for the same seed and algorithm (tensorflow/tensorflow#121243),
    so the XLA comparisons replace the noise by this function of the same keys.
    """
    base = tf.cast(keys[:, :1] * 31 + keys[:, 1:] * 17 + tf.cast(step, tf.int64), tf.float32)
    grid = tf.cast(tf.range(num_samples * z_dim), tf.float32)
    return tf.reshape(tf.sin(0.37 * base + 1.3 * grid[None, :]), [-1, z_dim])  # [b*s, z]
