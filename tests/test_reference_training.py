"""Tests of the reference training behaviours: init, Adam, LSTM biases, BatchNorm statistics."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY_MODEL

from svgpl_tf import runs
from svgpl_tf.config import Config
from svgpl_tf.models.batchnorm import GroupedBatchNormalization, InferenceGroups
from svgpl_tf.models.init import INIT_STD, reference_init
from svgpl_tf.models.sampling import CompiledSampler
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.training.optimizer import ScaledAdam, lstm_bias_paths

SWITCHES = ("adam_epsilon", "init", "lstm_bias", "batchnorm_stats")
REFERENCE = dict(
    adam_epsilon=1e-8, init="reference", lstm_bias="double", batchnorm_stats="per_step"
)
TINY = TINY_MODEL


def _model(**kwargs):  # Keras's initialisation, as built
    model = SVGModel(**TINY, n_past=2, **kwargs)
    model.build()
    return model


def test_reference_init_draws_the_reference_distributions():
    model = _model()
    count = reference_init(model, seed=3)
    assert count > 40
    conv = model.encoder.c2.layers[0]
    assert np.std(conv.kernel.numpy()) == pytest.approx(INIT_STD, rel=0.05)
    assert abs(np.mean(conv.kernel.numpy())) < 2e-3
    np.testing.assert_array_equal(conv.bias.numpy(), 0.0)
    bn = model.encoder.c2.layers[1]
    gamma = bn.gamma.numpy()
    assert np.mean(gamma) == pytest.approx(1.0, abs=0.01)
    assert np.std(gamma) == pytest.approx(INIT_STD, rel=0.3)
    np.testing.assert_array_equal(bn.beta.numpy(), 0.0)
    embed = model.frame_predictor.embed
    assert np.std(embed.kernel.numpy()) == pytest.approx(INIT_STD, rel=0.1)
    cell = model.frame_predictor.lstms[0].cell
    bound = 1 / np.sqrt(16)
    kernel = cell.kernel.numpy()
    assert kernel.min() >= -bound and kernel.max() <= bound
    # U(-b, b) has variance b^2 / 3: not Glorot's, and not orthogonal.
    assert np.var(kernel) == pytest.approx(bound**2 / 3, rel=0.15)
    bias = cell.bias.numpy()  # the sum of two U(-b, b): within 2b, variance 2 b^2 / 3
    assert np.abs(bias).max() <= 2 * bound
    assert np.var(bias) == pytest.approx(2 * bound**2 / 3, rel=0.3)
    # No forget-gate bias of 1 (Keras's unit_forget_bias): gates f are bias[16:32].
    assert abs(np.mean(bias[16:32])) < 0.1


def test_reference_init_is_deterministic_under_a_seed():
    a, b, c = _model(), _model(), _model()
    reference_init(a, 7)
    reference_init(b, 7)
    reference_init(c, 8)
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(va.numpy(), vb.numpy())
    differ = [not np.array_equal(va.numpy(), vc.numpy()) for va, vc in zip(a.weights, c.weights)]
    assert sum(differ) > 30  # every drawn weight; zero biases and moving stats agree


def test_scaled_adam_moves_lstm_biases_twice_as_far():
    """Two torch biases with the same gradient each take Adam's step; their sum moves 2x."""
    model = _model()
    paths = lstm_bias_paths(model)
    assert len(paths) == 4  # predictor (2 layers), posterior, prior
    variables = model.trainable_variables
    before = {v.path: v.numpy().copy() for v in variables}
    grads = [tf.ones_like(v) * 0.3 for v in variables]
    opt = ScaledAdam(lr_multipliers={p: 2.0 for p in paths}, learning_rate=1e-2, epsilon=1e-8)
    opt.apply(grads, variables)
    # Adam's first step is lr * g / (|g| + eps'), about lr for every element.
    for v in variables:
        step = before[v.path] - v.numpy()
        expected = 2e-2 if v.path in paths else 1e-2
        np.testing.assert_allclose(step, expected, rtol=1e-5)


def test_build_model_applies_the_switches(tiny_config):
    model = runs.build_model(dataclasses.replace(tiny_config, **REFERENCE).validate())
    assert isinstance(model.optimizer, ScaledAdam)
    assert model.optimizer.epsilon == pytest.approx(1e-8)
    assert len(model.optimizer.lr_multipliers) == 4
    conv = model.encoder.c1.layers[0]
    assert np.std(conv.kernel.numpy()) == pytest.approx(INIT_STD, rel=0.1)
    model = runs.build_model(tiny_config)  # the defaults: Keras's
    assert model.optimizer.lr_multipliers == {}
    assert np.std(model.encoder.c1.layers[0].kernel.numpy()) > 2 * INIT_STD  # Glorot


def test_grouped_batchnorm_equals_batchnorm_per_time_step():
    bn = GroupedBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True)
    x = tf.random.stateless_normal([3 * 4, 5, 5, 6], seed=[1, 2]) * 2 + 0.5  # [b*T, h, w, c]
    bn.build(x.shape)
    bn.gamma.assign(tf.random.stateless_normal([6], [3, 4]) + 1.0)
    bn.beta.assign(tf.random.stateless_normal([6], [5, 6]))
    y = bn(x, training=True, groups=4).numpy().reshape(3, 4, 5, 5, 6)
    frames = x.numpy().reshape(3, 4, 5, 5, 6)
    for t in range(4):
        xt = frames[:, t].astype(np.float64)
        expected = (xt - xt.mean((0, 1, 2))) / np.sqrt(xt.var((0, 1, 2)) + 1e-5)
        expected = expected * bn.gamma.numpy() + bn.beta.numpy()
        np.testing.assert_allclose(y[:, t], expected, atol=2e-5)
    # Moving averages take the mean of the per-step statistics.
    np.testing.assert_allclose(
        bn.moving_mean.numpy(), 0.1 * frames.mean((0, 2, 3)).mean(0), atol=1e-6
    )
    variance = frames.var((0, 2, 3)).mean(0)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * variance, rtol=1e-5)
    # Inference ignores the groups: the moving averages normalise.
    np.testing.assert_allclose(
        bn(x, training=False, groups=4).numpy(), bn(x, training=False).numpy(), atol=1e-6
    )


