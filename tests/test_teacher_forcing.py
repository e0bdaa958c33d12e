"""The teacher-forced pass's batched pieces (`svgpl_tf.models.teacher_forcing`)."""

import numpy as np
import pytest
import tensorflow as tf

from svgpl_tf.config import Config
from svgpl_tf.models import backbones, sampling
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.models.teacher_forcing import (
    decode_shared,
    fed_back_inputs,
    feedback_mask,
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


def test_feedback_mask_draws_its_rate_from_a_stream_of_its_own():
    class Optimizer:
        iterations = tf.Variable(5, dtype=tf.int64)

    assert not feedback_mask(0, Optimizer(), 4, 6, 0.0).numpy().any()
    assert feedback_mask(0, Optimizer(), 4, 6, 1.0).numpy().all()
    half = feedback_mask(0, Optimizer(), 400, 50, 0.5).numpy()  # [batch, steps]
    assert abs(half.mean() - 0.5) < 0.01  # 20,000 draws: 7 standard deviations
    assert abs(feedback_mask(0, Optimizer(), 400, 50, 0.2).numpy().mean() - 0.2) < 0.01
    np.testing.assert_array_equal(feedback_mask(0, Optimizer(), 400, 50, 0.5), half)
    # Not the reparameterisation noise's stream: its signs would agree with the mask.
    noise = training_noise(0, Optimizer(), 400, 50, 1).numpy()[..., 0] < 0
    assert abs((noise == half).mean() - 0.5) < 0.02


def test_fed_back_inputs_replaces_the_masked_frames_after_the_context():
    h = tf.reshape(tf.range(2 * 6, dtype=tf.float32), [2, 6, 1])  # [b, T=6, g=1]
    h_fed = -1.0 - tf.reshape(tf.range(2 * 3, dtype=tf.float32), [2, 3, 1])  # frames 2..4
    skip = tf.tile(h[..., None, None], [1, 1, 2, 2, 3])  # [b, T, 2, 2, 1 * 3]
    skip_fed = tf.tile(h_fed[..., None, None], [1, 1, 2, 2, 3])
    mask = tf.constant([[True, False, True], [False, False, True]])  # [b, F=3]
    h_in, (skip_in,) = fed_back_inputs(h, [skip], h_fed, [skip_fed], mask, 2)
    assert h_in[..., 0].numpy().tolist() == [
        [0.0, 1.0, -1.0, 3.0, -3.0, 5.0],
        [6.0, 7.0, 8.0, 9.0, -6.0, 11.0],
    ]
    np.testing.assert_array_equal(skip_in, tf.tile(h_in[..., None, None], [1, 1, 2, 2, 3]))


def _tiny_model(feedback_rate, feedback_z="posterior"):
    return SVGModel(
        g_dim=16, nf=8, z_dim=2, rnn_size=16, n_past=2, last_frame_skip=True, seed=3,
        feedback_rate=feedback_rate, feedback_z=feedback_z,
    )  # fmt: skip


def test_feedback_rate_one_feeds_every_step_the_first_pass_prediction():
    x = tf.random.uniform([2, 5, 64, 64, 1], seed=6)  # [b, T=5, h, w, c]: frames 2, 3 fed back
    model = _tiny_model(1.0)
    model.build()
    start = model.get_weights()  # training-mode BatchNorm moves its statistics
    got = model.forward_train(x, training=True)[0]

    model.set_weights(start)
    eps = training_noise(3, None, 2, 4, 2)  # [b, T-1, z]
    h, skips = model.encode_frames(x, training=False)
    first = model.predict_encoded(h, h, skips, eps, False)[0]  # frames 1..4 (0-based)
    clip = tf.concat([x, first[:, 1:2], first[:, 2:3]], 1)  # the predictions of frames 2, 3
    h_all, skips_all = model.encode_frames(clip, training=True)
    order = [0, 1, 5, 6, 4]  # inputs of frames 0..4: the context, then the fed frames
    h_in = tf.gather(h_all, order, axis=1)
    skips_in = [tf.gather(s, order, axis=1) for s in skips_all]
    want = model.predict_encoded(h_in, h_all[:, :5], skips_in, eps, True)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    model.set_weights(start)
    h_true, skips_true = model.encode_frames(x, training=True)
    forced = model.predict_encoded(h_true, h_true, skips_true, eps, True)[0]  # teacher-forced
    assert np.abs(got[:, 2:].numpy() - forced[:, 2:].numpy()).max() > 1e-3


def test_feedback_changes_training_only():
    x = tf.random.uniform([2, 5, 64, 64, 1], seed=6)
    plain, fed = _tiny_model(0.0), _tiny_model(0.5)
    plain.build()
    fed.build()
    for training in (False, True):
        fed.set_weights(plain.get_weights())
        a = plain.compute_loss_terms(x, training=training)["loss"]
        b = fed.compute_loss_terms(x, training=training)["loss"]
        assert (abs(float(a) - float(b)) > 1e-4) == training
    # A clip with no predicted frame before its last has nothing to feed back.
    short = x[:, :3]
    fed.set_weights(plain.get_weights())
    np.testing.assert_allclose(
        fed.compute_loss_terms(short, training=True)["loss"],
        plain.compute_loss_terms(short, training=True)["loss"],
        rtol=1e-6,
    )
    assert SVGModel.from_config(fed.get_config()).feedback_rate == 0.5


def test_feedback_rate_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="feedback_rate=1.5: it is a probability"):
        Config(feedback_rate=1.5).validate()
    with pytest.raises(ValueError, match="feedback_rate must be in"):
        _tiny_model(-0.1)


