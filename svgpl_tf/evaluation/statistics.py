"""The report's statistics: best, mean and worst of N samples, means and 95% intervals."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from svgpl_tf.evaluation import metrics
from svgpl_tf.evaluation.protocol import (
    BASELINES,
    BEATS_RULE,
    LOWER_IS_BETTER,
    RULE_METRICS,
)
from svgpl_tf.evaluation.sampling import SampleMetrics

# Normal quantile of the two-sided 95% confidence interval.
Z_95 = 1.959963984540054


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


def per_kind(m: SampleMetrics, best_by: str = "ssim") -> dict[str, dict[str, np.ndarray]]:
    """`{metric: {kind: [n, time]}}`: best, mean and worst sample, and the baselines.

    Args:
        m: the evaluation's arrays.
        best_by: `"ssim"`: best and worst are chosen per sequence by SSIM
            averaged over time, for every metric; `"each"`: by each metric's
            own average (`SELECTION_RULES`).
    """
    by_ssim = [i.numpy() for i in metrics.rank_samples(m.ssim)]  # best, worst: [n]
    out = {}
    for name in m.metric_names:
        values = getattr(m, name)  # [n, s, T]
        best, worst = by_ssim
        if best_by == "each" and name != "ssim":
            sign = -1.0 if name in LOWER_IS_BETTER else 1.0
            best, worst = (i.numpy() for i in metrics.rank_samples(sign * values))
        out[name] = {
            "best": metrics.take_sample(values, best).numpy(),
            "mean": values.mean(axis=1),
            "worst": metrics.take_sample(values, worst).numpy(),
            **{b: getattr(m, f"{b}_{name}") for b in BASELINES},
        }
    return out


def rule_metrics(kinds: dict[str, Any]) -> tuple[str, ...]:
    """The metrics the rule judges: `RULE_METRICS`, and LPIPS where it was measured."""
    return RULE_METRICS + (("lpips",) if "lpips" in kinds else ())


def beats_baselines(
    model_per_step: dict[str, np.ndarray], baselines_per_step: dict[str, dict[str, np.ndarray]]
) -> dict[str, Any]:
    """The rule by which a model "beats the baselines".

    At every predicted step, the model's best-of-N value is better than the
    better of the baselines at that step, in each metric: higher SSIM and
    higher PSNR (lower for metrics named in `LOWER_IS_BETTER`).

    Args:
        model_per_step: `{metric: [time]}`, the model's per-step means.
        baselines_per_step: `{baseline: {metric: [time]}}`, the same for each
            baseline.

    Returns:
        `{"beats": bool, "margin": {metric: float}}`, the margin being the
        worst step's lead over the better baseline (negative where it trails).

    Example:
        >>> r = beats_baselines({"ssim": np.array([0.8, 0.7])},
        ...                     {"blank": {"ssim": np.array([0.75, 0.72])}})
        >>> r["beats"], round(r["margin"]["ssim"], 2)
        (False, -0.02)
    """
    margins = {}
    for name, model in model_per_step.items():
        sign = -1.0 if name in LOWER_IS_BETTER else 1.0
        model = sign * np.asarray(model, np.float64)
        best_baseline = np.max(
            [sign * np.asarray(b[name], np.float64) for b in baselines_per_step.values()], axis=0
        )
        margins[name] = float(np.min(model - best_baseline))
    return {"beats": all(v > 0 for v in margins.values()), "margin": margins}


def summarize(m: SampleMetrics, best_by: str = "ssim") -> dict[str, Any]:
    """The report's statistics: per-step, averaged over steps, per sequence.

    Returns:
        `{"per_step": {metric: {kind: {mean, ci_low, ci_high}}}` (lists of
        length n_future), `"average"` (the same for the mean over the steps,
        floats), `"beats_baselines"` (`beats_baselines` of the best sample
        against the baselines, per-step means of `rule_metrics`) and
        `"per_sequence"` (SSIM averaged over the steps of each sequence for
        every kind, and the index of its best sample).
    """
    kinds = per_kind(m, best_by)
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
        "beats_baselines": verdict(kinds),
        "per_sequence": {
            "index": m.index.tolist(),
            **{f"{kind}_ssim": v.mean(axis=1).tolist() for kind, v in kinds["ssim"].items()},
            "best_sample": best.numpy().tolist(),
        },
    }


def step_means(
    kinds: dict[str, dict[str, np.ndarray]], rows=("best", *BASELINES)
) -> dict[str, dict[str, np.ndarray]]:
    """Per-step means over the sequences of `rule_metrics`: `{row: {metric: [time]}}`.

    Args:
        kinds: `per_kind`'s arrays `{metric: {kind: [sequences, time]}}`.
        rows: the kinds to average.
    """
    names = rule_metrics(kinds)
    return {kind: {name: kinds[name][kind].mean(axis=0) for name in names} for kind in rows}


def verdict(kinds: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """The report's `beats_baselines`: the rule, the verdict and the margins.

    The best sample's per-step means of `rule_metrics` against the baselines'.

    Args:
        kinds: `per_kind`'s arrays `{metric: {kind: [sequences, time]}}`.
    """
    means = step_means(kinds)
    return {
        "rule": BEATS_RULE,
        **beats_baselines(means["best"], {b: means[b] for b in BASELINES}),
    }
