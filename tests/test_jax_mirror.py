"""The JAX mirror of the training step (experiments/jax_mirror) against svgpl_tf.

Models trained by the mirror ship as svgpl_tf weights, so the mirror must
compute what `SVGModel` computes: on the same weights, data and noise, the
same loss terms, the same gradients and, after one Adam step, the same
weights and BatchNorm moving averages.
"""

import json
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers import REPO, tiny_config

from svgpl_tf import runs
from svgpl_tf.models import sampling

# Tiny programs compiled once: XLA's costly CPU optimisations take longer than
# they save (set before JAX starts; a JAX already started keeps its flags).
os.environ.setdefault(
    "XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
)
jax = pytest.importorskip("jax")
jnp = jax.numpy
sys.path.insert(0, os.path.join(REPO, "experiments", "jax_mirror"))
import svg_jax  # noqa: E402
import train_jax  # noqa: E402
import weights_bridge  # noqa: E402

_path = weights_bridge.mirror_path

# float32 on both sides, different kernels: agreement to rounding.
RTOL = 2e-4


def _model_and_inputs(**changes):
    config = tiny_config(g_dim=16, nf=8, z_dim=3, rnn_size=16, n_past=2, **changes)
    model = runs.build_model(config, with_losses=True)
    rng = np.random.default_rng(0)
    # The run's own batch shape: train_jax.py then reuses the compiled step.
    shape = (config.batch_size, config.seq_len, 64, 64, 1)  # [b, T, h, w, c]
    x = rng.uniform(size=shape).astype(np.float32)
    eps = rng.normal(size=(*shape[:2], 3)).astype(np.float32)[:, 1:]  # [b, T-1, z]
    spec = svg_jax.ModelSpec.from_config(config.to_dict())
    return model, config, spec, x, eps


def _jax_weights(model):
    params = {_path(v): jnp.asarray(v.numpy()) for v in model.trainable_weights}
    stats = {_path(v): jnp.asarray(v.numpy()) for v in model.non_trainable_weights}
    return params, stats


def _fixed_noise(monkeypatch, eps):
    monkeypatch.setattr(
        sampling, "keyed_normal", lambda keys, step, n, z: tf.reshape(tf.constant(eps), [-1, z])
    )


def test_spec_names_every_keras_weight_with_its_shape():
    model, _, spec, _, _ = _model_and_inputs()
    params, stats = svg_jax.init_params(0, spec)
    assert weights_bridge.PREFIX == svg_jax.PREFIX  # the bridge's copy, without JAX
    keras_shapes = {_path(v): tuple(v.shape) for v in model.weights}
    mirror_shapes = {k: tuple(v.shape) for k, v in {**params, **stats}.items()}
    assert mirror_shapes == keras_shapes
    # Keras's initial values: unit forget-gate biases, unit BatchNorm scales.
    bias = np.asarray(params["svg_model/posterior/lstm_0/lstm_cell/bias"])
    np.testing.assert_array_equal(bias, np.repeat([0.0, 1.0, 0.0, 0.0], 16))
    kernel = np.asarray(params["svg_model/encoder/c2/conv/kernel"])  # glorot, fans 128 / 256
    assert np.abs(kernel).max() <= np.sqrt(6 / (128 + 256))
    assert np.abs(kernel).max() > 0.9 * np.sqrt(6 / (128 + 256))


@pytest.mark.parametrize("last_frame_skip,prior", [(False, "learned"), (True, "fixed")])
def test_loss_and_gradients_match(monkeypatch, last_frame_skip, prior):
    model, _, spec, x, eps = _model_and_inputs(last_frame_skip=last_frame_skip, prior=prior)
    _fixed_noise(monkeypatch, eps)
    with tf.GradientTape() as tape:
        terms = model.compute_loss_terms(tf.constant(x), training=True)
    grads = tape.gradient(terms["loss"], model.trainable_weights)

    params, stats = _jax_weights(model)
    # Compiled as one program: run op by op, JAX compiles each of the unrolled
    # step's hundreds of small ops on its first call, which takes longer.
    grad_fn = jax.jit(jax.grad(svg_jax.loss_fn, has_aux=True), static_argnums=4)
    jax_grads, (jax_terms, _) = grad_fn(params, stats, jnp.asarray(x), jnp.asarray(eps), spec)
    for name in ("mse", "kl", "loss"):
        np.testing.assert_allclose(float(jax_terms[name]), float(terms[name]), rtol=RTOL)
    assert float(terms["kl"]) > 0.0
    largest = max(float(np.abs(g.numpy()).max()) for g in grads)
    for var, grad in zip(model.trainable_weights, grads):
        want = grad.numpy()
        got = np.asarray(jax_grads[_path(var)])
        if var.path.endswith(("/conv/bias", "/deconv/bias")):
            # A bias before BatchNorm has no effect: its gradient is rounding.
            assert np.abs(got).max() < 1e-4 * largest and np.abs(want).max() < 1e-4 * largest
            continue
        scale = np.abs(want).max()
        assert scale > 0.0, var.path
        np.testing.assert_allclose(got, want, atol=1e-3 * scale, err_msg=var.path)


