"""Tests of the backbones, the recurrent modules and SVGModel."""

import dataclasses
import inspect
import random

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from helpers import TINY_MODEL

from svgpl_tf.losses import PixelBCE, PixelL1, PixelMSE, kl_divergence
from svgpl_tf.models import backbones, recurrent
from svgpl_tf.models.batchnorm import GroupedBatchNormalization, batchnorm_layers
from svgpl_tf.models.layer_walk import sublayers
from svgpl_tf.models.sampling import sample_keys
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.training.optimizer import ScaledAdam

tfd = tfp.distributions

TINY = TINY_MODEL


def _count(layer):
    return int(sum(np.prod(v.shape) for v in layer.trainable_weights))


def _published_counts(name, g, nc):
    """Trainable parameters of the reference PyTorch modules (edenton/svg).

    Every conv has a bias; every BatchNorm has a weight and a bias per channel.
    Each entry is (in, out, kernel, followed_by_batchnorm).
    """
    if name == "dcgan":
        enc = [(nc, 64, 4, 1), (64, 128, 4, 1), (128, 256, 4, 1), (256, 512, 4, 1), (512, g, 4, 1)]
        dec = [
            (g, 512, 4, 1),
            (1024, 256, 4, 1),
            (512, 128, 4, 1),
            (256, 64, 4, 1),
            (128, nc, 4, 0),
        ]
    else:
        enc = [
            (nc, 64, 3, 1), (64, 64, 3, 1), (64, 128, 3, 1), (128, 128, 3, 1),
            (128, 256, 3, 1), (256, 256, 3, 1), (256, 256, 3, 1),
            (256, 512, 3, 1), (512, 512, 3, 1), (512, 512, 3, 1), (512, g, 4, 1),
        ]  # fmt: skip
        dec = [
            (g, 512, 4, 1), (1024, 512, 3, 1), (512, 512, 3, 1), (512, 256, 3, 1),
            (512, 256, 3, 1), (256, 256, 3, 1), (256, 128, 3, 1),
            (256, 128, 3, 1), (128, 64, 3, 1), (128, 64, 3, 1), (64, nc, 3, 0),
        ]  # fmt: skip

    def total(layers):
        return sum(k * k * i * o + o + 2 * o * bn for i, o, k, bn in layers)

    return total(enc), total(dec)


@pytest.mark.parametrize("name,channels", [("dcgan", 1), ("vgg", 1), ("vgg", 3), ("dcgan", 3)])
def test_backbone_parameter_counts_match_published(name, channels):
    enc, dec = backbones.make_backbone(name, g_dim=128, channels=channels)
    enc.build((None, 64, 64, channels))
    dec.build((None, 128))
    assert (_count(enc), _count(dec)) == _published_counts(name, 128, channels)


def test_backbone_counts_known_values():
    # DCGAN-64 encoder, 1 channel, g_dim 128, counted by hand from the
    # reference's layers: 1216 + 131456 + 525056 + 2098688 + 1048960.
    enc, _ = backbones.make_backbone("dcgan", g_dim=128, channels=1)
    enc.build((None, 64, 64, 1))
    assert _count(enc) == 3_805_376


@pytest.mark.parametrize("name", backbones.BACKBONES)
def test_backbone_shapes_and_range(name):
    enc, dec = backbones.make_backbone(name, g_dim=16, channels=3, nf=8)
    x = tf.random.uniform([3, 64, 64, 3], seed=1)
    h, skips = enc(x, training=False)
    assert h.shape == (3, 16)
    assert np.all(np.abs(h.numpy()) <= 1.0)  # tanh
    sizes = [64, 32, 16, 8] if name == "vgg" else [32, 16, 8, 4]
    assert [tuple(s.shape) for s in skips] == [
        (3, sz, sz, 8 * m) for sz, m in zip(sizes, [1, 2, 4, 8])
    ]
    y = dec(h, skips, training=False).numpy()
    assert y.shape == (3, 64, 64, 3)
    assert y.min() > 0.0 and y.max() < 1.0  # sigmoid


def test_unknown_backbone_error_lists_choices():
    with pytest.raises(ValueError, match="dcgan, vgg"):
        backbones.make_backbone("resnet", 16, 1)


