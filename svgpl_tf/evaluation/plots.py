"""The evaluation's figures: metric curves (matplotlib) and sample videos (Pillow).

Curves are drawn on matplotlib `Figure` objects with the Agg canvas, never
through pyplot, so no global backend or figure state is touched. Every file is
written to a temporary name and renamed, so a reader never sees half a file.

- `plot_per_step`: SSIM or PSNR per future frame, best / mean / worst of N and
  the copy-last baseline, each with its 95% confidence band (the papers'
  Figures 1 and 5).
- `plot_per_sequence`: best SSIM of each test sequence (Figure 6).
- `plot_comparison`: several runs' curves overlaid (`svgpl_tf.compare`).
- `write_video_grid` / `write_video_gif`: test sequences with ground truth and
  samples; context frames have a green border, predicted frames a red one,
  and ground-truth future frames a grey one (Figures 2 and 3).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageDraw, ImageFont

from svgpl_tf import files
from svgpl_tf.evaluation.protocol import BASELINES
from svgpl_tf.frames import tile, to_rgb, write_gif, write_png

# Line style and legend text of each kind of curve.
STYLES = {
    "best": dict(color="tab:blue", linestyle="-", label="best of N (by mean SSIM)"),
    "mean": dict(color="tab:orange", linestyle="--", label="mean of N"),
    "worst": dict(color="tab:red", linestyle=":", label="worst of N (by mean SSIM)"),
    "copy_last": dict(color="0.4", linestyle="-.", label="copy last context frame"),
    "blank": dict(color="0.1", linestyle=(0, (1, 3)), label="all-black frame"),
}
# Axis labels of the metrics.
METRIC_LABELS = {
    "ssim": "SSIM",
    "psnr": "PSNR (dB)",
    "mse": "MSE",
    "lpips": "LPIPS (lower is better)",
}
# Border colours (RGB) of context, predicted and ground-truth future frames.
CONTEXT_COLOR, PREDICTED_COLOR, TRUTH_COLOR = (0, 170, 0), (210, 30, 30), (150, 150, 150)
# Border width around each frame, and the gap between frames, in pixels.
BORDER, GAP = 2, 2
# Width of the label column and height of a title line, in pixels.
LABEL_WIDTH, TITLE_HEIGHT = 84, 14
# Point size of the labels in the sample images.
FONT_SIZE = 10
# Milliseconds per frame of the GIF.
GIF_FRAME_MS = 300


def _save_figure(fig: Figure, path: str) -> None:
    FigureCanvasAgg(fig)
    files.write_atomically(
        path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    )


def _band(ax, x, stats: dict[str, Any], style: dict[str, Any], label: str | None = None):
    ax.plot(x, stats["mean"], **{**style, "label": label or style["label"]})
    ax.fill_between(x, stats["ci_low"], stats["ci_high"], color=style["color"], alpha=0.15)


def _mark_training_horizon(ax, protocol: dict[str, Any]) -> None:
    """A dashed vertical line at the last frame seen in training, if within the plot."""
    last = protocol["train_n_past"] + protocol["train_n_future"]
    frames = protocol["future_frames"]
    if frames[0] <= last < frames[-1]:
        ax.axvline(last, color="0.6", linestyle="--", linewidth=1)
        ax.annotate(
            "training horizon",
            (last, 0.02),
            xycoords=("data", "axes fraction"),
            rotation=90,
            fontsize=7,
            color="0.4",
            ha="right",
        )


def plot_per_step(report: dict[str, Any], metric: str, path: str) -> None:
    """One metric per future frame: best / mean / worst of N and the baselines, with 95% CIs.

    Args:
        report: an evaluation report (`svgpl_tf.evaluation.job.evaluate`'s metrics.json).
        metric: `"ssim"`, `"psnr"` or `"mse"`.
        path: the PNG to write.

    Example:
        >>> plot_per_step(json.load(open("OUT/metrics.json")), "ssim", "ssim.png")  # doctest: +SKIP
    """
    p = report["protocol"]
    x = p["future_frames"]
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for kind, style in STYLES.items():
        if kind in report["per_step"][metric]:  # reports before format 2 have no blank
            _band(ax, x, report["per_step"][metric][kind], style)
    _mark_training_horizon(ax, p)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"frame (after {p['n_past']} context frames)")
    ax.set_ylabel(METRIC_LABELS[metric] + (f" ({p['ssim_mode']})" if metric == "ssim" else ""))
    ax.set_title(
        f"{METRIC_LABELS[metric]} per step, step {report['checkpoint_step']}: "
        f"{p['num_sequences']} sequences x {p['num_samples']} samples",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save_figure(fig, path)


def plot_per_sequence(report: dict[str, Any], path: str) -> None:
    """SSIM of each test sequence (mean over its predicted frames): best of N, mean, baselines.

    Example:
        >>> plot_per_sequence(json.load(open("OUT/metrics.json")), "seq.png")  # doctest: +SKIP
    """
    p, seq = report["protocol"], report["per_sequence"]
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    x = seq["index"]
    ax.plot(x, seq["best_ssim"], "o", markersize=3, **_marker(STYLES["best"]))
    ax.plot(x, seq["mean_ssim"], "_", markersize=5, **_marker(STYLES["mean"]))
    ax.plot(x, seq["copy_last_ssim"], "x", markersize=3, **_marker(STYLES["copy_last"]))
    if "blank_ssim" in seq:
        ax.plot(x, seq["blank_ssim"], "+", markersize=3, **_marker(STYLES["blank"]))
    ax.axhline(np.mean(seq["best_ssim"]), color=STYLES["best"]["color"], linewidth=0.8)
    _finish_sequence_axes(
        fig,
        ax,
        f"SSIM ({p['ssim_mode']}), mean over frames",
        f"SSIM per test sequence, {p['num_samples']} samples, frames "
        f"{p['future_frames'][0]}-{p['future_frames'][-1]}",
        path,
    )


def _finish_sequence_axes(fig: Figure, ax, ylabel: str, title: str, path: str) -> None:
    """Labels, grid and legend of a per-sequence plot; writes the PNG."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("test sequence")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save_figure(fig, path)


def plot_comparison_per_sequence(
    reports: list[dict[str, Any]], labels: list[str], path: str
) -> None:
    """Best-of-N SSIM of each test sequence, one line per run (the papers' Figure 6).

    Sequences are in test-split order; each baseline (copy-last, the
    all-black frame) is drawn once when every run has the same one.

    Args:
        reports: evaluation reports (metrics.json contents) of the same test split.
        labels: one legend label per report.
        path: the PNG to write.
    """
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    for i, (report, label) in enumerate(zip(reports, labels)):
        seq = report["per_sequence"]
        ax.plot(seq["index"], seq["best_ssim"], color=f"C{i % 10}", linewidth=0.9, label=label)
    first = reports[0]["per_sequence"]
    for kind, marker in (("copy_last", ":"), ("blank", (0, (1, 3)))):
        key = f"{kind}_ssim"
        if _shared([r["per_sequence"].get(key) for r in reports]):
            ax.plot(
                first["index"],
                first[key],
                color="0.5" if kind == "copy_last" else "0.1",
                linewidth=0.7,
                linestyle=marker,
                label=STYLES[kind]["label"],
            )
    p = reports[0]["protocol"]
    _finish_sequence_axes(
        fig,
        ax,
        f"best-of-{p['num_samples']} SSIM ({p['ssim_mode']})",
        f"Best SSIM per test sequence, mean over frames {p['future_frames'][0]}-"
        f"{p['future_frames'][-1]}",
        path,
    )


def _shared(curves: list) -> bool:
    """Whether every run has the same baseline curve (None where a run has none)."""
    first = curves[0]
    return all(c is not None and len(c) == len(first) and np.allclose(c, first) for c in curves)


def _marker(style: dict[str, Any]) -> dict[str, Any]:
    return dict(color=style["color"], label=style["label"], linestyle="none")


def plot_comparison(
    reports: list[dict[str, Any]],
    labels: list[str],
    path: str,
    metrics: tuple[str, ...] = ("ssim", "psnr"),
) -> None:
    """Overlays several runs' best-of-N (solid) and mean-of-N (dashed) curves.

    Each baseline (copy-last, the all-black frame) is drawn once in grey
    when every run has the same one, else once per run in the run's colour.

    Args:
        reports: evaluation reports (metrics.json contents).
        labels: one legend label per report.
        path: the PNG to write.
        metrics: one panel per metric.

    Example:
        >>> plot_comparison([lp, pl], ["SVG-LP", "SVG-PL"], "compare.png")  # doctest: +SKIP
    """
    fig = Figure(figsize=(5.5 * len(metrics), 4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    colors = [f"C{i % 10}" for i in range(len(reports))]
    for ax, metric in zip(axes, metrics):
        same = {  # the baselines drawn once where every compared run has the same
            kind: _shared([r["per_step"][metric].get(kind, {}).get("mean") for r in reports])
            for kind in BASELINES
        }
        for report, label, color in zip(reports, labels, colors):
            x = report["protocol"]["future_frames"]
            stats = report["per_step"][metric]
            _band(ax, x, stats["best"], dict(color=color, linestyle="-"), f"{label} best of N")
            ax.plot(x, stats["mean"]["mean"], color=color, linestyle="--", linewidth=1)
            for kind in BASELINES:
                if kind in stats and not same[kind]:
                    ax.plot(
                        x,
                        stats[kind]["mean"],
                        color=color,
                        linestyle=STYLES[kind]["linestyle"],
                        linewidth=1,
                        label=f"{label} {STYLES[kind]['label']}",
                    )
        for kind in BASELINES:
            if same[kind]:
                x = reports[0]["protocol"]["future_frames"]
                _band(ax, x, reports[0]["per_step"][metric][kind], STYLES[kind])
        longest = max(reports, key=lambda r: len(r["protocol"]["future_frames"]))
        _mark_training_horizon(ax, longest["protocol"])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("frame")
        ax.set_ylabel(METRIC_LABELS[metric])
        ax.set_title(f"{METRIC_LABELS[metric]}: best of N (solid), mean of N (dashed)", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save_figure(fig, path)


# ------------------------------------------------------------ sample videos


@dataclasses.dataclass
class VideoRows:
    """One test sequence as figure rows.

    Args:
        title: a line above the rows, e.g. `"test sequence 3"`.
        labels: one label per row, e.g. `["truth", "best\\nSSIM 0.81"]`; the
            GIF shows the first line only.
        clips: frames `[rows, time, h, w, c]` in [0, 1]; row 0 is the ground
            truth, every other row the context followed by a sampled future.

    Example:
        >>> rows = VideoRows("test sequence 0", ["truth", "best"], np.zeros([2, 5, 64, 64, 1]))
    """

    title: str
    labels: list[str]
    clips: np.ndarray


def _frame_color(row: int, t: int, n_past: int) -> tuple[int, int, int]:
    if t < n_past:
        return CONTEXT_COLOR
    return TRUTH_COLOR if row == 0 else PREDICTED_COLOR


@functools.cache
def _font() -> ImageFont.FreeTypeFont:
    """DejaVu Sans as shipped with matplotlib, so labels look the same everywhere."""
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), FONT_SIZE)


def video_grid(sequences: list[VideoRows], n_past: int) -> np.ndarray:
    """All frames of all rows of the sequences as one labelled image.

    Each sequence is a title line, then one row per clip with its label on the
    left and its frames left to right.

    Returns:
        uint8 RGB image `[height, width, 3]`.

    Example:
        >>> rows = VideoRows("test sequence 0", ["truth", "best"], np.zeros([2, 5, 64, 64, 1]))
        >>> video_grid([rows], n_past=2).shape[-1]
        3
    """
    _, time, h, w, _ = sequences[0].clips.shape
    th, tw = h + 2 * BORDER, w + 2 * BORDER
    num_rows = sum(len(s.labels) for s in sequences)
    height = len(sequences) * TITLE_HEIGHT + num_rows * (th + GAP) + GAP
    width = LABEL_WIDTH + time * (tw + GAP) + GAP
    canvas = np.full([height, width, 3], 255, np.uint8)
    texts = []
    y = 0
    for seq in sequences:
        texts.append(((GAP, y + 1), seq.title))
        y += TITLE_HEIGHT
        for r, (label, clip) in enumerate(zip(seq.labels, seq.clips)):
            texts.append(((GAP, y + th // 2 - 6 * (label.count("\n") + 1)), label))
            for t in range(time):
                x = LABEL_WIDTH + GAP + t * (tw + GAP)
                canvas[y : y + th, x : x + tw] = tile(
                    to_rgb(clip[t]), BORDER, _frame_color(r, t, n_past)
                )
            y += th + GAP
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for xy, text in texts:
        draw.text(xy, text, fill=(0, 0, 0), font=_font())
    return np.asarray(image)


def video_frames(sequences: list[VideoRows], n_past: int) -> list[np.ndarray]:
    """One image per time step: sequences as rows, their clips side by side.

    Returns:
        `time` uint8 RGB images `[height, width, 3]`.
    """
    _, time, h, w, _ = sequences[0].clips.shape
    th, tw = h + 2 * BORDER, w + 2 * BORDER
    cols = max(len(s.labels) for s in sequences)
    height = 2 * TITLE_HEIGHT + len(sequences) * (TITLE_HEIGHT + th) + GAP
    width = cols * (tw + GAP) + GAP
    out = []
    for t in range(time):
        canvas = np.full([height, width, 3], 255, np.uint8)
        texts = [((GAP, 1), f"frame {t + 1}/{time}: " + ("context" if t < n_past else "predicted"))]
        y = 3 * TITLE_HEIGHT  # frame caption, column labels, first sequence title
        for seq in sequences:
            texts.append(((GAP, y - TITLE_HEIGHT + 1), seq.title))
            for c, (label, clip) in enumerate(zip(seq.labels, seq.clips)):
                x = GAP + c * (tw + GAP)
                canvas[y : y + th, x : x + tw] = tile(
                    to_rgb(clip[t]), BORDER, _frame_color(c, t, n_past)
                )
                if seq is sequences[0]:
                    texts.append(((x, TITLE_HEIGHT + 1), label.split("\n")[0]))
            y += th + TITLE_HEIGHT
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        for xy, text in texts:
            draw.text(xy, text, fill=(0, 0, 0), font=_font())
        out.append(np.asarray(image))
    return out


def write_video_grid(path: str, sequences: list[VideoRows], n_past: int) -> None:
    """Writes `video_grid` as a PNG, atomically."""
    write_png(path, video_grid(sequences, n_past))


def write_video_gif(path: str, sequences: list[VideoRows], n_past: int) -> None:
    """Writes `video_frames` as an animated GIF that loops forever, atomically."""
    write_gif(path, video_frames(sequences, n_past), GIF_FRAME_MS)


def plot_time_to_quality(report: dict[str, Any], path: str) -> None:
    """Best-of-N SSIM and PSNR at each predicted step against training time.

    One panel per metric: a solid line per predicted step (its best-of-N
    value at each probe) and a dotted line of the same colour at the better
    baseline for that step (copy-last or an all-black frame); a vertical line
    marks the first probe that beats both baselines at every step in both.

    Args:
        report: a `svgpl_tf.training.time_to_quality.time_to_quality` report.
        path: the PNG to write.
    """
    probes = report["probes"]
    seconds = [p["train_seconds"] / 60 for p in probes]
    n_past = report["protocol"]["n_past"]
    first = report.get("first_beats_baselines")
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, (metric, unit) in zip(axes, [("ssim", ""), ("psnr", " (dB)")]):
        best = np.array([p[f"best_{metric}_per_step"] for p in probes])  # [probes, horizon]
        baseline = np.maximum(
            probes[-1][f"copy_last_{metric}_per_step"], probes[-1][f"blank_{metric}_per_step"]
        )  # [horizon]
        for t in range(best.shape[1]):
            color = f"C{t % 10}"
            ax.plot(seconds, best[:, t], color=color, marker=".", label=f"frame {n_past + t + 1}")
            ax.axhline(baseline[t], color=color, linestyle=":", linewidth=1)
        if first:
            ax.axvline(first["train_seconds"] / 60, color="0.2", linestyle="--", linewidth=1)
            ax.annotate(
                f"beats both baselines at every step\nstep {first['step']}, "
                f"{first['train_seconds'] / 60:.1f} min",
                (first["train_seconds"] / 60, ax.get_ylim()[0]),
                xytext=(4, 6),
                textcoords="offset points",
                fontsize=8,
            )
        protocol = report["protocol"]
        ax.set_xlabel("training wall time (min), probes excluded")
        ax.set_ylabel(f"best-of-{protocol['num_samples']} {metric.upper()}{unit}")
        ax.set_title(f"{metric.upper()} on {protocol['num_sequences']} test sequences", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(
        "solid: the model's best of N at each predicted frame; dotted: the better of "
        "copy-last and an all-black frame at that frame",
        fontsize=9,
    )
    _save_figure(fig, path)