def test_feedback_from_the_prior_feeds_what_the_prior_z_predicts():
    x = tf.random.uniform([2, 5, 64, 64, 1], seed=7)  # [b, T=5, h, w, c]: frames 2, 3 fed back
    model = _tiny_model(1.0, "prior")
    model.build()
    model.prior.mu_net.bias.assign(tf.fill([2], 3.0))  # a prior unlike the posterior
    start = model.get_weights()
    got = model.forward_train(x, training=True)[0]

    # The first pass by hand: the learned prior's z_t from the true frame t-1.
    model.set_weights(start)
    eps = training_noise(3, None, 2, 4, 2)  # [b, T-1, z]
    h, skips = model.encode_frames(x, training=False)
    mu_p, logvar_p, _ = model.prior(h[:, :-1])  # [b, T-1, z]
    z = mu_p + tf.exp(0.5 * logvar_p) * eps
    g_pred, _ = model.frame_predictor(tf.concat([h[:, :-1], z], -1))
    first = model.decode_frames(g_pred, [s[:, :-1] for s in skips], training=False)  # lfs
    clip = tf.concat([x, first[:, 1:3]], 1)  # the predictions of frames 2, 3
    h_all, skips_all = model.encode_frames(clip, training=True)
    order = [0, 1, 5, 6, 4]
    h_in = tf.gather(h_all, order, axis=1)
    skips_in = [tf.gather(s, order, axis=1) for s in skips_all]
    want = model.predict_encoded(h_in, h_all[:, :5], skips_in, eps, True)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    # The posterior's first pass feeds other frames.
    from_q = model.predict_encoded(h, h, skips, eps, False)[0]  # [b, T-1, h, w, c]
    assert np.abs(first[:, 1:3].numpy() - from_q[:, 1:3].numpy()).max() > 1e-3  # rounding: 1e-6
    assert SVGModel.from_config(model.get_config()).feedback_z == "prior"


def test_feedback_z_is_checked():
    with pytest.raises(ValueError, match="feedback_z=prior does nothing without"):
        Config(feedback_z="prior").validate()
    Config(feedback_z="prior", feedback_rate=0.5).validate()
    with pytest.raises(ValueError, match="Unknown feedback_z 'truth'"):
        _tiny_model(0.5, "truth")
