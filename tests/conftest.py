"""Shared fixtures: tiny model sizes so the suite runs in minutes on 2 cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from svgpl_tf.config import Config  # noqa: E402

# A model small enough for a training step in well under a second.
TINY_MODEL = dict(g_dim=16, nf=8, z_dim=4, rnn_size=16)


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
def float32_policy():
    """Each test starts and ends in float32: `build_model` sets Keras's global
    dtype policy, and a mixed policy must not leak into the next test."""
    import keras

    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")
