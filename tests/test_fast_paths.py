"""The fast paths compute the same function as the plain ones, and never retrace.

Fast paths: XLA compilation (`jit_compile`), mixed bfloat16, the decoder's
shared skip terms (`precompute_skips`), the BatchNorm statistics without the
count tensor, the fused BatchNorm kernel and the compiled sampler.
"""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY_MODEL, portable_noise

from svgpl_tf import runs
from svgpl_tf.models import backbones
from svgpl_tf.models import sampling as svg_sampling
from svgpl_tf.models.batchnorm import GroupedBatchNormalization, batchnorm_layers
from svgpl_tf.models.sampling import CompiledSampler
from svgpl_tf.models.svg import SVGModel

TINY = TINY_MODEL
# float32 tolerance between two graphs of the same maths (XLA fuses and
# reorders sums, the skip terms split a convolution in two).
F32_RTOL, F32_ATOL = 1e-4, 1e-5
# Mixed bfloat16 against float32: bfloat16 keeps 8 significant bits (relative
# rounding 2^-9 = 0.2% per value); through a dozen conv layers and the
# losses the loss of a tiny model moves by about 1%. 5% leaves room for the
# error to grow, and still catches a wrong dtype or a missing loss term.
BF16_LOSS_RTOL = 5e-2
# Two graphs' gradients, relative in norm (see test_precompute_skips_is_the_same_model).
GRAD_RTOL = 2e-2


def _clip(seed=0, batch=2, time=4, channels=1):
    return tf.random.uniform([batch, time, 64, 64, channels], seed=seed)


def _losses(model, batches):
    """Losses of consecutive training steps, one batch each."""
    model.make_train_function()
    return [float(model.train_function([x])["loss"]) for x in batches]


def test_xla_gives_the_same_losses(tiny_config, monkeypatch):
    monkeypatch.setattr(svg_sampling, "keyed_normal", portable_noise)
    batches = [_clip(seed=s) for s in range(3)]
    plain = _losses(runs.build_model(tiny_config), batches)
    xla_config = dataclasses.replace(tiny_config, jit_compile=True)
    xla = _losses(runs.build_model(xla_config), batches)
    # The same initial weights, noise and batches: the same loss at every step.
    np.testing.assert_allclose(xla, plain, rtol=F32_RTOL, atol=F32_ATOL)


def test_xla_training_noise_is_reproducible(tiny_config):
    """Under XLA the noise is another stream (see `portable_noise`), but it is
    still a function of the seed, the step and the example only: run again
    from the same weights, optimizer state and step, the compiled step draws
    the same noise and gives the same losses. (That the keys themselves are
    no trace-time draw, test_xla_gives_the_same_losses checks: its two builds
    share them.)"""
    config = dataclasses.replace(tiny_config, jit_compile=True)
    batches = [_clip(seed=s) for s in range(2)]
    model = runs.build_model(config)
    model.optimizer.build(model.trainable_variables)
    state = model.weights + model.optimizer.variables  # the step counter included
    start = [v.numpy() for v in state]
    first = _losses(model, batches)
    for variable, value in zip(state, start):
        variable.assign(value)
    model.reset_metrics()
    again = _losses(model, batches)
    np.testing.assert_allclose(first, again, rtol=1e-6)
    assert first[0] != first[1]


@pytest.mark.parametrize("backbone,channels", [("dcgan", 1), ("vgg", 3)])
def test_skip_terms_equal_the_concatenation(backbone, channels):
    enc, dec = backbones.make_backbone(backbone, 16, channels, 8)
    x = tf.random.uniform([3, 64, 64, channels], seed=1)
    h, skips = enc(x, training=True)
    for training in (False, True):
        plain = dec(h, skips, training=training)
        fast = dec.decode(h, dec.skip_terms(skips), training=training)
        np.testing.assert_allclose(fast, plain, rtol=F32_RTOL, atol=F32_ATOL)
    # One term row shared by two consecutive frames, as samples share a sequence's.
    g = tf.random.normal([6, 16], seed=2)
    plain = dec(g, [tf.repeat(s, 2, axis=0) for s in skips], training=False)
    fast = dec.decode(g, dec.skip_terms(skips), training=False)
    np.testing.assert_allclose(fast, plain, rtol=F32_RTOL, atol=F32_ATOL)


