"""Evaluation: best-of-N SSIM / PSNR / MSE per future step, plots and videos.

`evaluate(workdir, output_dir)` is the whole evaluation job; the binary
`svgpl_tf.evaluate` only turns flags into its arguments. The protocol is
SVG's: condition on `n_past` test frames, draw `num_samples` futures of
`n_future` frames per test sequence, and per sequence keep the sample with
the highest SSIM averaged over the predicted steps ("best"). The mean over all
samples and the sample of lowest mean SSIM ("worst") are reported too, and so
is the baseline that copies the last context frame ("copy_last"), on the same
sequences.

`output_dir` receives:

- `metrics.json`: configuration, checkpoint step, protocol, per-step mean and
  95% confidence interval over sequences of each metric for best / mean /
  worst / copy_last, their averages over the steps, and per-sequence SSIM;
- `per_sample.npz`: every metric of every sequence, sample and step;
- `ssim_per_step.png`, `psnr_per_step.png`, `ssim_per_sequence.png`;
- `samples.png` and `samples.gif`: a few test sequences with their ground
  truth, best sample and random samples.

Test sequence `i` (its index in the fixed test split) draws its samples from
the stateless key `seed * 2**32 + i`, so results do not depend on the batch
size, and a job split over several processes by sequence ranges gives the same
numbers as one job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Any

import numpy as np
import tensorflow as tf

from svgpl_tf import files, metrics, plots
from svgpl_tf.config import Config
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.models.svg import SAMPLING_BATCHNORM, CompiledSampler, SVGModel
from svgpl_tf.runs import restore_model

# SSIM mode of the reports unless asked otherwise (see the README).
DEFAULT_SSIM_MODE = "uniform"
# The four rows of every report: best / mean / worst of N samples, and the baseline.
KINDS = ("best", "mean", "worst", "copy_last")
# The metrics of every report.
METRICS = ("ssim", "psnr", "mse")
# Normal quantile of the two-sided 95% confidence interval.
Z_95 = 1.959963984540054
# Stride between the sample keys of two seeds: key of sequence i = seed * stride + i.
SEED_STRIDE = 2**32
# Version of the metrics.json layout.
FORMAT_VERSION = 1
# Names of the files written in the output folder.
METRICS_FILE = "metrics.json"
PER_SAMPLE_FILE = "per_sample.npz"
SHARD_FILE, SHOWN_FILE = "shard.json", "shown.npz"
SSIM_PLOT, PSNR_PLOT = "ssim_per_step.png", "psnr_per_step.png"
SEQUENCE_PLOT = "ssim_per_sequence.png"
GRID_FILE, GIF_FILE = "samples.png", "samples.gif"

SELECTION_RULE = (
    "best (worst): per sequence, the sample with the highest (lowest) SSIM averaged over "
    "the predicted steps; its PSNR and MSE are those of the same sample"
)


# ------------------------------------------------------------------ options


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """What to evaluate and how.

    Args:
        num_samples: sampled futures per test sequence; None takes the
            training configuration's `eval_num_samples` (the paper: 100).
        num_sequences: test sequences, the first ones of the fixed test split;
            None takes the configuration's `num_test_sequences` (the paper: 256).
        n_past: context frames; None takes the training configuration's.
        n_future: predicted frames; None takes the configuration's evaluation
            horizon (`eval_n_future`, else `n_future`). It may exceed the
            training horizon.
        step: checkpoint step to evaluate; None takes the latest.
        ssim_mode: `"uniform"` (skimage's SSIM) or `"gaussian"` (tf.image.ssim's).
        batch_size: test sequences sampled together in one call (each with
            all its samples: batch_size * num_samples rows).
        seed: seed of the sampled futures and of the samples shown.
        num_shown: test sequences in samples.png / samples.gif.
        num_random_shown: random samples shown per sequence, besides the best.
        verbose: print progress and a summary.
        shard_index: which part of the test sequences this job evaluates.
        num_shards: number of parts; each part is a contiguous range of test
            sequences, and `merge` combines the parts' output folders.
        jit_compile: compile the sampler with XLA. It draws other futures
            than the plain graph for the same seed (TensorFlow's stateless
            random ops under XLA; tensorflow/tensorflow#121243), equally
            random and reproducible, so compare reports made with the same
            setting.
        sampling_batchnorm: BatchNorm statistics while sampling, one of
            `SAMPLING_BATCHNORM` (see `SVGModel.sample`). With `"batch"` (the
            reference's generation) a sequence's futures depend on the
            `batch_size` sequences sampled with it, so reports are comparable
            only at the same `batch_size`, and the samples' keys alone no
            longer fix them.

    Example:
        >>> EvalOptions(num_samples=10, num_sequences=16).validate().batch_size
        8
    """

    def resolve(self, config: Config) -> EvalOptions:
        """Fills the unset protocol fields from the training configuration."""
        return dataclasses.replace(
            self,
            num_samples=self.num_samples or config.eval_num_samples,
            num_sequences=self.num_sequences or config.num_test_sequences,
            n_past=self.n_past or config.n_past,
            n_future=self.n_future or config.eval_horizon,
        ).validate()

    @property
    def shard_range(self) -> tuple[int, int]:
        """`[first, stop)`: the test sequences of this shard (after `resolve`)."""
        n, k = self.num_sequences, self.num_shards
        return self.shard_index * n // k, (self.shard_index + 1) * n // k

    num_samples: int | None = None
    num_sequences: int | None = None
    n_past: int | None = None
    n_future: int | None = None
    step: int | None = None
    ssim_mode: str = DEFAULT_SSIM_MODE
    batch_size: int = 8
    seed: int = 0
    num_shown: int = 4
    num_random_shown: int = 3
    verbose: bool = True
    shard_index: int = 0
    num_shards: int = 1
    jit_compile: bool = False
    sampling_batchnorm: str = "moving"

    def validate(self) -> EvalOptions:
        """Raises ValueError naming each bad option and the fix; returns self."""
        errors = []
        for name in ("num_samples", "num_sequences", "batch_size", "num_shards"):
            value = getattr(self, name)
            if value is not None and value < 1:
                errors.append(f"--{name}={value}: must be >= 1.")
        if self.num_shards >= 1 and not 0 <= self.shard_index < self.num_shards:
            errors.append(
                f"--shard_index={self.shard_index}: must be in [0, --num_shards={self.num_shards})."
            )
        for name in ("n_past", "n_future"):
            value = getattr(self, name)
            if value is not None and value < 1:
                errors.append(f"--{name}={value}: must be >= 1 (or unset for the training value).")
        if self.step is not None and self.step < 0:
            errors.append(f"--step={self.step}: must be >= 0 (or unset for the latest).")
        if self.ssim_mode not in metrics.SSIM_MODES:
            errors.append(f"--ssim_mode={self.ssim_mode!r}: choose one of {metrics.SSIM_MODES}.")
        if self.sampling_batchnorm not in SAMPLING_BATCHNORM:
            errors.append(
                f"--sampling_batchnorm={self.sampling_batchnorm!r}: choose one of "
                f"{SAMPLING_BATCHNORM}."
            )
        if not 0 <= self.seed < 2**31:
            errors.append(f"--seed={self.seed}: must be in [0, 2**31).")
        for name in ("num_shown", "num_random_shown"):
            if getattr(self, name) < 0:
                errors.append(f"{name}={getattr(self, name)}: must be >= 0.")
        if errors:
            raise ValueError("Invalid evaluation options:\n  " + "\n  ".join(errors))
        return self


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


def sequence_seeds(seed: int, indices) -> np.ndarray:
    """Sample seeds `[n]` int64 of the test sequences `indices`: `seed * 2**32 + i`.

    Example:
        >>> sequence_seeds(1, [0, 5]).tolist()
        [4294967296, 4294967301]
    """
    return seed * SEED_STRIDE + np.asarray(indices, np.int64)


# ---------------------------------------------------------------- sampling


@dataclasses.dataclass
class SampleMetrics:
    """Every metric of every evaluated sequence, sample and future step.

    `index [n]` are the sequences' positions in the test split; `ssim`,
    `psnr`, `mse` are `[n, samples, time]`; `copy_last_*` are `[n, time]`.
    """

    index: np.ndarray
    ssim: np.ndarray
    psnr: np.ndarray
    mse: np.ndarray
    copy_last_ssim: np.ndarray
    copy_last_psnr: np.ndarray
    copy_last_mse: np.ndarray

    @classmethod
    def concatenate(cls, parts: list[SampleMetrics]) -> SampleMetrics:
        """Joins the metrics of disjoint sets of sequences, sorted by index."""
        fields = {f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in _fields()}
        order = np.argsort(fields["index"], kind="stable")
        return cls(**{name: value[order] for name, value in fields.items()})

    def save(self, path: str) -> None:
        """Writes the arrays as a `.npz` file, atomically."""
        arrays = dataclasses.asdict(self)
        files.write_atomically(path, lambda tmp: np.savez_compressed(tmp, **arrays), ".npz")

    @classmethod
    def load(cls, path: str) -> SampleMetrics:
        with np.load(path) as data:
            return cls(**{f.name: data[f.name] for f in _fields()})


def _fields():
    return dataclasses.fields(SampleMetrics)


@dataclasses.dataclass
class ShownSequence:
    """A test sequence kept for the figures: `clip [time, h, w, c]`, `samples [s, T, h, w, c]`."""

    index: int
    clip: np.ndarray
    samples: np.ndarray


def make_eval_step(
    model: SVGModel,
    n_past: int,
    n_future: int,
    num_samples: int,
    ssim_mode: str,
    frame_shape: tuple[int, int, int],
    jit_compile: bool = False,
    sampling_batchnorm: str = "moving",
):
    """A compiled function: test clips -> metrics of their sampled futures.

    The function takes clips `[b, n_past + n_future, h, w, c]`, their sample
    seeds `[b]` and `keep`, and returns a dict of `ssim`, `psnr`, `mse`
    `[b, num_samples, n_future]`, `copy_last_{ssim,psnr,mse}` `[b, n_future]`
    and `frames`, the samples of the first `keep` clips
    `[keep, num_samples, n_future, h, w, c]`. All samples of all clips are
    drawn in one `model.sample` call, compiled by XLA with `jit_compile`,
    with the BatchNorm statistics `sampling_batchnorm`.
    """
    spec = (
        tf.TensorSpec([None, n_past + n_future, *frame_shape], tf.float32),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([], tf.int32),
    )

    # The slice by `keep` below stays outside the (XLA-)compiled sampler.
    sampler = CompiledSampler(model, jit_compile=jit_compile, batchnorm=sampling_batchnorm)

    # No autograph: every loop in here is a tf.while_loop or a static Python loop already.
    @tf.function(input_signature=spec, autograph=False)
    def step(clips, seeds, keep):
        context, truth = clips[:, :n_past], clips[:, n_past:]  # [b, n_past | T, h, w, c]
        samples = sampler(context, n_future, num_samples, seeds)
        samples = tf.ensure_shape(
            samples, [None, num_samples, n_future, *frame_shape]
        )  # [b, s, T, h, w, c]
        target = truth[:, None]  # [b, 1, T, h, w, c]
        last = context[:, -1:]  # [b, 1, h, w, c], broadcast over T
        return {
            "ssim": metrics.ssim(samples, target, ssim_mode),
            "psnr": metrics.psnr(samples, target),
            "mse": metrics.mse(samples, target),
            "copy_last_ssim": metrics.ssim(last, truth, ssim_mode),
            "copy_last_psnr": metrics.psnr(last, truth),
            "copy_last_mse": metrics.mse(last, truth),
            "frames": samples[:keep],
        }

    return step


class Progress:
    """One progress line: sequences done, sequence-samples per second, ETA."""

    def __init__(self, total: int, num_samples: int, enabled: bool = True, stream=None):
        self.total = total
        self.num_samples = num_samples
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.start = time.monotonic()
        self.done = 0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        rate = self.done * self.num_samples / max(elapsed, 1e-9)
        eta = (self.total - self.done) * self.num_samples / max(rate, 1e-9)
        line = (
            f"sequences {self.done}/{self.total} ({100 * self.done / self.total:3.0f}%)"
            f" | {rate:,.0f} sequence-samples/s | elapsed {elapsed:.0f}s | eta {eta:.0f}s"
        )
        end = "\n" if not self._tty or self.done >= self.total else ""
        print(("\r" if self._tty else "") + line, end=end, file=self.stream, flush=True)


def collect(
    model: SVGModel,
    test: tf.data.Dataset,
    *,
    n_past: int,
    n_future: int,
    options: EvalOptions,
    first_index: int = 0,
) -> tuple[SampleMetrics, list[ShownSequence]]:
    """Samples futures of every test clip and measures them.

    Args:
        model: the trained model.
        test: batches of test clips `[b, n_past + n_future, h, w, c]`, in
            test-split order starting at sequence `first_index`.
        n_past: context frames.
        n_future: predicted frames.
        options: sample count, SSIM mode, seed, sequences shown, progress.
        first_index: test-split index of the first clip of `test`.

    Returns:
        The metrics of every clip, and the clips and samples of the first
        `options.num_shown` ones.
    """
    frame_shape = (model.image_size, model.image_size, model.channels)
    step = make_eval_step(
        model,
        n_past,
        n_future,
        options.num_samples,
        options.ssim_mode,
        frame_shape,
        jit_compile=options.jit_compile,
        sampling_batchnorm=options.sampling_batchnorm,
    )
    first, stop = options.shard_range
    progress = Progress(stop - first, options.num_samples, options.verbose)
    parts, shown = [], []
    index = first_index
    for clips in test:  # [b, n_past + n_future, h, w, c]
        b = int(clips.shape[0])
        indices = np.arange(index, index + b)
        keep = max(0, min(b, options.num_shown - index))  # the first sequences of the split
        out = step(clips, sequence_seeds(options.seed, indices), tf.constant(keep, tf.int32))
        out = {k: v.numpy() for k, v in out.items()}
        for name in ("ssim", "psnr", "mse"):
            if not np.all(np.isfinite(out[name])):
                raise RuntimeError(
                    f"Non-finite {name} for test sequences {index}..{index + b - 1}: the model "
                    "produced NaN or infinite frames; check the checkpoint."
                )
        frames = out.pop("frames")
        clips = clips.numpy()
        shown += [ShownSequence(int(indices[i]), clips[i], frames[i]) for i in range(keep)]
        parts.append(SampleMetrics(index=indices, **out))
        index += b
        progress.update(b)
    if not parts:
        raise ValueError("The test split is empty: nothing to evaluate.")
    return SampleMetrics.concatenate(parts), shown


# ------------------------------------------------------------- statistics


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
        f"Selection: {SELECTION_RULE}.",
        "Averages over the predicted steps, +- the 95% CI half-width over sequences:",
        f"{'':<11}{'SSIM':>18}{'PSNR (dB)':>18}{'MSE':>20}",
    ]
    for kind in KINDS:
        cells = []
        for name, fmt in (("ssim", ".4f"), ("psnr", ".2f"), ("mse", ".5f")):
            s = report["average"][name][kind]
            half = (s["ci_high"] - s["ci_low"]) / 2
            cells.append(f"{s['mean']:{fmt}} +- {half:{fmt}}")
        lines.append(f"{kind:<11}{cells[0]:>18}{cells[1]:>18}{cells[2]:>20}")
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
        "selection": SELECTION_RULE,
        "mean": "the average over all samples",
        "copy_last": "baseline: every predicted frame is the last context frame",
        "confidence_interval": "95%, normal approximation over sequences: "
        "mean +- 1.96 * sd / sqrt(num_sequences)",
    }


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
    outputs = {
        "per_sample": PER_SAMPLE_FILE,
        "ssim_plot": SSIM_PLOT,
        "psnr_plot": PSNR_PLOT,
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
        **summarize(sample_metrics),
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
    for name, path in (("ssim", SSIM_PLOT), ("psnr", PSNR_PLOT)):
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
    *,
    num_samples: int | None = None,
    num_sequences: int | None = None,
    n_past: int | None = None,
    n_future: int | None = None,
    step: int | None = None,
    ssim_mode: str = DEFAULT_SSIM_MODE,
    batch_size: int = 8,
    seed: int = 0,
    num_shown: int = 4,
    num_random_shown: int = 3,
    verbose: bool = True,
    shard_index: int = 0,
    num_shards: int = 1,
    jit_compile: bool = False,
    sampling_batchnorm: str = "moving",
    precision: str | None = None,
) -> dict[str, Any]:
    """Evaluates a training run's checkpoint on the test split.

    Args:
        workdir: the training run's folder.
        output_dir: folder for the report (created).
        num_samples, num_sequences, n_past, n_future, step, ssim_mode,
        batch_size, seed, num_shown, num_random_shown, verbose, shard_index,
        num_shards, jit_compile, sampling_batchnorm: see `EvalOptions`; unset protocol values
            come from the training configuration.
        precision: precision policy to sample in (None: the run's).

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
    options = EvalOptions(
        num_samples=num_samples,
        num_sequences=num_sequences,
        n_past=n_past,
        n_future=n_future,
        step=step,
        ssim_mode=ssim_mode,
        batch_size=batch_size,
        seed=seed,
        num_shown=num_shown,
        num_random_shown=num_random_shown,
        verbose=verbose,
        shard_index=shard_index,
        num_shards=num_shards,
        jit_compile=jit_compile,
        sampling_batchnorm=sampling_batchnorm,
    ).validate()
    check_output_dir(output_dir)
    model, config, checkpoint_step = load_run(workdir, options.step, precision)
    return evaluate_run(model, config, checkpoint_step, output_dir, options, workdir=workdir)


# ---------------------------------------------------------------- compare


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
        f"{'PSNR best':>16}{'PSNR copy':>11}"
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
            f"{_with_ci(psnr_best, '.2f'):>16}{avg['psnr']['copy_last']['mean']:>11.2f}"
        )
    lines.append(
        "Averages over the predicted frames; +- is the 95% CI half-width over sequences; "
        f"{SELECTION_RULE}."
    )
    keys = ("ssim_mode", "n_past", "n_future", "num_sequences", "num_samples")
    differing = [k for k in keys if len({r["protocol"][k] for r in reports}) > 1]
    if differing:
        lines.append(
            f"WARNING: the runs differ in {', '.join(differing)}: their numbers are not "
            "directly comparable (a different clip length also renders different test sequences)."
        )
    return "\n".join(lines)


def _with_ci(stats: dict[str, float], fmt: str) -> str:
    half = (stats["ci_high"] - stats["ci_low"]) / 2
    return f"{stats['mean']:{fmt}} +- {half:{fmt}}"