# Each class with constructor arguments that differ from its defaults, and
# the get_config() entries those arguments must give.
_CONFIGURED = [
    (
        backbones.DCGANEncoder,
        {"g_dim": 16, "channels": 3, "nf": 8, "fused_batchnorm": False, "seed": 5},
    ),
    (
        backbones.VGGDecoder,
        {"g_dim": 12, "channels": 3, "nf": 4, "fused_batchnorm": False, "seed": 6},
    ),
    (
        recurrent.FramePredictor,
        {"input_dim": 20, "output_dim": 16, "units": 32, "num_layers": 3, "seed": 7},
    ),
    (
        recurrent.GaussianLSTM,
        {"input_dim": 16, "z_dim": 4, "units": 24, "num_layers": 2, "seed": 8},
    ),
    (GroupedBatchNormalization, {"fused": True, "momentum": 0.9, "epsilon": 1e-5}),
    (
        SVGModel,
        {
            **TINY,
            "backbone": "vgg",
            "channels": 3,
            "z_dim": 3,
            "predictor_rnn_layers": 1,
            "posterior_rnn_layers": 2,
            "prior_rnn_layers": 2,
            "prior_type": "fixed",
            "last_frame_skip": True,
            "n_past": 3,
            "beta": 0.5,
            "seed": 7,
            "precompute_skips": False,
            "fused_batchnorm": False,
            "batchnorm_stats": "per_step",
        },
    ),
    (ScaledAdam, {"lr_multipliers": {"prior/bias": 2.0}, "learning_rate": 3e-4, "epsilon": 1e-3}),
]
# Constructor arguments that are not configuration: SVGModel's loss terms are
# objects, built from the run's Config (`svgpl_tf.runs`), not serialized.
_NOT_CONFIG = {"self", "kwargs", "reconstruction_terms"}


@pytest.mark.parametrize("cls,arguments", _CONFIGURED, ids=[c.__name__ for c, _ in _CONFIGURED])
def test_get_config_round_trip(cls, arguments):
    """Every constructor argument is in get_config() with the value given, and
    from_config() makes an object with that configuration again."""
    layer = cls(**arguments)
    config = layer.get_config()
    own = set(inspect.signature(cls.__init__).parameters) - _NOT_CONFIG
    assert own <= set(config), f"constructor arguments missing from get_config: {own - set(config)}"
    for name, value in arguments.items():
        got = config[name]
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, name
    clone = cls.from_config(config)
    assert clone.get_config() == config
    if isinstance(layer, SVGModel):
        layer.build()
        clone.build()
        assert layer.prior is None and clone.prior_type == "fixed"
        assert [v.shape for v in clone.weights] == [v.shape for v in layer.weights]


def test_initial_weights_are_a_function_of_the_seed_alone():
    """Each module draws from its own seed, so the same seed gives the same
    weights, another seed other kernels, and a module's weights do not depend
    on the others (a fixed prior leaves the rest as a learned one has them)."""

    def kernels(**changes):
        model = SVGModel(**{**TINY, "n_past": 2, **changes})
        model.build()
        return {v.path.split("/", 1)[1]: v.numpy() for v in model.weights}  # without the name

    first, again = kernels(seed=3), kernels(seed=3)
    assert first.keys() == again.keys()
    assert all(np.array_equal(first[k], again[k]) for k in first)
    other = kernels(seed=4)
    drawn = [k for k in first if k.endswith("kernel")]
    assert len(drawn) >= 20
    assert not any(np.array_equal(first[k], other[k]) for k in drawn)
    fixed = kernels(seed=3, prior_type="fixed")
    assert set(fixed) == {k for k in first if not k.startswith("prior/")}
    assert all(np.array_equal(first[k], fixed[k]) for k in fixed)
    # A kernel is Glorot-uniform: inside +-sqrt(6 / (fan_in + fan_out)).
    mu = first["posterior/mu/kernel"]
    assert np.abs(mu).max() <= np.sqrt(6 / sum(mu.shape)) and mu.std() > 0