def test_per_step_statistics_decouple_time_steps():
    """With per-step statistics a frame's prediction does not depend on other time steps'
    frames through BatchNorm; with pooled statistics it does."""
    x = tf.random.stateless_uniform([2, 4, 64, 64, 1], seed=[0, 1])
    changed = tf.concat([x[:, :3], 1.0 - x[:, 3:]], axis=1)  # only the last frame differs
    for stats, coupled in (("per_step", False), ("pooled", True)):
        model = _model(batchnorm_stats=stats)
        h, _ = model.encode_frames(x, training=True)
        h2, _ = model.encode_frames(changed, training=True)
        diff = float(tf.reduce_max(tf.abs(h[:, 0] - h2[:, 0])))
        assert (diff > 1e-4) == coupled, (stats, diff)


def test_saved_configs_without_the_switches_keep_their_behaviour():
    """Runs saved before the switches existed trained with Keras's defaults, the defaults."""
    values = Config().to_dict()
    for name in SWITCHES:
        values.pop(name)
    old = Config.from_dict(values)
    assert (old.init, old.lstm_bias, old.batchnorm_stats) == ("keras", "single", "pooled")
    assert old.adam_epsilon == pytest.approx(1e-7)
    assert SVGModel().batchnorm_stats == "pooled"


@pytest.mark.parametrize(
    "field, value", [("init", "glorot"), ("lstm_bias", "triple"), ("batchnorm_stats", "x")]
)
def test_bad_switch_values_name_the_flag(field, value):
    with pytest.raises(ValueError, match=f"--{field}="):
        Config(**{field: value}).validate()


def test_keras_unit_forget_bias_is_what_keras_init_keeps():
    model = _model()
    bias = model.frame_predictor.lstms[0].cell.bias.numpy()
    np.testing.assert_array_equal(bias[16:32], 1.0)
    assert keras.__version__.startswith("3.")


@pytest.mark.parametrize("by", ["inner", "outer"])
def test_inference_groups_normalise_by_each_groups_statistics(by):
    bn = GroupedBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, fused=True)
    x = tf.random.stateless_normal([3 * 4, 2, 2, 5], seed=[7, 8]) * 3 - 1  # [outer*inner, ...]
    bn.build(x.shape)
    bn.gamma.assign(tf.random.stateless_normal([5], [1, 1]) + 1.0)
    bn.beta.assign(tf.random.stateless_normal([5], [2, 2]))
    before = (bn.moving_mean.numpy().copy(), bn.moving_variance.numpy().copy())
    y = bn(x, training=False, groups=InferenceGroups(4, by)).numpy().reshape(3, 4, 2, 2, 5)
    rows = x.numpy().astype(np.float64).reshape(3, 4, 2, 2, 5)
    for o in range(3):
        for i in range(4):
            group = rows[:, i] if by == "inner" else rows[o]  # the rows sharing statistics
            mean, var = group.mean((0, 1, 2)), group.var((0, 1, 2))
            expected = (rows[o, i] - mean) / np.sqrt(var + 1e-5)
            expected = expected * bn.gamma.numpy() + bn.beta.numpy()
            np.testing.assert_allclose(y[o, i], expected, atol=2e-5)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before[0])
    np.testing.assert_array_equal(bn.moving_variance.numpy(), before[1])


def test_sampling_batchnorm_decides_what_a_sequences_futures_depend_on():
    """With batch statistics a sequence's futures change when another sequence of
    the batch changes; with the moving averages or per-sequence statistics they do
    not. Every mode is deterministic under its seed and leaves the weights alone."""
    model = _model()
    x = tf.random.stateless_uniform([3, 2, 64, 64, 1], seed=[0, 1])
    other = tf.concat([x[:1], 1.0 - x[1:]], axis=0)  # sequences 1 and 2 differ
    weights = [w.numpy().copy() for w in model.weights]
    outputs = {}
    for mode, coupled in (("moving", False), ("batch", True), ("sequence", False)):
        a = model.sample(x, 3, num_samples=4, seed=5, batchnorm=mode)
        again = CompiledSampler(model, batchnorm=mode)(x, 3, 4, 5)
        np.testing.assert_allclose(again.numpy(), a.numpy(), atol=1e-5)
        b = model.sample(other, 3, num_samples=4, seed=5, batchnorm=mode)
        diff = float(tf.reduce_max(tf.abs(a[0] - b[0])))
        assert (diff > 1e-4) == coupled, (mode, diff)
        outputs[mode] = a.numpy()
    assert np.abs(outputs["batch"] - outputs["moving"]).max() > 1e-3
    assert np.abs(outputs["sequence"] - outputs["batch"]).max() > 1e-3
    for w, before in zip(model.weights, weights):
        np.testing.assert_array_equal(w.numpy(), before)
    with pytest.raises(ValueError, match="sampling batchnorm"):
        model.sample(x, 3, batchnorm="train")
