"""Evaluation: best-of-N SSIM / PSNR / MSE / LPIPS per future step, plots and videos.

`evaluate(workdir, output_dir)` is the whole evaluation job; the binary
`svgpl_tf.evaluate` only turns flags into its arguments. The protocol is
SVG's: condition on `n_past` test frames, draw `num_samples` futures of
`n_future` frames per test sequence, and per sequence keep the sample with
the highest SSIM averaged over the predicted steps ("best"). The mean over all
samples and the sample of lowest mean SSIM ("worst") are reported too, and so
are two baselines on the same sequences: copy the last context frame
("copy_last") and an all-black frame ("blank"). `beats_baselines` says whether
the best sample beats the better of the two at every predicted step, in SSIM,
in PSNR and, where measured, in LPIPS (v0.1, AlexNet by default; `--lpips`).
With `--best_by=each` every metric picks its own best sample (SRVP's rule).

`output_dir` receives:

- `metrics.json`: configuration, checkpoint step, protocol, per-step mean and
  95% confidence interval over sequences of each metric for best / mean /
  worst / copy_last / blank, their averages over the steps, the verdict
  `beats_baselines`, and per-sequence SSIM;
- `per_sample.npz`: every metric of every sequence, sample and step;
- `ssim_per_step.png`, `psnr_per_step.png`, `lpips_per_step.png` (with
  LPIPS), `ssim_per_sequence.png`;
- `samples.png` and `samples.gif`: a few test sequences with their ground
  truth, best sample and random samples.

Test sequence `i` (its index in the fixed test split) draws its samples from
the stateless key `seed * 2**32 + i`, so results do not depend on the batch
size (beyond float rounding), and a job split over several processes by
sequence ranges gives the same numbers as one job. The parts are in
`svgpl_tf/evaluation/`: the options, the sampling loop, the statistics, LPIPS
and the comparison of several reports.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import numpy as np

from svgpl_tf import files, metrics, plots
from svgpl_tf.config import Config
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.evaluation import lpips
from svgpl_tf.evaluation.options import EvalOptions
from svgpl_tf.evaluation.sampling import SampleMetrics, ShownSequence, collect
from svgpl_tf.evaluation.statistics import KINDS, SELECTION_RULES, summarize
from svgpl_tf.losses import lpips_weights
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.runs import restore_model

# Version of the metrics.json layout (3: LPIPS and the selection rule).
FORMAT_VERSION = 3
# Names of the files written in the output folder.
METRICS_FILE = "metrics.json"
PER_SAMPLE_FILE = "per_sample.npz"
SHARD_FILE, SHOWN_FILE = "shard.json", "shown.npz"
SSIM_PLOT, PSNR_PLOT = "ssim_per_step.png", "psnr_per_step.png"
LPIPS_PLOT = "lpips_per_step.png"
SEQUENCE_PLOT = "ssim_per_sequence.png"
GRID_FILE, GIF_FILE = "samples.png", "samples.gif"


def check_output_dir(output_dir: str) -> None:
    """Creates `output_dir` and checks that it is writable, before any work."""
    files.ensure_writable_dir(output_dir, "--output_dir", "metrics, plots and videos")


def load_run(
    workdir: str, step: int | None = None, precision: str | None = None
) -> tuple[SVGModel, Config, int]:
    """Restores a trained model from a training workdir.

    Args:
        workdir: the training run's folder (config.json, checkpoints/).
        step: checkpoint step, None for the latest.
        precision: precision policy to sample in (None: the run's).

    Returns:
        `(model, config, step)`, as `runs.restore_model`.

    Raises:
        ValueError: `workdir` is empty.
        FileNotFoundError: no such folder, no config.json, no checkpoint (of
            that step); the message names what is missing.
        RuntimeError: the checkpoint does not fit the saved configuration;
            the message names the checkpoint.
    """
    if not workdir:
        raise ValueError("--workdir is required: the training run to evaluate.")
    if not os.path.isdir(workdir):
        raise FileNotFoundError(f"Workdir {workdir!r} does not exist: give a training workdir.")
    return restore_model(workdir, step, precision=precision)


# ----------------------------------------------------------------- report


def _shown_rows(shown: list[ShownSequence], m: SampleMetrics, options: EvalOptions, n_past: int):
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


def _summary_text(report: dict[str, Any]) -> str:
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


def evaluate_run(
    model: SVGModel,
    config: Config,
    checkpoint_step: int,
    output_dir: str,
    options: EvalOptions,
    workdir: str = "",
) -> dict[str, Any]:
    """Evaluates a restored model and writes the report; see `evaluate`.

    With `options.num_shards > 1` it evaluates one shard and writes only the
    shard's files (`shard.json`, `per_sample.npz`, `shown.npz`); `merge`
    turns the shards' folders into the report. Otherwise it writes the report.

    Returns:
        The report, or the shard's description for a shard.
    """
    options.validate()
    check_output_dir(output_dir)
    check_lpips(options, config.image_size)
    options = options.resolve(config)
    n_past, n_future = options.n_past, options.n_future
    eval_config = dataclasses.replace(
        config,
        n_past=n_past,
        n_future=n_future,
        eval_n_future=n_future,
        num_test_sequences=options.num_sequences,
        batch_size=options.batch_size,
    ).validate()
    datasets = make_datasets(eval_config)
    first, stop = options.shard_range
    test = datasets.test.unbatch().skip(first).take(stop - first).batch(options.batch_size)
    if options.verbose:
        print(f"Data: {datasets.description}", flush=True)
        part = f" (shard {options.shard_index + 1}/{options.num_shards})"
        print(
            f"Sampling {options.num_samples} futures of {n_future} frames after {n_past} context "
            f"frames for test sequences {first}..{stop - 1}"
            f"{part if options.num_shards > 1 else ''}, {options.batch_size} at a time.",
            flush=True,
        )
    started = time.monotonic()
    sample_metrics, shown = collect(
        model, test, n_past=n_past, n_future=n_future, options=options, first_index=first
    )
    shard = {
        "format_version": FORMAT_VERSION,
        "workdir": os.path.abspath(workdir) if workdir else "",
        "checkpoint_step": checkpoint_step,
        "config": config.to_dict(),
        "protocol": _protocol(options, datasets.description, model.dtype_policy.name),
        "shard": {"index": options.shard_index, "num_shards": options.num_shards},
        "sequences": [first, stop],
        "seconds": time.monotonic() - started,
        "num_shown": options.num_shown,
        "num_random_shown": options.num_random_shown,
    }
    sample_metrics.save(os.path.join(output_dir, PER_SAMPLE_FILE))
    shown_arrays = dict(
        index=np.array([s.index for s in shown], np.int64),
        clips=np.array([s.clip for s in shown], np.float32),
        samples=np.array([s.samples for s in shown], np.float32),
    )
    files.write_atomically(
        os.path.join(output_dir, SHOWN_FILE),
        lambda tmp: np.savez_compressed(tmp, **shown_arrays),
        ".npz",
    )
    files.write_json(os.path.join(output_dir, SHARD_FILE), shard)
    if options.num_shards > 1:
        if options.verbose:
            print(f"Wrote shard {options.shard_index} to {output_dir}; combine with --merge.")
        return shard
    return merge([output_dir], output_dir, verbose=options.verbose)


def _protocol(options: EvalOptions, test_split: str, precision: str) -> dict[str, Any]:
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


_LPIPS_DESCRIPTIONS = {
    "alex": "LPIPS v0.1 (Zhang et al. 2018) on torchvision's ImageNet AlexNet, the reference "
    "lpips package's default; grey frames repeated to RGB; lower is better",
    "vgg": "LPIPS v0.1 (Zhang et al. 2018) on torchvision's ImageNet VGG16; grey frames "
    "repeated to RGB; lower is better",
    "off": "not measured (--lpips=off)",
}


def check_lpips(options: EvalOptions, image_size: int | None = None) -> None:
    """Checks, before any sampling, that LPIPS can run: its weights and the frame size.

    Args:
        options: the evaluation's options.
        image_size: the frames' side; None checks the weights alone.


    Raises:
        RuntimeError: the weights package is not installed (the message gives the command).
        ValueError: frames too small for the network (the message says what to pass).
    """
    if options.lpips == "off":
        return
    lpips_weights.load_arrays(options.lpips)
    if image_size is not None:
        lpips.check_frame_size(options.lpips, image_size, image_size)


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
        rows = _shown_rows(shown, sample_metrics, options, protocol["n_past"])
        plots.write_video_grid(os.path.join(output_dir, GRID_FILE), rows, protocol["n_past"])
        plots.write_video_gif(os.path.join(output_dir, GIF_FILE), rows, protocol["n_past"])
        outputs.update(grid=GRID_FILE, gif=GIF_FILE)
    files.write_json(os.path.join(output_dir, METRICS_FILE), report)
    if verbose:
        print(_summary_text(report), flush=True)
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


def evaluate(
    workdir: str,
    output_dir: str,
    options: EvalOptions | None = None,
    *,
    precision: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Evaluates a training run's checkpoint on the test split.

    Args:
        workdir: the training run's folder.
        output_dir: folder for the report (created).
        options: what to evaluate and how (default: `EvalOptions()`); unset
            protocol values come from the training configuration.
        precision: precision policy to sample in (None: the run's).
        **fields: `EvalOptions` fields that replace those of `options`.

    Returns:
        The report written to `output_dir/metrics.json`.

    Raises:
        ValueError: a bad option (each named, with the fix).
        PermissionError: `output_dir` is not writable.
        FileNotFoundError: no such workdir, config.json or checkpoint.
        RuntimeError: the checkpoint does not match the saved configuration.

    Example:
        >>> report = evaluate("workdirs/quickstart", "/tmp/eval", num_samples=10,
        ...                   num_sequences=16)  # doctest: +SKIP
        >>> report["average"]["ssim"]["best"]["mean"]  # doctest: +SKIP
    """
    options = dataclasses.replace(options or EvalOptions(), **fields).validate()
    check_output_dir(output_dir)
    model, config, checkpoint_step = load_run(workdir, options.step, precision)
    return evaluate_run(model, config, checkpoint_step, output_dir, options, workdir=workdir)
