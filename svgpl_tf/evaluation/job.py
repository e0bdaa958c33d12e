"""The evaluation job: best-of-N SSIM / PSNR / MSE / LPIPS per future step, plots and videos.

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
sequence ranges gives the same numbers as one job. The other parts of
`svgpl_tf/evaluation/`: the options, the sampling loop, the metrics, the
statistics, LPIPS, the report and its plots, the comparison of several reports.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import numpy as np

from svgpl_tf import files
from svgpl_tf.config import Config
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.evaluation import lpips, report
from svgpl_tf.evaluation.options import EvalOptions
from svgpl_tf.evaluation.sampling import collect
from svgpl_tf.losses import lpips_weights
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.runs import restore_model


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
    report.check_output_dir(output_dir)
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
        "format_version": report.FORMAT_VERSION,
        "workdir": os.path.abspath(workdir) if workdir else "",
        "checkpoint_step": checkpoint_step,
        "config": config.to_dict(),
        "protocol": report.describe_protocol(
            options, datasets.description, model.dtype_policy.name
        ),
        "shard": {"index": options.shard_index, "num_shards": options.num_shards},
        "sequences": [first, stop],
        "seconds": time.monotonic() - started,
        "num_shown": options.num_shown,
        "num_random_shown": options.num_random_shown,
    }
    sample_metrics.save(os.path.join(output_dir, report.PER_SAMPLE_FILE))
    shown_arrays = dict(
        index=np.array([s.index for s in shown], np.int64),
        clips=np.array([s.clip for s in shown], np.float32),
        samples=np.array([s.samples for s in shown], np.float32),
    )
    files.write_atomically(
        os.path.join(output_dir, report.SHOWN_FILE),
        lambda tmp: np.savez_compressed(tmp, **shown_arrays),
        ".npz",
    )
    files.write_json(os.path.join(output_dir, report.SHARD_FILE), shard)
    if options.num_shards > 1:
        if options.verbose:
            print(f"Wrote shard {options.shard_index} to {output_dir}; combine with --merge.")
        return shard
    return report.merge([output_dir], output_dir, verbose=options.verbose)


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
    report.check_output_dir(output_dir)
    model, config, checkpoint_step = load_run(workdir, options.step, precision)
    return evaluate_run(model, config, checkpoint_step, output_dir, options, workdir=workdir)
