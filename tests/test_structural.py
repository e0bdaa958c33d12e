"""The optional SSIM reconstruction term: its value, its gradient and its place in the loss."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from scipy import signal

from svgpl_tf import runs
from svgpl_tf.losses.structural import SSIMTerm


def _gaussian_ssim(x, y, size=11, sigma=1.5):
    """Wang et al.'s SSIM of two grey frames with numpy/scipy: 2D Gaussian window, valid region."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    yy, xx = np.mgrid[-(size // 2) : size // 2 + 1, -(size // 2) : size // 2 + 1]
    window = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    window /= window.sum()
    mean = lambda im: signal.convolve2d(im, window, mode="valid")  # noqa: E731
    ux, uy = mean(x), mean(y)
    vx, vy, vxy = mean(x * x) - ux**2, mean(y * y) - uy**2, mean(x * y) - ux * uy
    c1, c2 = 0.01**2, 0.03**2
    return (((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))).mean()


def _frames(seed):
    rng = np.random.default_rng(seed)
    target = (rng.random((2, 3, 32, 32, 1)) > 0.8).astype(np.float32)  # [b, t, h, w, c]
    pred = np.clip(target + 0.2 * rng.standard_normal(target.shape), 0, 1).astype(np.float32)
    return target, pred


def test_value_is_one_minus_ssim_per_frame_summed_over_time():
    target, pred = _frames(0)
    expected = sum(
        np.mean([1.0 - _gaussian_ssim(target[b, t, ..., 0], pred[b, t, ..., 0]) for b in range(2)])
        for t in range(3)
    )
    got = SSIMTerm(weight=0.5)(tf.constant(target), tf.constant(pred))
    assert set(got) == {"ssim"}
    np.testing.assert_allclose(float(got["ssim"]), expected, rtol=1e-4)
    assert float(SSIMTerm()(tf.constant(target), tf.constant(target))["ssim"]) == pytest.approx(
        0.0, abs=1e-6
    )


def test_gradient_clears_faint_grey_on_black():
    # A black target and a prediction with a faint haze: the MSE's gradient is
    # tiny (2 * 0.01 per pixel), SSIM's pushes every hazy pixel down hard.
    target = tf.zeros([1, 1, 32, 32, 1])
    pred = tf.Variable(tf.fill([1, 1, 32, 32, 1], 0.01))
    with tf.GradientTape() as tape:
        value = SSIMTerm()(target, pred)["ssim"]
    grad = tape.gradient(value, pred).numpy()
    # Luminance (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1) at mu 0.01, C1 1e-4: 0.5.
    assert float(value) == pytest.approx(0.5, abs=1e-3)
    assert (grad > 0).all()
    mse_grad = 2 * 0.01 / grad.size
    assert grad.mean() > 100 * mse_grad


def test_ssim_weight_adds_the_term_to_the_loss(tiny_config):
    assert [t.name for t in runs.make_reconstruction_terms(tiny_config)] == ["mse"]
    config = dataclasses.replace(tiny_config, ssim_weight=0.25).validate()
    terms = runs.make_reconstruction_terms(config)
    assert [(type(t), t.weight) for t in terms][1] == (SSIMTerm, 0.25)
    model = runs.build_model(config)
    x = tf.random.uniform([2, 4, 64, 64, 1], seed=3)
    values = {k: float(v) for k, v in model.compute_loss_terms(x, training=False).items()}
    assert set(values) == {"loss", "mse", "ssim", "kl"}
    assert 0 < values["ssim"] < 2 * (config.n_past + config.n_future - 1)
    np.testing.assert_allclose(
        values["loss"],
        values["mse"] + 0.25 * values["ssim"] + config.beta * values["kl"],
        rtol=1e-5,
    )
    logged = model.train_step(x)
    assert set(logged) == set(values)
    assert np.isfinite(float(logged["loss"]))


def test_negative_ssim_weight_is_one_clear_error(tiny_config):
    with pytest.raises(ValueError, match="--ssim_weight"):
        dataclasses.replace(tiny_config, ssim_weight=-1.0).validate()
