"""The report's statistics: best, mean and worst of N samples, means and 95% intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from svgpl_tf import metrics
from svgpl_tf.evaluation.sampling import SampleMetrics

# The four rows of every report: best / mean / worst of N samples, and the baseline.
KINDS = ("best", "mean", "worst", "copy_last")
# The metrics of every report.
METRICS = ("ssim", "psnr", "mse")
# Normal quantile of the two-sided 95% confidence interval.
Z_95 = 1.959963984540054
# How the best and worst samples are chosen, as the reports state it.
SELECTION_RULE = (
    "best (worst): per sequence, the sample with the highest (lowest) SSIM averaged over "
    "the predicted steps; its PSNR and MSE are those of the same sample"
)


def mean_and_ci(values: np.ndarray) -> dict[str, Any]:
    """Mean over axis 0 and its 95% confidence interval (normal approximation).

    Args:
        values: `[n, ...]`, one row per sequence.

    Returns:
        `{"mean", "ci_low", "ci_high"}`, floats or lists of the shape `[...]`.
        With a single row the interval is the mean itself.

    Example:
        >>> mean_and_ci(np.array([1.0, 3.0]))["mean"]
        2.0
    """
    values = np.asarray(values, np.float64)
    n = values.shape[0]
    mean = values.mean(axis=0)
    half = Z_95 * values.std(axis=0, ddof=1) / math.sqrt(n) if n > 1 else np.zeros_like(mean)
    return {
        "mean": mean.tolist(),
        "ci_low": (mean - half).tolist(),
        "ci_high": (mean + half).tolist(),
    }


def per_kind(m: SampleMetrics) -> dict[str, dict[str, np.ndarray]]:
    """`{metric: {kind: [n, time]}}`: best, mean and worst sample, and copy_last.

    Best and worst are chosen per sequence by SSIM averaged over time, for
    every metric (`SELECTION_RULE`).
    """
    best, worst = (i.numpy() for i in metrics.rank_samples(m.ssim))  # [n]
    out = {}
    for name in METRICS:
        values = getattr(m, name)  # [n, s, T]
        out[name] = {
            "best": metrics.take_sample(values, best).numpy(),
            "mean": values.mean(axis=1),
            "worst": metrics.take_sample(values, worst).numpy(),
            "copy_last": getattr(m, f"copy_last_{name}"),
        }
    return out


def summarize(m: SampleMetrics) -> dict[str, Any]:
    """The report's statistics: per-step, averaged over steps, per sequence.

    Returns:
        `{"per_step": {metric: {kind: {mean, ci_low, ci_high}}}` (lists of
        length n_future), `"average"` (the same for the mean over the steps,
        floats) and `"per_sequence"` (SSIM averaged over the steps of each
        sequence for every kind, and the index of its best sample).
    """
    kinds = per_kind(m)
    best, _ = metrics.rank_samples(m.ssim)
    return {
        "per_step": {
            name: {kind: mean_and_ci(v) for kind, v in by_kind.items()}
            for name, by_kind in kinds.items()
        },
        "average": {
            name: {kind: mean_and_ci(v.mean(axis=1)) for kind, v in by_kind.items()}
            for name, by_kind in kinds.items()
        },
        "per_sequence": {
            "index": m.index.tolist(),
            **{f"{kind}_ssim": v.mean(axis=1).tolist() for kind, v in kinds["ssim"].items()},
            "best_sample": best.numpy().tolist(),
        },
    }