def test_adam_step_and_moving_averages_match(monkeypatch):
    model, config, spec, x, eps = _model_and_inputs()
    _fixed_noise(monkeypatch, eps)
    params, stats = _jax_weights(model)
    kernel = "svg_model/encoder/c1/conv/kernel"
    before = np.asarray(params[kernel])
    model.train_step(tf.constant(x))

    # train_jax.py's arguments, positional: the cached compiled step serves both.
    step = svg_jax.make_train_step(spec, config.learning_rate, config.beta_1, config.adam_epsilon)
    opt = svg_jax.adam_init(params)
    params, stats, opt, _ = step(params, stats, opt, jnp.asarray(x), jnp.asarray(eps))
    moved = 0
    for var in model.weights:
        mirror = params if var.trainable else stats
        moved += var.trainable
        if var.path.endswith(("/conv/bias", "/deconv/bias")):
            continue  # Adam's step on rounding noise (see above): any sign
        np.testing.assert_allclose(
            np.asarray(mirror[_path(var)]), var.numpy(), atol=1e-5, rtol=1e-4, err_msg=var.path
        )
    assert moved == len(params)
    # Adam's first step moves each weight by about the learning rate.
    change = np.abs(np.asarray(params[kernel]) - before)
    np.testing.assert_allclose(np.median(change), config.learning_rate, rtol=0.05)


# ------------------------------------------------- files between the two


def test_weight_files_round_trip_with_arrays_split_in_parts(tmp_path, monkeypatch):
    monkeypatch.setattr(train_jax, "CHUNK_BYTES", 1000)  # 250 floats per file
    rng = np.random.default_rng(0)
    params = {"a/kernel": rng.normal(size=(7, 100)).astype(np.float32), "b": np.ones(3)}
    stats = {"a/bn/moving_mean": rng.normal(size=(20,)).astype(np.float32)}
    train_jax.save(str(tmp_path), params, stats, {"steps": 5})
    assert len(list(tmp_path.glob("weights_*.npz"))) >= 3  # the kernel alone needs 3
    back = train_jax.read_weights(str(tmp_path))
    assert sorted(back) == sorted({**params, **stats})
    for key, value in {**params, **stats}.items():
        np.testing.assert_array_equal(back[key], value)


def test_export_train_import_continues_a_shipped_model(tmp_path):
    """svgpl_tf folder -> npz -> two mirror steps -> svgpl_tf folder."""
    model, config, _, x, _ = _model_and_inputs()
    folder, npz, out, back = (str(tmp_path / n) for n in ("model", "npz", "out", "back"))
    runs.save_weights_only(model, config, folder, step=7)
    assert weights_bridge.export_weights(folder, npz) == 7
    exported = train_jax.read_weights(npz)
    for var in model.weights:
        np.testing.assert_array_equal(exported[_path(var)], var.numpy())

    sprites = str(tmp_path / "sprites.npz")
    np.savez(sprites, sprites=np.random.default_rng(0).uniform(size=(5, 32, 32)).astype("f4"))
    config_json = str(tmp_path / "config.json")
    with open(config_json, "w") as f:
        json.dump(config.to_dict(), f)
    train_jax.main(
        [f"--config={config_json}", f"--sprites={sprites}", f"--out={out}", "--budget_s=600",
         f"--init_dir={npz}", "--max_steps=2", "--workers=0", "--log_every=1"]
    )  # fmt: skip
    with open(os.path.join(out, "progress.json")) as f:
        progress = json.load(f)
    assert (progress["first_step"], progress["steps"]) == (7, 9)
    assert progress["sequences"] == 2 * config.batch_size
    assert [row["step"] for row in progress["log"]] == [8, 9]

    weights_bridge.import_weights(config_json, out, back)
    restored, _, step = runs.restore_model(back)
    assert step == 9
    trained = train_jax.read_weights(out)
    kernel = "svg_model/encoder/c1/conv/kernel"
    for var in restored.weights:
        np.testing.assert_array_equal(var.numpy(), trained[_path(var)])
    # Two Adam steps from the exported weights: each kernel weight moved by
    # up to twice the learning rate.
    change = np.abs(trained[kernel] - exported[kernel])
    assert 0.5 * config.learning_rate < np.median(change) <= 2.0001 * config.learning_rate


def test_import_refuses_weights_of_another_model(tmp_path):
    model, _, _, _, _ = _model_and_inputs()
    arrays = {_path(v): v.numpy() for v in model.weights}
    arrays.pop("svg_model/prior/mu/bias")
    with pytest.raises(ValueError, match="missing"):
        weights_bridge.assign(model, arrays)


@pytest.mark.parametrize(
    "change", [dict(perceptual_weight=1.0), dict(backbone="vgg"), dict(lstm_bias="double")]
)
def test_spec_refuses_what_the_mirror_does_not_compute(change):
    config = {**tiny_config().to_dict(), **change}
    with pytest.raises(ValueError, match="JAX mirror"):
        svg_jax.ModelSpec.from_config(config)
