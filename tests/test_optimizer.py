"""Tests of the optimizer (`svgpl_tf.training.optimizer`): the linear warm-up
of the learning rate, alone and in a model's first training step."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config

from svgpl_tf import runs
from svgpl_tf.training.optimizer import LinearWarmup


def test_linear_warmup_rises_to_the_peak_and_stays():
    schedule = LinearWarmup(1e-3, warmup_steps=4)
    rates = [float(schedule(step)) for step in range(6)]
    np.testing.assert_allclose(rates, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3], rtol=1e-6)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(clone, LinearWarmup) and clone.get_config() == schedule.get_config()
    with pytest.raises(ValueError, match="warmup_steps must be >= 1"):
        LinearWarmup(1e-3, warmup_steps=0)


def _first_step(**changes) -> float:
    """The largest change of a conv kernel in a fresh model's first training step."""
    model = runs.build_model(tiny_config(learning_rate=1e-3, **changes))
    kernels = [v for v in model.trainable_variables if "kernel" in v.path and "conv" in v.path]
    before = [v.numpy() for v in kernels]
    model.make_train_function()
    model.train_function([tf.random.uniform([2, 4, 64, 64, 1], seed=1)])
    return max(np.abs(v.numpy() - b).max() for v, b in zip(kernels, before))


def test_a_warmup_shrinks_adams_first_step():
    # Adam's first step moves a weight by lr * g / (|g| + eps): about the full
    # rate for any gradient well above eps. Warmed up over 4 steps, a quarter.
    assert _first_step() == pytest.approx(1e-3, rel=0.02)
    assert _first_step(lr_warmup_steps=4) == pytest.approx(2.5e-4, rel=0.02)