def test_a_model_takes_its_dtype_policy_and_seeds_from_its_constructor():
    """Every layer that computes gets the model's policy, and building one reads
    and changes no process-wide state: not Keras's policy, not Python's random."""
    state = random.getstate()
    keras.config.set_dtype_policy("float16")  # a global policy the model must ignore
    try:
        model = SVGModel(**TINY, n_past=2, seed=1, dtype="mixed_bfloat16")
        model.build()
        plain = SVGModel(**TINY, n_past=2, seed=1)
    finally:
        keras.config.set_dtype_policy("float32")
    assert random.getstate() == state
    computing = [x for x in sublayers(model) if not isinstance(x, keras.Sequential)]
    assert len(computing) > 30
    assert {x.dtype_policy.name for x in computing} == {"mixed_bfloat16"}
    assert plain.dtype_policy.name == "float16"  # Keras's default for an unset dtype
    assert all(v.dtype == "float32" for v in model.weights)
    random.seed(123)  # the global state does not reach the weights either
    again = SVGModel(**TINY, n_past=2, seed=1, dtype="mixed_bfloat16")
    again.build()
    random.setstate(state)
    for a, b in zip(model.weights, again.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("fused", [False, True])
def test_fused_batchnorm_is_a_constructor_argument(fused):
    enc, dec = backbones.make_backbone("vgg", 16, 3, 8, fused_batchnorm=fused)
    for module in (enc, dec):
        clone = type(module).from_config(module.get_config())
        assert clone.get_config() == module.get_config()
        for layer in (module, clone):
            bns = batchnorm_layers(layer)
            assert bns and all(bn.fused is fused for bn in bns)
            assert all(
                GroupedBatchNormalization.from_config(bn.get_config()).fused is fused for bn in bns
            )
    model = SVGModel(**TINY, n_past=2, fused_batchnorm=fused)
    bns = batchnorm_layers(model)
    assert bns and all(bn.fused is fused for bn in bns)


def test_sublayers_walk_in_keras_order():
    """The order `reference_init` draws in: each layer's children are taken
    last to first below the top level, as Keras's own walk takes them."""
    enc = backbones.DCGANEncoder(16, 1, 8)
    names = [x.name for x in sublayers(enc)]
    assert names[:5] == ["c1", names[1], "bn", "conv", "c2"]
    assert names[1].startswith("leaky_re_lu")
    assert [n for n in names if n.startswith("c") and n != "conv"] == ["c1", "c2", "c3", "c4", "c5"]
    model = SVGModel(**TINY, n_past=2)
    top = [x.name for x in sublayers(model) if x.name in model.modules]
    assert top == ["encoder", "decoder", "frame_predictor", "posterior", "prior"]


def test_lstm_sequence_equals_steps_and_state_is_explicit():
    pred = recurrent.FramePredictor(6, 5, units=8, num_layers=2)
    x = tf.random.normal([3, 4, 6], seed=2)
    seq_out, seq_state = pred(x)
    state = None
    outs = []
    for t in range(4):
        out, state = pred.step(x[:, t], state)
        outs.append(out)
    np.testing.assert_allclose(np.stack(outs, 1), seq_out.numpy(), atol=1e-5)
    for (h1, c1), (h2, c2) in zip(seq_state, state):
        np.testing.assert_allclose(h1, h2, atol=1e-5)
        np.testing.assert_allclose(c1, c2, atol=1e-5)
    # Splitting the sequence and passing the state on gives the same outputs.
    a, s = pred(x[:, :2])
    b, _ = pred(x[:, 2:], s)
    np.testing.assert_allclose(np.concatenate([a, b], 1), seq_out.numpy(), atol=1e-5)
    # Any batch size works with the same weights.
    assert pred(tf.zeros([7, 2, 6]))[0].shape == (7, 2, 5)


def test_gaussian_lstm_distribution():
    post = recurrent.GaussianLSTM(8, 3, units=8)
    mu, logvar, _ = post(tf.random.normal([2, 5, 8], seed=3))
    dist = recurrent.GaussianLSTM.distribution(mu, logvar)
    assert isinstance(dist, tfd.Normal)
    np.testing.assert_allclose(dist.stddev(), np.exp(0.5 * logvar.numpy()), rtol=1e-6)


def test_kl_matches_closed_form():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=(2, 4, 2, 3)).astype(np.float32)
    lv1, lv2 = rng.normal(size=(2, 4, 2, 3)).astype(np.float32)
    q = tfd.Normal(m1, np.exp(0.5 * lv1))
    p = tfd.Normal(m2, np.exp(0.5 * lv2))
    s1, s2 = np.exp(0.5 * lv1), np.exp(0.5 * lv2)
    # kl_criterion of the reference code, summed over z and time, mean over batch.
    kl = np.log(s2 / s1) + (np.exp(lv1) + (m1 - m2) ** 2) / (2 * np.exp(lv2)) - 0.5
    expected = kl.sum() / 4
    np.testing.assert_allclose(float(kl_divergence(q, p)), expected, rtol=1e-5)


def test_pixel_mse_matches_reference_scaling():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(size=(2, 3, 4, 8, 8, 1)).astype(np.float32)
    # nn.MSELoss per frame (mean over batch and pixels), summed over time.
    expected = sum(np.mean((a[:, t] - b[:, t]) ** 2) for t in range(4))
    got = PixelMSE(weight=2.0)(tf.constant(a), tf.constant(b))
    np.testing.assert_allclose(float(got["mse"]), expected, rtol=1e-5)


