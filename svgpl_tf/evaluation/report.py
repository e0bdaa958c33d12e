"""The evaluation report: its files, its protocol in words, and shards merged into it.

An evaluation (`svgpl_tf.evaluation.job`) writes each shard's metrics
(`per_sample.npz`, `shown.npz`, `shard.json`); `merge` turns one or more
shards into the report: `metrics.json` (format `FORMAT_VERSION`), the plots
and the sample videos. See `svgpl_tf.evaluation.job` for what each file holds.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from svgpl_tf import files
from svgpl_tf.config import Config
from svgpl_tf.evaluation import metrics, plots
from svgpl_tf.evaluation.options import EvalOptions
from svgpl_tf.evaluation.protocol import KINDS, METRICS_FILE, SELECTION_RULES
from svgpl_tf.evaluation.sampling import SampleMetrics, ShownSequence
from svgpl_tf.evaluation.statistics import summarize

# Version of the metrics.json layout (3: LPIPS and the selection rule).
FORMAT_VERSION = 3
# Names of the files written in the output folder.
PER_SAMPLE_FILE = "per_sample.npz"
SHARD_FILE, SHOWN_FILE = "shard.json", "shown.npz"
SSIM_PLOT, PSNR_PLOT = "ssim_per_step.png", "psnr_per_step.png"
LPIPS_PLOT = "lpips_per_step.png"
SEQUENCE_PLOT = "ssim_per_sequence.png"
GRID_FILE, GIF_FILE = "samples.png", "samples.gif"


_SSIM_DESCRIPTIONS = {
    "uniform": "7x7 uniform window, sample covariance (N/(N-1)), K1 0.01, K2 0.03, data range "
    "1, mean over pixels >= 3 from every border and over channels "
    "(skimage.metrics.structural_similarity defaults)",
    "gaussian": "11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, data range 1, mean over "
    "the valid region and channels (tf.image.ssim)",
}


_BATCHNORM_DESCRIPTIONS = {
    "moving": "moving averages of training",
    "batch": "batch statistics per time step and sample draw over the {batch_size} test "
    "sequences sampled together, as the reference generates",
    "sequence": "batch statistics of each sequence alone: its context frames, then its samples",
}


_LPIPS_DESCRIPTIONS = {
    "alex": "LPIPS v0.1 (Zhang et al. 2018) on torchvision's ImageNet AlexNet, the reference "
    "lpips package's default; grey frames repeated to RGB; lower is better",
    "vgg": "LPIPS v0.1 (Zhang et al. 2018) on torchvision's ImageNet VGG16; grey frames "
    "repeated to RGB; lower is better",
    "off": "not measured (--lpips=off)",
}


def check_output_dir(output_dir: str) -> None:
    """Creates `output_dir` and checks that it is writable, before any work."""
    files.ensure_writable_dir(output_dir, "--output_dir", "metrics, plots and videos")


def describe_protocol(options: EvalOptions, test_split: str, precision: str) -> dict[str, Any]:
    """The `protocol` entry of a report: every choice that fixes its numbers, in words."""
    n_past, n_future = options.n_past, options.n_future
    return {
        "n_past": n_past,
        "n_future": n_future,
        "future_frames": list(range(n_past + 1, n_past + n_future + 1)),
        "num_sequences": options.num_sequences,
        "num_samples": options.num_samples,
        "seed": options.seed,
        "sample_keys": f"sequence i: stateless key {options.seed} * 2**32 + i",
        "sampler": "XLA-compiled" if options.jit_compile else "graph",
        "sampling_batchnorm": _BATCHNORM_DESCRIPTIONS[options.sampling_batchnorm].format(
            batch_size=options.batch_size
        ),
        "precision": precision,
        "test_split": test_split,
        "ssim_mode": options.ssim_mode,
        "ssim": _SSIM_DESCRIPTIONS[options.ssim_mode],
        "psnr": f"10 log10(1 / MSE) per frame, capped at {metrics.PSNR_MAX_DB:g} dB "
        "(identical frames)",
        "mse": "mean over the pixels and channels of a frame",
        "lpips": _LPIPS_DESCRIPTIONS[options.lpips],
        "best_by": options.best_by,
        "selection": SELECTION_RULES[options.best_by],
        "mean": "the average over all samples",
        "copy_last": "baseline: every predicted frame is the last context frame",
        "blank": "baseline: every predicted frame is all zeros (black)",
        "confidence_interval": "95%, normal approximation over sequences: "
        "mean +- 1.96 * sd / sqrt(num_sequences)",
    }


def shown_rows(shown: list[ShownSequence], m: SampleMetrics, options: EvalOptions, n_past: int):
    """Figure rows of the shown sequences: ground truth, best and random samples."""
    position = {int(i): k for k, i in enumerate(m.index)}
    best_samples = metrics.rank_samples(m.ssim)[0].numpy()  # [n], as in the report
    out = []
    for seq in shown:
        mean_ssim = m.ssim[position[seq.index]].mean(axis=1)  # [s]
        best = int(best_samples[position[seq.index]])
        others = [s for s in range(len(mean_ssim)) if s != best]
        rng = np.random.default_rng([options.seed, seq.index])
        count = min(options.num_random_shown, len(others))
        picks = sorted(rng.choice(others, size=count, replace=False).tolist()) if count else []
        context = seq.clip[:n_past]
        clips = [seq.clip] + [np.concatenate([context, seq.samples[s]]) for s in [best] + picks]
        labels = ["truth", f"best\nSSIM {mean_ssim[best]:.3f}"] + [
            f"sample {s}\nSSIM {mean_ssim[s]:.3f}" for s in picks
        ]
        out.append(plots.VideoRows(f"test sequence {seq.index}", labels, np.stack(clips)))
    return out


def summary_text(report: dict[str, Any]) -> str:
    """The report's averages and verdict as the lines the job prints."""
    p = report["protocol"]
    lines = [
        f"Checkpoint step {report['checkpoint_step']} of {report['workdir']}: "
        f"{p['num_sequences']} test sequences x {p['num_samples']} samples, "
        f"{p['n_past']} context -> {p['n_future']} predicted frames, SSIM {p['ssim_mode']}.",
        f"Selection: {p['selection']}.",
        "Averages over the predicted steps, +- the 95% CI half-width over sequences:",
    ]
    columns = [
        (name, title, fmt, width)
        for name, title, fmt, width in (
            ("ssim", "SSIM", ".4f", 18),
            ("psnr", "PSNR (dB)", ".2f", 18),
            ("mse", "MSE", ".5f", 20),
            ("lpips", "LPIPS", ".4f", 18),
        )
        if name in report["average"]
    ]
    lines.append(f"{'':<11}" + "".join(f"{title:>{width}}" for _, title, _, width in columns))
    for kind in KINDS:
        cells = []
        for name, _, fmt, width in columns:
            s = report["average"][name][kind]
            half = (s["ci_high"] - s["ci_low"]) / 2
            text = f"{s['mean']:{fmt}} +- {half:{fmt}}"
            cells.append(f"{text:>{width}}")
        lines.append(f"{kind:<11}" + "".join(cells))
    verdict = report["beats_baselines"]
    lead = verdict["margin"]
    leads = f"SSIM {lead['ssim']:+.4f}, PSNR {lead['psnr']:+.2f} dB" + (
        f", LPIPS {lead['lpips']:+.4f}" if "lpips" in lead else ""
    )
    lines.append(
        ("Beats" if verdict["beats"] else "Does not beat")
        + f" both baselines at every step (worst step's lead over the better baseline: {leads})."
    )
    return "\n".join(lines)