def _assert_close_gradients(variables, got, want):
    """Each variable's gradient as a whole, relative to its norm.

    Through training-mode BatchNorm on a batch of 2, float32 rounding (which
    differs between CPUs' kernels) can move single small entries of the first
    layers' gradients by a few percent, while a wrong skip term or frame moves
    the whole gradient. A bias just before a BatchNorm has a gradient of
    rounding noise only, so each norm is floored at 1e-3 of the largest.
    """
    norms = [np.linalg.norm(b) for b in want]
    floor = 1e-3 * max(norms)
    for v, a, b, n in zip(variables, got, want, norms):
        diff = np.linalg.norm(np.asarray(a) - np.asarray(b))
        assert diff <= GRAD_RTOL * max(n, floor), (v.path, diff, n)


@pytest.mark.parametrize("last_frame_skip", [False, True])
def test_precompute_skips_is_the_same_model(last_frame_skip):
    kw = dict(TINY, n_past=2, last_frame_skip=last_frame_skip)
    fast = SVGModel(precompute_skips=True, **kw)
    fast.build()
    plain = SVGModel(precompute_skips=False, **kw)
    plain.build()
    plain.set_weights(fast.get_weights())
    x = _clip(seed=3, time=5)
    grads = []
    for model in (fast, plain):
        with tf.GradientTape() as tape:
            loss = model.compute_loss_terms(x, training=True)["loss"]
        grads.append((loss, tape.gradient(loss, model.trainable_variables)))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=F32_RTOL)
    _assert_close_gradients(fast.trainable_variables, grads[0][1], grads[1][1])
    a = fast.sample(x[:, :2], horizon=3, num_samples=4, seed=1)
    b = plain.sample(x[:, :2], horizon=3, num_samples=4, seed=1)
    np.testing.assert_allclose(a, b, atol=F32_ATOL)
    assert fast.get_config()["precompute_skips"] and not plain.get_config()["precompute_skips"]