def test_pixel_bce_matches_an_independent_computation():
    rng = np.random.default_rng(2)
    target = rng.uniform(size=(2, 3, 8, 8, 1)).astype(np.float32)
    pred = rng.uniform(0.01, 0.99, size=(2, 3, 8, 8, 1)).astype(np.float32)
    # scipy's binary entropy terms, per frame (mean over batch and pixels), summed over time.
    from scipy.special import xlogy

    err = -(xlogy(target, pred) + xlogy(1 - target, 1 - pred))
    expected = sum(err[:, t].mean() for t in range(3))
    got = PixelBCE(weight=0.5)(tf.constant(target), tf.constant(pred))
    np.testing.assert_allclose(float(got["bce"]), expected, rtol=1e-5)
    # Saturated predictions stay finite, and the gradient at the logits is pred - target.
    logits = tf.Variable(rng.normal(size=(1, 1, 4, 4, 1)).astype(np.float32) * 30)
    y = tf.constant(rng.uniform(size=(1, 1, 4, 4, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        value = PixelBCE()(y, tf.sigmoid(logits))["bce"]
    grad = tape.gradient(value, logits).numpy() * 16
    assert np.isfinite(float(value))
    unsaturated = np.abs(logits.numpy()) < 10
    np.testing.assert_allclose(
        grad[unsaturated], (tf.sigmoid(logits) - y).numpy()[unsaturated], rtol=1e-3, atol=1e-6
    )


def test_pixel_loss_flag_picks_the_term():
    from svgpl_tf import runs
    from svgpl_tf.choices import PIXEL_LOSSES
    from svgpl_tf.config import Config

    # Every declared choice builds its term (a new choice without one fails here).
    expected = {"mse": PixelMSE, "bce": PixelBCE, "l1": PixelL1}
    assert set(PIXEL_LOSSES) == set(expected)
    for flag in PIXEL_LOSSES:
        terms = runs.make_reconstruction_terms(dataclasses.replace(Config(), pixel_loss=flag))
        assert [type(t) for t in terms] == [expected[flag]]
    with pytest.raises(ValueError, match="--pixel_loss"):
        dataclasses.replace(Config(), pixel_loss="huber").validate()


def test_pixel_l1_matches_an_independent_computation():
    rng = np.random.default_rng(3)
    target = rng.uniform(size=(2, 3, 8, 8, 1)).astype(np.float32)
    pred = rng.uniform(size=(2, 3, 8, 8, 1)).astype(np.float32)
    expected = sum(np.abs(target[:, t] - pred[:, t]).mean() for t in range(3))
    got = PixelL1(weight=0.5)(tf.constant(target), tf.constant(pred))
    np.testing.assert_allclose(float(got["l1"]), expected, rtol=1e-5)
    # Its optimum over a set of futures is their per-pixel median: a pixel lit
    # in 2 of 5 futures is best predicted black, where the MSE predicts 0.4.
    futures = tf.constant([0.0, 0.0, 0.0, 1.0, 1.0], shape=[5, 1, 1, 1, 1])
    for guess in (0.01, 0.99):
        g = tf.Variable(tf.fill([1, 1, 1, 1, 1], guess))
        with tf.GradientTape() as tape:
            value = PixelL1()(futures, tf.broadcast_to(g, futures.shape))["l1"]
        # d/dg mean|f - g| = (#below - #above) / 5 = +1/5 on all of (0, 1): it pushes to 0.
        np.testing.assert_allclose(float(tape.gradient(value, g)[0, 0, 0, 0, 0]), 1 / 5, rtol=1e-6)
    median = PixelL1()(futures, tf.zeros_like(futures))["l1"]
    mean = PixelL1()(futures, tf.fill(futures.shape, 0.4))["l1"]
    assert float(median) < float(mean)


def _model(**kwargs):
    model = SVGModel(**{**TINY, "n_past": 2, **kwargs})
    model.build()
    return model


@pytest.mark.parametrize("term,weight", [(PixelMSE, 3.0), (PixelBCE, 2.0), (PixelL1, 1.5)])
def test_loss_terms_compose(term, weight):
    model = _model(beta=0.5, reconstruction_terms=[term(weight=weight)])
    name = model.reconstruction_terms[0].name
    x = tf.random.uniform([2, 4, 64, 64, 1], seed=4)
    values = model.compute_loss_terms(x, training=False)
    assert set(values) == {"loss", name, "kl"}
    np.testing.assert_allclose(
        float(values["loss"]),
        weight * float(values[name]) + 0.5 * float(values["kl"]),
        rtol=1e-6,
    )
    assert float(values["kl"]) > 0


def test_fixed_prior_kl_is_against_standard_normal():
    model = _model(prior_type="fixed")
    assert model.prior is None and "prior" not in model.modules
    x = tf.random.uniform([2, 3, 64, 64, 1], seed=5)
    _, q, p = model.forward_train(x, training=False)
    np.testing.assert_allclose(p.mean(), 0.0)
    np.testing.assert_allclose(p.stddev(), 1.0)
    mu, sd = q.mean().numpy().astype(np.float64), q.stddev().numpy().astype(np.float64)
    expected = (-np.log(sd) + (sd**2 + mu**2) / 2 - 0.5).sum() / 2
    # At initialisation q is close to N(0, 1): the KL (about 1e-4) is a sum of
    # O(1) terms that cancel, so float32 leaves an absolute error near 1e-7 per
    # term.
    np.testing.assert_allclose(float(kl_divergence(q, p)), expected, rtol=1e-4, atol=2e-6)


def test_gradients_reach_every_module():
    model = _model()
    x = tf.random.uniform([2, 4, 64, 64, 1], seed=6)
    with tf.GradientTape() as tape:
        loss = model.compute_loss_terms(x, training=True)["loss"]
    grads = tape.gradient(loss, model.trainable_variables)
    by_var = {id(v): g for v, g in zip(model.trainable_variables, grads)}
    for name, module in model.modules.items():
        assert module.trainable_variables, name
        for v in module.trainable_variables:
            g = by_var[id(v)]
            assert g is not None, f"no gradient for {name}/{v.path}"
            assert np.any(g.numpy() != 0), f"zero gradient for {name}/{v.path}"


def test_sample_shapes_range_and_seeds():
    model = _model()
    ctx = tf.random.uniform([2, 2, 64, 64, 1], seed=7)
    a = model.sample(ctx, horizon=3, num_samples=4, seed=11).numpy()
    b = model.sample(ctx, horizon=3, num_samples=4, seed=11).numpy()
    c = model.sample(ctx, horizon=3, num_samples=4, seed=12).numpy()
    assert a.shape == (2, 4, 3, 64, 64, 1)
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-6
    # Samples of one sequence differ from each other (stochastic futures).
    assert np.abs(a[0, 0] - a[0, 1]).max() > 1e-6


def test_sample_rows_do_not_depend_on_the_batch():
    model = _model()
    ctx = tf.random.uniform([2, 2, 64, 64, 1], seed=8)
    both = model.sample(ctx, 2, 3, seed=tf.constant([5, 9], tf.int64)).numpy()
    first = model.sample(ctx[:1], 2, 3, seed=tf.constant([5], tf.int64)).numpy()
    second = model.sample(ctx[1:], 2, 3, seed=9).numpy()  # scalar == [9] for batch 1
    np.testing.assert_allclose(both[:1], first, atol=1e-6)
    np.testing.assert_allclose(both[1:], second, atol=1e-6)
    # A longer horizon extends the same futures.
    longer = model.sample(ctx[:1], 3, 3, seed=tf.constant([5], tf.int64)).numpy()
    np.testing.assert_allclose(longer[:, :, :2], first, atol=1e-6)


def test_sample_keys():
    np.testing.assert_array_equal(sample_keys(7, 3), [[7, 0], [7, 1], [7, 2]])
    np.testing.assert_array_equal(sample_keys(tf.constant([4, 5]), 2), [[4, 0], [5, 0]])


def test_sample_validates_arguments():
    model = _model()
    with pytest.raises(ValueError, match="horizon"):
        model.sample(tf.zeros([1, 2, 64, 64, 1]), horizon=0)
    with pytest.raises(ValueError, match=r"\[batch, time"):
        model.sample(tf.zeros([2, 64, 64, 1]), horizon=1)


def test_tiny_model_overfits_a_tiny_batch():
    import keras

    keras.utils.set_random_seed(0)
    model = _model(n_past=2)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    x = np.zeros([2, 4, 64, 64, 1], np.float32)
    for t in range(4):  # a bright square moving right, and one moving down
        x[0, t, 20:36, 8 + 8 * t : 24 + 8 * t] = 1.0
        x[1, t, 4 + 8 * t : 20 + 8 * t, 30:46] = 1.0
    x = tf.constant(x)
    step = tf.function(model.train_step)
    first = float(step(x)["mse"])
    for _ in range(60):
        last = float(step(x)["mse"])
        model.reset_metrics()
    assert last < 0.25 * first, (first, last)