def merge(shard_dirs: list[str], output_dir: str, verbose: bool = True) -> dict[str, Any]:
    """Combines the folders of evaluation shards into one report.

    The shards must come from the same checkpoint and protocol and cover
    every test sequence once; the report (metrics.json, plots, videos) is the
    one a single job over all sequences writes.

    Args:
        shard_dirs: output folders of the shards (`--shard_index`/`--num_shards`).
        output_dir: folder for the combined report (may be one of the shards').

    Raises:
        FileNotFoundError: a folder is not an evaluation output.
        ValueError: the shards disagree, overlap or leave sequences out.
    """
    check_output_dir(output_dir)
    shards = []
    for folder in shard_dirs:
        path = os.path.join(folder, SHARD_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} does not exist: not an evaluation output folder.")
        with open(path) as f:
            shards.append(json.load(f))
    first = shards[0]
    same = ("checkpoint_step", "config", "protocol", "workdir")
    for folder, shard in zip(shard_dirs, shards):
        for key in same:
            if shard[key] != first[key]:
                raise ValueError(
                    f"{folder} has another {key} than {shard_dirs[0]}: shards of different "
                    "evaluations cannot be merged."
                )
    parts = [SampleMetrics.load(os.path.join(d, PER_SAMPLE_FILE)) for d in shard_dirs]
    sample_metrics = SampleMetrics.concatenate(parts)
    want = np.arange(first["protocol"]["num_sequences"])
    if not np.array_equal(sample_metrics.index, want):
        raise ValueError(
            f"The shards cover sequences {_ranges(sample_metrics.index)}, not 0.."
            f"{len(want) - 1} once each: give every shard's folder exactly once."
        )
    shown = []
    for folder in shard_dirs:
        with np.load(os.path.join(folder, SHOWN_FILE)) as data:
            shown += [
                ShownSequence(int(i), c, s)
                for i, c, s in zip(data["index"], data["clips"], data["samples"])
            ]
    shown.sort(key=lambda seq: seq.index)
    protocol = first["protocol"]
    seconds = sum(shard["seconds"] for shard in shards)
    plotted = (("ssim", SSIM_PLOT), ("psnr", PSNR_PLOT)) + (
        (("lpips", LPIPS_PLOT),) if sample_metrics.lpips is not None else ()
    )
    outputs = {
        "per_sample": PER_SAMPLE_FILE,
        **{f"{name}_plot": path for name, path in plotted},
        "sequence_plot": SEQUENCE_PLOT,
    }
    config = Config.from_dict(first["config"])
    report = {
        "format_version": FORMAT_VERSION,
        "workdir": first["workdir"],
        "checkpoint_step": first["checkpoint_step"],
        "config": first["config"],
        "protocol": {
            **protocol,
            "train_n_past": config.n_past,
            "train_n_future": config.n_future,
            "num_shards": len(shards),
        },
        **summarize(sample_metrics, protocol.get("best_by", "ssim")),
        "timing": {
            "seconds": seconds,
            "sequence_samples_per_second": len(sample_metrics.index)
            * protocol["num_samples"]
            / max(seconds, 1e-9),
        },
        "files": outputs,
    }
    if os.path.abspath(output_dir) not in {os.path.abspath(d) for d in shard_dirs}:
        sample_metrics.save(os.path.join(output_dir, PER_SAMPLE_FILE))
    for name, path in plotted:
        plots.plot_per_step(report, name, os.path.join(output_dir, path))
    plots.plot_per_sequence(report, os.path.join(output_dir, SEQUENCE_PLOT))
    if shown:
        options = EvalOptions(seed=protocol["seed"], num_random_shown=first["num_random_shown"])
        rows = shown_rows(shown, sample_metrics, options, protocol["n_past"])
        plots.write_video_grid(os.path.join(output_dir, GRID_FILE), rows, protocol["n_past"])
        plots.write_video_gif(os.path.join(output_dir, GIF_FILE), rows, protocol["n_past"])
        outputs.update(grid=GRID_FILE, gif=GIF_FILE)
    files.write_json(os.path.join(output_dir, METRICS_FILE), report)
    if verbose:
        print(summary_text(report), flush=True)
        print(f"Wrote {os.path.join(output_dir, METRICS_FILE)} and {len(outputs)} more files.")
    return report


def _ranges(index: np.ndarray) -> str:
    """`[0, 1, 2, 5, 6]` -> `0..2, 5..6` (duplicates shown as they are)."""
    out, start = [], None
    for k, i in enumerate(index):
        if start is None:
            start = i
        if k + 1 == len(index) or index[k + 1] != i + 1:
            out.append(f"{start}..{i}")
            start = None
    return ", ".join(out)
