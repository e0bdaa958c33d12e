"""Frame metrics for video prediction: SSIM (two windows), PSNR, MSE, best-of-N.

Every metric takes frames `[..., h, w, c]` with values in [0, max_val] and
returns one value per frame `[...]`; the two arguments broadcast against
each other, so `[batch, samples, time, h, w, c]` predictions are compared to
`[batch, 1, time, h, w, c]` ground truth in one call.

SSIM comes in two modes, because the video-prediction literature reports both:

- `"gaussian"`: an 11x11 Gaussian window (sigma 1.5), biased (1/N) variances,
  K1 = 0.01, K2 = 0.03, averaged over the valid region. This is Wang et al.'s
  SSIM exactly as `tf.image.ssim(max_val=1, filter_size=11, filter_sigma=1.5,
  k1=0.01, k2=0.03)` computes it (and as `finn_ssim` of the SVG code does).
- `"uniform"`: a 7x7 uniform window, sample (co)variances with the N/(N-1)
  correction, K1 = 0.01, K2 = 0.03, averaged over the region at least 3 pixels
  from every border. This is `skimage.metrics.structural_similarity` with
  `data_range=1` and its other defaults, the SSIM the SVG code reports. The
  SVG code called skimage without a data range, which skimage then took to be
  that of a float image, 2; `max_val=2.0` reproduces that convention.

Both modes average the SSIM of the channels of an RGB frame.

PSNR of identical frames is infinite; here it is capped at `PSNR_MAX_DB`
(100 dB, an MSE of 1e-10 at max_val 1), so averages and confidence intervals
stay finite and JSON reports never hold NaN or Infinity.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from svgpl_tf.evaluation.protocol import SSIM_MODES

# Side of the uniform window (skimage's default win_size).
UNIFORM_WINDOW = 7
# Side and standard deviation of the Gaussian window (tf.image.ssim's defaults).
GAUSSIAN_WINDOW, GAUSSIAN_SIGMA = 11, 1.5
# Stabilising constants of SSIM: C1 = (K1 * L)^2, C2 = (K2 * L)^2.
K1, K2 = 0.01, 0.03
# PSNR reported for identical frames (and the cap of every PSNR), in dB.
PSNR_MAX_DB = 100.0


def ssim_window(mode: str) -> tuple[np.ndarray, float]:
    """The 1D window of an SSIM mode and its covariance normalisation.

    Both windows are separable: the 2D window is the outer product of the 1D
    one with itself.

    Args:
        mode: one of `SSIM_MODES`.

    Returns:
        `(window, cov_norm)`: float64 weights `[k]` summing to 1, and the
        factor applied to every (co)variance (N/(N-1) for the uniform mode's
        sample covariance, 1 for the Gaussian mode).

    Example:
        >>> window, cov_norm = ssim_window("uniform")
        >>> window.shape, round(cov_norm, 4)
        ((7,), 1.0208)
    """
    if mode == "uniform":
        n = UNIFORM_WINDOW
        return np.full([n], 1.0 / n), n * n / (n * n - 1.0)
    if mode == "gaussian":
        coords = np.arange(GAUSSIAN_WINDOW) - (GAUSSIAN_WINDOW - 1) / 2.0
        g = np.exp(-(coords**2) / (2.0 * GAUSSIAN_SIGMA**2))
        return g / g.sum(), 1.0
    raise ValueError(f"Unknown SSIM mode {mode!r}: choose one of {', '.join(SSIM_MODES)}.")


def _broadcast_frames(x, y):
    """Casts to float32 and broadcasts `x` and `y` to one shape `[..., h, w, c]`."""
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.convert_to_tensor(y, tf.float32)
    if x.shape.rank is not None and x.shape.rank < 3:
        raise ValueError(f"Frames must be [..., h, w, c], got shape {x.shape}.")
    shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
    static = tf.broadcast_static_shape(x.shape, y.shape)
    x, y = tf.broadcast_to(x, shape), tf.broadcast_to(y, shape)
    x.set_shape(static)
    y.set_shape(static)
    return x, y


def _separable_filter(images, window):
    """Valid-region filtering of `[n, h, w, k]` by the outer product of `window`."""
    k = window.shape[0]
    channels = images.shape[-1]
    w = tf.constant(window, tf.float32)
    rows = tf.tile(tf.reshape(w, [k, 1, 1, 1]), [1, 1, channels, 1])  # [k, 1, ch, 1]
    cols = tf.tile(tf.reshape(w, [1, k, 1, 1]), [1, 1, channels, 1])  # [1, k, ch, 1]
    out = tf.nn.depthwise_conv2d(images, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, cols, [1, 1, 1, 1], "VALID")


def ssim(x, y, mode: str = "uniform", max_val: float = 1.0) -> tf.Tensor:
    """Structural similarity of each pair of frames.

    Args:
        x: frames `[..., h, w, c]`, c static, h and w at least the window
            (7 uniform, 11 Gaussian).
        y: frames broadcastable to `x`.
        mode: `"uniform"` (skimage's default SSIM) or `"gaussian"`
            (`tf.image.ssim`'s); see the module docstring.
        max_val: the data range (1 for frames in [0, 1]).

    Returns:
        float32 SSIM `[...]`, the mean over pixels and channels; 1 for
        identical frames.

    Example:
        >>> x = tf.random.stateless_uniform([2, 5, 64, 64, 1], seed=[0, 0])
        >>> tuple(ssim(x, x[:, :1], mode="gaussian").shape)
        (2, 5)
    """
    window, cov_norm = ssim_window(mode)
    x, y = _broadcast_frames(x, y)
    k = window.shape[0]
    h, w, c = x.shape[-3:]
    if c is None:
        raise ValueError("SSIM needs a static number of channels.")
    if (h is not None and h < k) or (w is not None and w < k):
        raise ValueError(f"Frames of {h}x{w} are smaller than the {mode} SSIM window {k}x{k}.")
    lead = tf.shape(x)[:-3]
    flat = tf.concat([[-1], tf.shape(x)[-3:]], 0)
    x, y = tf.reshape(x, flat), tf.reshape(y, flat)  # [n, h, w, c]
    # All five local moments in one filtering call: [n, h', w', 5c].
    moments = _separable_filter(tf.concat([x, y, x * x, y * y, x * y], -1), window)
    mu_x, mu_y, e_xx, e_yy, e_xy = tf.split(moments, 5, axis=-1)  # each [n, h', w', c]
    var_x = cov_norm * (e_xx - mu_x * mu_x)
    var_y = cov_norm * (e_yy - mu_y * mu_y)
    cov_xy = cov_norm * (e_xy - mu_x * mu_y)
    c1, c2 = (K1 * max_val) ** 2, (K2 * max_val) ** 2
    luminance = (2.0 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    structure = (2.0 * cov_xy + c2) / (var_x + var_y + c2)
    per_frame = tf.reduce_mean(luminance * structure, axis=[1, 2, 3])  # [n]
    return tf.reshape(per_frame, lead)


def mse(x, y) -> tf.Tensor:
    """Mean squared error of each pair of frames `[..., h, w, c]` -> `[...]`.

    Example:
        >>> float(mse(tf.zeros([4, 4, 1]), tf.ones([4, 4, 1])))
        1.0
    """
    x, y = _broadcast_frames(x, y)
    return tf.reduce_mean(tf.square(x - y), axis=[-3, -2, -1])


def psnr(x, y, max_val: float = 1.0) -> tf.Tensor:
    """Peak signal-to-noise ratio in dB of each pair of frames, capped.

    `10 log10(max_val^2 / MSE)`, at most `PSNR_MAX_DB`: identical frames give
    exactly `PSNR_MAX_DB` instead of infinity.

    Args:
        x: frames `[..., h, w, c]`.
        y: frames broadcastable to `x`.
        max_val: the data range (1 for frames in [0, 1]).

    Returns:
        float32 PSNR `[...]` in dB.

    Example:
        >>> x = tf.zeros([8, 8, 1])
        >>> float(psnr(x, x)), round(float(psnr(x, x + 0.1)), 3)
        (100.0, 20.0)
    """
    floor = max_val**2 * 10.0 ** (-PSNR_MAX_DB / 10.0)  # the MSE of PSNR_MAX_DB
    error = mse(x, y)
    db = 10.0 * tf.math.log(max_val**2 / tf.maximum(error, floor)) / math.log(10.0)
    # Exactly the cap at or below the floor, whatever the float rounding of the log.
    return tf.where(error <= floor, PSNR_MAX_DB, tf.minimum(db, PSNR_MAX_DB))


def rank_samples(score) -> tuple[tf.Tensor, tf.Tensor]:
    """Indices of the best and the worst sample by a score averaged over time.

    Args:
        score: per-step scores `[..., samples, time]`, higher is better
            (e.g. SSIM).

    Returns:
        `(best, worst)` int32 sample indices `[...]`; ties go to the lowest
        index.

    Example:
        >>> best, worst = rank_samples([[[0.2, 0.4], [0.9, 0.1], [0.5, 0.6]]])
        >>> best.numpy().tolist(), worst.numpy().tolist()
        ([2], [0])
    """
    mean = tf.reduce_mean(tf.convert_to_tensor(score, tf.float32), axis=-1)  # [..., samples]
    return (
        tf.argmax(mean, axis=-1, output_type=tf.int32),
        tf.argmin(mean, axis=-1, output_type=tf.int32),
    )


def take_sample(values, index) -> tf.Tensor:
    """Picks one sample per row: `[..., samples, time]` at `index [...]` -> `[..., time]`.

    Example:
        >>> take_sample([[[1.0, 2.0], [3.0, 4.0]]], [1]).numpy().tolist()
        [[3.0, 4.0]]
    """
    values = tf.convert_to_tensor(values)
    index = tf.convert_to_tensor(index, tf.int32)
    return tf.gather(values, index, axis=index.shape.rank, batch_dims=index.shape.rank)


def best_of_n(score) -> tf.Tensor:
    """Per-step scores of the sample with the best mean score over time.

    The protocol of SVG: of N samples per sequence, keep the one whose score
    averaged over the predicted steps is highest, and report it step by step.

    Args:
        score: per-step scores `[..., samples, time]`, higher is better.

    Returns:
        `[..., time]`; its mean over time is never below the mean over samples.

    Example:
        >>> best_of_n([[[0.2, 0.4], [0.9, 0.1], [0.5, 0.6]]]).numpy().tolist()
        [[0.5, 0.6000000238418579]]
    """
    best, _ = rank_samples(score)
    return take_sample(tf.convert_to_tensor(score, tf.float32), best)