def _bn_outputs(layers, x):
    """Outputs, input/gamma/beta gradients and moving statistics of each layer."""
    for layer in layers:
        layer.build(x.shape)
    layers[0].gamma.assign(tf.random.normal([x.shape[-1]], seed=2))
    layers[0].beta.assign(tf.random.normal([x.shape[-1]], seed=3))
    for layer in layers[1:]:
        layer.set_weights(layers[0].get_weights())
    out = []
    for layer in layers:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.cast(layer(x, training=True), tf.float32)
            loss = tf.reduce_sum(tf.square(y))
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        moving = [layer.moving_mean.numpy(), layer.moving_variance.numpy()]
        inference = tf.cast(layer(x, training=False), tf.float32)
        out.append((y, grads, moving, inference))
    return out


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_batchnorm_statistics_are_keras_numbers(precision):
    x = tf.random.normal([8, 6, 5, 7], seed=1) * 3.0 + 1.0
    kw = dict(momentum=0.9, epsilon=1e-5, synchronized=True, dtype=precision)
    ours, theirs = _bn_outputs(
        [GroupedBatchNormalization(**kw), keras.layers.BatchNormalization(**kw)], x
    )
    # The same ops on the same values: the same numbers, not just close ones.
    np.testing.assert_array_equal(ours[0], theirs[0])
    for a, b in zip(ours[1], theirs[1]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ours[3], theirs[3])


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16"])
def test_fused_batchnorm_matches_keras(precision):
    x = tf.random.normal([8, 6, 5, 7], seed=1) * 3.0 + 1.0
    kw = dict(momentum=0.9, epsilon=1e-5, synchronized=True, dtype=precision)
    fused, plain = _bn_outputs(
        [GroupedBatchNormalization(fused=True, **kw), keras.layers.BatchNormalization(**kw)], x
    )
    tol = 1e-5 if precision == "float32" else 2e-2
    np.testing.assert_allclose(fused[0], plain[0], atol=tol * 10)
    for a, b in zip(fused[1], plain[1]):
        np.testing.assert_allclose(a, b, rtol=tol * 10, atol=tol * 100)
    for a, b in zip(fused[2], plain[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused[3], plain[3], atol=tol * 10)


def test_mixed_bfloat16_keeps_float32_variables_and_loss(tiny_config):
    x = _clip(seed=4)
    f32 = runs.build_model(tiny_config)
    bf16 = runs.build_model(dataclasses.replace(tiny_config, precision="mixed_bfloat16"))
    assert bf16.encoder.c1.layers[0].compute_dtype == "bfloat16"
    assert {v.dtype for v in bf16.weights} == {"float32"}
    # The same seed gives the same initial weights under both policies.
    for a, b in zip(f32.weights, bf16.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    loss_f32, loss_bf16 = (
        float(m.compute_loss_terms(x, training=True)["loss"]) for m in (f32, bf16)
    )
    assert loss_bf16 == pytest.approx(loss_f32, rel=BF16_LOSS_RTOL)
    frames = bf16.sample(x[:, :2], horizon=2, num_samples=2, seed=0)
    assert frames.dtype == tf.float32


def test_svgpl_trains_in_mixed_bfloat16(tiny_config):
    config = dataclasses.replace(
        tiny_config,
        perceptual_weight=0.01,
        perceptual_layers="block1_conv2,block2_conv2",
        vgg_weights="random",
    )
    x = _clip(seed=5)
    f32 = runs.build_model(config)
    bf16 = runs.build_model(dataclasses.replace(config, precision="mixed_bfloat16"))
    values = [m.compute_loss_terms(x, training=True) for m in (f32, bf16)]
    for name in ("loss", "perceptual"):
        assert values[1][name].dtype == tf.float32
        assert float(values[1][name]) == pytest.approx(float(values[0][name]), rel=BF16_LOSS_RTOL)
    assert np.isfinite(_losses(bf16, [x, x])).all()


def test_training_step_is_traced_once(tiny_config):
    model = runs.build_model(tiny_config)
    traces = []
    step = model.train_step

    def counted(data):
        traces.append(1)  # runs only while tracing
        return step(data)

    model.train_step = counted
    losses = _losses(model, [_clip(seed=s) for s in range(5)])
    assert all(np.isfinite(losses))
    assert len(traces) == 1


def test_compiled_sampler_is_traced_once_and_matches_sample():
    model = SVGModel(**TINY, n_past=2)
    model.build()
    sampler = CompiledSampler(model)
    ctx = _clip(seed=5, batch=3, time=2)
    first = sampler(ctx, horizon=3, num_samples=2, seed=7)
    np.testing.assert_allclose(first, model.sample(ctx, 3, 2, seed=7), atol=F32_ATOL)
    # Other batch sizes, horizons, sample counts and seeds reuse the trace.
    sampler(ctx[:1], horizon=2, num_samples=5, seed=8)
    sampler(ctx, horizon=4, num_samples=1, seed=9)
    assert sampler.tracing_count() == 1
    # One seed per sequence is another input signature: one more trace.
    sampler(ctx, horizon=2, num_samples=2, seed=tf.constant([1, 2, 3], tf.int64))
    sampler(ctx[:2], horizon=3, num_samples=1, seed=tf.constant([4, 5], tf.int64))
    assert sampler.tracing_count() == 2


def test_xla_sampler_matches(monkeypatch):
    model = SVGModel(**TINY, n_past=2)
    model.build()
    ctx = _clip(seed=6, batch=2, time=2)
    xla = CompiledSampler(model, jit_compile=True)
    first = xla(ctx, horizon=2, num_samples=2, seed=3)
    np.testing.assert_array_equal(first, xla(ctx, horizon=2, num_samples=2, seed=3))
    monkeypatch.setattr(svg_sampling, "keyed_normal", portable_noise)
    xla = CompiledSampler(model, jit_compile=True)(ctx, horizon=2, num_samples=2, seed=3)
    plain = CompiledSampler(model)(ctx, horizon=2, num_samples=2, seed=3)
    np.testing.assert_allclose(xla, plain, atol=F32_ATOL)


def test_fused_batchnorm_is_the_default_and_can_be_turned_off(tiny_config):
    model = runs.build_model(dataclasses.replace(tiny_config, fused_batchnorm=False))
    bns = batchnorm_layers(model)
    assert bns and not any(bn.fused for bn in bns)
    fused = runs.build_model(tiny_config)
    fused_bns = batchnorm_layers(fused)
    assert all(bn.fused for bn in fused_bns)
    assert all(bn.uses_fused_kernel(tf.zeros([1, 4, 4, bn.gamma.shape[0]])) for bn in fused_bns)
    x = _clip(seed=7)
    a, b = (float(m.compute_loss_terms(x, training=True)["loss"]) for m in (model, fused))
    assert a == pytest.approx(b, rel=F32_RTOL)
