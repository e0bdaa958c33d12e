"""Several evaluations side by side: their reports read back and one table.

`svgpl-compare` (`svgpl_tf/compare.py`) prints `comparison_table` and plots the
reports with `svgpl_tf.evaluation.plots`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from svgpl_tf.evaluation.protocol import BEATS_RULE, METRICS_FILE, SELECTION_RULES


def load_report(output_dir: str) -> dict[str, Any]:
    """Reads `output_dir/metrics.json`, with a clear error if it is missing."""
    path = os.path.join(output_dir, METRICS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{path} does not exist: give output folders of `python -m svgpl_tf.evaluate`."
        )
    with open(path) as f:
        return json.load(f)


def comparison_table(reports: list[dict[str, Any]], labels: list[str]) -> str:
    """A text table of several runs' step-averaged metrics, and a protocol warning.

    Example:
        >>> print(comparison_table([report_a, report_b], ["SVG-LP", "SVG-PL"]))  # doctest: +SKIP
    """
    header = (
        f"{'run':<14}{'step':>8}{'ssim':>9}{'seqs x N':>11}{'frames':>8}"
        f"{'SSIM best':>18}{'SSIM mean':>11}{'SSIM worst':>11}{'SSIM copy':>11}"
        f"{'SSIM blank':>11}{'PSNR best':>16}{'PSNR copy':>11}{'PSNR blank':>11}"
        f"{'LPIPS best':>18}{'LPIPS copy':>11}{'LPIPS blank':>12}{'best by':>8}{'beats both':>11}"
    )
    lines = [header]
    for label, r in zip(labels, reports):
        p, avg = r["protocol"], r["average"]
        ssim_best = avg["ssim"]["best"]
        psnr_best = avg["psnr"]["best"]
        lines.append(
            f"{label:<14}{r['checkpoint_step']:>8}{p['ssim_mode']:>9}"
            f"{str(p['num_sequences']) + 'x' + str(p['num_samples']):>11}"
            f"{str(p['n_past']) + '+' + str(p['n_future']):>8}"
            f"{_with_ci(ssim_best, '.4f'):>18}"
            f"{avg['ssim']['mean']['mean']:>11.4f}{avg['ssim']['worst']['mean']:>11.4f}"
            f"{avg['ssim']['copy_last']['mean']:>11.4f}"
            f"{_mean_or_dash(avg['ssim'], 'blank', '.4f'):>11}"
            f"{_with_ci(psnr_best, '.2f'):>16}{avg['psnr']['copy_last']['mean']:>11.2f}"
            f"{_mean_or_dash(avg['psnr'], 'blank', '.2f'):>11}"
            f"{_with_ci(avg['lpips']['best'], '.4f') if 'lpips' in avg else '-':>18}"
            f"{_mean_or_dash(avg.get('lpips', {}), 'copy_last', '.4f'):>11}"
            f"{_mean_or_dash(avg.get('lpips', {}), 'blank', '.4f'):>12}"
            f"{p.get('best_by', 'ssim'):>8}"
            f"{_verdict(r):>11}"
        )
    lines.append(
        "Averages over the predicted frames; +- is the 95% CI half-width over sequences. "
        + " ".join(
            f"Best by {rule}: {SELECTION_RULES[rule]}."
            for rule in sorted({r["protocol"].get("best_by", "ssim") for r in reports})
        )
        + f" Beats both: {BEATS_RULE} ('-': a report without the blank baseline or LPIPS)."
    )
    keys = ("ssim_mode", "n_past", "n_future", "num_sequences", "num_samples", "best_by")
    differing = [k for k in keys if len({r["protocol"].get(k, "ssim") for r in reports}) > 1]
    if differing:
        lines.append(
            f"WARNING: the runs differ in {', '.join(differing)}: their numbers are not "
            "directly comparable (a different clip length also renders different test sequences)."
        )
    return "\n".join(lines)


def _with_ci(stats: dict[str, float], fmt: str) -> str:
    half = (stats["ci_high"] - stats["ci_low"]) / 2
    return f"{stats['mean']:{fmt}} +- {half:{fmt}}"


def _mean_or_dash(by_kind: dict[str, Any], kind: str, fmt: str) -> str:
    return f"{by_kind[kind]['mean']:{fmt}}" if kind in by_kind else "-"


def _verdict(report: dict[str, Any]) -> str:
    verdict = report.get("beats_baselines")
    if verdict is None:
        return "-"
    return "yes" if verdict["beats"] else "no"
