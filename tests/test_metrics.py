"""Tests of the frame metrics against independent numpy / scipy implementations."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw
from scipy import ndimage, signal

from svgpl_tf.evaluation import metrics

SIZE = 64


# ----------------------------------------------------- reference SSIMs


def _ssim_uniform_reference(x, y, win=7, data_range=1.0):
    """skimage's SSIM defaults written out: uniform window, sample covariance, cropped mean."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    values = []
    for c in range(x.shape[-1]):
        a, b = x[..., c], y[..., c]
        mean = lambda im: ndimage.uniform_filter(im, size=win)  # noqa: E731
        ux, uy = mean(a), mean(b)
        norm = win * win / (win * win - 1.0)
        vx = norm * (mean(a * a) - ux * ux)
        vy = norm * (mean(b * b) - uy * uy)
        vxy = norm * (mean(a * b) - ux * uy)
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        pad = (win - 1) // 2
        values.append(s[pad:-pad, pad:-pad].mean())
    return float(np.mean(values))


def _ssim_gaussian_reference(x, y, size=11, sigma=1.5, data_range=1.0):
    """Wang et al.'s SSIM: 2D Gaussian window, biased covariance, valid region only."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    yy, xx = np.mgrid[-(size // 2) : size // 2 + 1, -(size // 2) : size // 2 + 1]
    window = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    window /= window.sum()
    values = []
    for c in range(x.shape[-1]):
        a, b = x[..., c], y[..., c]
        mean = lambda im: signal.convolve2d(im, window, mode="valid")  # noqa: E731
        ux, uy = mean(a), mean(b)
        vx, vy, vxy = mean(a * a) - ux**2, mean(b * b) - uy**2, mean(a * b) - ux * uy
        c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
        values.append(s.mean())
    return float(np.mean(values))


REFERENCES = {"uniform": _ssim_uniform_reference, "gaussian": _ssim_gaussian_reference}


# ------------------------------------------------------------- images


def _digit(shift=(0, 0)):
    """A drawn "8" with a tail, like an SM-MNIST frame: [64, 64, 1] in [0, 1]."""
    image = Image.new("L", (SIZE, SIZE), 0)
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 10, 40, 30), outline=255, width=3)
    draw.ellipse((18, 28, 42, 52), outline=255, width=3)
    draw.line((40, 20, 50, 58), fill=200, width=2)
    frame = np.asarray(image, np.float32)[..., None] / 255.0
    return np.roll(frame, shift, axis=(0, 1))


def _pairs():
    rng = np.random.default_rng(0)
    ramp = np.linspace(0.0, 1.0, SIZE, dtype=np.float32)
    gradient = np.broadcast_to(ramp[None, :, None], (SIZE, SIZE, 1)).copy()
    checker = (np.indices((SIZE, SIZE)).sum(0) % 2).astype(np.float32)[..., None]
    noisy = rng.random((SIZE, SIZE, 3), np.float32)
    grey = rng.random((2, SIZE, SIZE, 1), np.float32)
    flat = np.ones((SIZE, SIZE, 1), np.float32)
    return {
        "random_grey": (grey[0], grey[1]),
        "random_rgb_noisy_copy": (
            noisy,
            np.clip(noisy + 0.1 * rng.standard_normal(noisy.shape), 0, 1).astype(np.float32),
        ),
        "gradient_vs_reversed": (gradient, gradient[:, ::-1].copy()),
        "gradient_vs_dimmed": (gradient, 0.5 * gradient),
        "digit_vs_shifted": (_digit(), _digit((2, 3))),
        "digit_vs_blurred": (_digit(), ndimage.gaussian_filter(_digit(), (1, 1, 0))),
        "digit_vs_black": (_digit(), np.zeros((SIZE, SIZE, 1), np.float32)),
        "checker_vs_inverse": (checker, 1.0 - checker),
        "constant_pair": (0.2 * flat, 0.7 * flat),
    }


PAIRS = _pairs()


# -------------------------------------------------------------- tests


@pytest.mark.parametrize("mode", metrics.SSIM_MODES)
@pytest.mark.parametrize("case", sorted(PAIRS))
def test_ssim_matches_independent_reference(mode, case):
    x, y = PAIRS[case]
    got = float(metrics.ssim(x, y, mode=mode))
    assert got == pytest.approx(REFERENCES[mode](x, y), abs=1e-4)


def test_ssim_modes_differ_on_structured_images():
    x, y = PAIRS["digit_vs_shifted"]
    uniform = float(metrics.ssim(x, y, mode="uniform"))
    gaussian = float(metrics.ssim(x, y, mode="gaussian"))
    assert abs(uniform - gaussian) > 1e-3


@pytest.mark.parametrize("channels", [1, 3])
def test_gaussian_ssim_equals_tf_image_ssim(channels):
    rng = np.random.default_rng(1)
    x = rng.random((5, SIZE, SIZE, channels), np.float32)
    y = np.clip(x + 0.3 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    expected = tf.image.ssim(x, y, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03)
    np.testing.assert_allclose(metrics.ssim(x, y, mode="gaussian"), expected, atol=1e-5)


def test_uniform_ssim_equals_skimage():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    for case in ("random_rgb_noisy_copy", "digit_vs_shifted", "gradient_vs_dimmed"):
        x, y = PAIRS[case]
        expected = skimage_metrics.structural_similarity(x, y, data_range=1.0, channel_axis=-1)
        assert float(metrics.ssim(x, y, mode="uniform")) == pytest.approx(expected, abs=1e-4)


def test_uniform_ssim_at_the_svg_codes_float_range_equals_skimage():
    # The SVG code called skimage's SSIM on float32 frames without a data range,
    # and skimage took the width of its float range, [-1, 1], as the data range.
    skimage_metrics = pytest.importorskip("skimage.metrics")
    from skimage.util.dtype import dtype_range

    low, high = dtype_range[np.float32]
    assert high - low == 2
    for case in ("digit_vs_shifted", "gradient_vs_dimmed"):
        x, y = PAIRS[case]
        expected = skimage_metrics.structural_similarity(
            x, y, data_range=high - low, channel_axis=-1
        )
        got = float(metrics.ssim(x, y, mode="uniform", max_val=2.0))
        assert got == pytest.approx(expected, abs=1e-4)
        # Constants four times larger: higher SSIM than at the frames' true range.
        assert got > float(metrics.ssim(x, y, mode="uniform")) + 1e-3


def test_ssim_is_vectorised_and_broadcasts():
    rng = np.random.default_rng(2)
    pred = rng.random((2, 3, 4, SIZE, SIZE, 1), np.float32)  # [batch, samples, time, h, w, c]
    truth = rng.random((2, 1, 4, SIZE, SIZE, 1), np.float32)
    got = metrics.ssim(pred, truth, mode="uniform").numpy()
    assert got.shape == (2, 3, 4)
    for b, s, t in np.ndindex(2, 3, 4):
        assert got[b, s, t] == pytest.approx(
            _ssim_uniform_reference(pred[b, s, t], truth[b, 0, t]), abs=1e-4
        )


@pytest.mark.parametrize("mode", metrics.SSIM_MODES)
def test_identical_frames_give_ssim_one_and_capped_psnr(mode):
    frames = np.stack([PAIRS["digit_vs_shifted"][0], PAIRS["gradient_vs_dimmed"][0]])
    np.testing.assert_allclose(metrics.ssim(frames, frames, mode=mode), 1.0, atol=1e-6)
    psnr = metrics.psnr(frames, frames).numpy()
    np.testing.assert_array_equal(psnr, metrics.PSNR_MAX_DB)
    json.dumps(psnr.tolist(), allow_nan=False)  # finite: valid strict JSON


def test_psnr_and_mse_match_numpy():
    rng = np.random.default_rng(3)
    x = rng.random((4, SIZE, SIZE, 3), np.float32)
    y = np.clip(x + 0.05 * rng.standard_normal(x.shape), 0, 1).astype(np.float32)
    err = ((x.astype(np.float64) - y) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(metrics.mse(x, y), err, rtol=1e-5)
    np.testing.assert_allclose(metrics.psnr(x, y), 10 * np.log10(1.0 / err), atol=1e-4)
    # Nearly identical frames are capped, never infinite.
    assert float(metrics.psnr(x[0], x[0] + 1e-7)) == metrics.PSNR_MAX_DB


def test_best_of_n_is_at_least_mean_of_n():
    rng = np.random.default_rng(4)
    score = rng.random((6, 10, 5)).astype(np.float32)  # [batch, samples, time]
    best = metrics.best_of_n(score).numpy()  # [batch, time]
    best_idx, worst_idx = (i.numpy() for i in metrics.rank_samples(score))
    np.testing.assert_array_equal(best_idx, score.mean(-1).argmax(-1))
    np.testing.assert_array_equal(worst_idx, score.mean(-1).argmin(-1))
    np.testing.assert_array_equal(best, score[np.arange(6), best_idx])
    worst = metrics.take_sample(score, worst_idx).numpy()
    assert np.all(best.mean(-1) >= score.mean(1).mean(-1))
    assert np.all(score.mean(1).mean(-1) >= worst.mean(-1))


def test_bad_inputs_are_reported():
    with pytest.raises(ValueError, match="Unknown SSIM mode 'box'"):
        metrics.ssim(np.zeros((8, 8, 1)), np.zeros((8, 8, 1)), mode="box")
    with pytest.raises(ValueError, match="smaller than the gaussian SSIM window"):
        metrics.ssim(np.zeros((8, 8, 1)), np.zeros((8, 8, 1)), mode="gaussian")
