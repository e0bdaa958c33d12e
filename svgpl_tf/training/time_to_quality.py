"""Time to quality: train a configuration and measure it against copy-last as it learns.

`time_to_quality(config, workdir)` trains `config` (or resumes it) and, every
`every` steps, samples `num_samples` futures of the first `num_sequences` test
sequences and records best-of-N SSIM and PSNR per predicted step next to two
baselines on the same frames: copy the last context frame, and an all-black
frame (which the black background of SM-MNIST makes strong). It reports the
first training wall time at which the model beats both at every predicted
step, in SSIM and in PSNR (`statistics.beats_baselines`), and, for
comparison with older reports, the first at which it beats copy-last in SSIM.

Training time excludes the probes themselves: the clock is paused while a
probe samples and scores, so the figure is what a plain `svgpl_tf.train` run
of the same configuration would take to reach the same checkpoint (model
building, tracing and every training step are counted).

`WORKDIR/time_to_quality.json` holds every probe; `time_to_quality.png`
plots, for each probe, the best-of-N SSIM and PSNR at each predicted step
against the training time, with the better baseline's level at each step. The
report is rewritten after every probe, so a run stopped early keeps its probes.
A warm start (`config.init_from`) is probed once more before its first step,
so its curve starts from the weights it continues (step 0, 0 s).

Example:
    >>> report = time_to_quality(config, "workdirs/qs", every=200)
    >>> report["first_beats_baselines"]  # {"step": ..., "train_seconds": ...} or None
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from svgpl_tf import files
from svgpl_tf.config import Config, conflicts
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.evaluation import plots, protocol, sampling, statistics
from svgpl_tf.evaluation.lpips import check_frame_size
from svgpl_tf.evaluation.options import DEFAULT_SSIM_MODE, EvalOptions
from svgpl_tf.losses import lpips_weights
from svgpl_tf.machine import machine_info
from svgpl_tf.runs import CHECKPOINT_DIR
from svgpl_tf.training.loop import train

# Names of the files written in the workdir.
REPORT_FILE, PLOT_FILE = "time_to_quality.json", "time_to_quality.png"
# Seed of the probes' sampled futures (as the evaluation's default).
PROBE_SEED = 0


class QualityProbe(keras.callbacks.Callback):
    """Every `every` steps, best-of-N SSIM, PSNR and LPIPS per predicted step against the baselines.

    The baselines are copy-last and an all-black frame
    (`protocol.BASELINES`); a probe beats them when, at every predicted
    step, the best-of-N mean is better than the better baseline in SSIM, in
    PSNR and in LPIPS (`statistics.beats_baselines`).

    Args:
        clips: test clips `[n, n_past + horizon, h, w, c]`.
        n_past: context frames.
        num_samples: sampled futures per clip (best of N by mean SSIM).
        every: steps between probes (and one at the end of training).
        ssim_mode: `"uniform"` or `"gaussian"` (see `svgpl_tf.evaluation.metrics`).
        batch_size: clips sampled together.
        verbose: print one line per probe.
        on_probe: called with the list of probes after each probe (the
            report is written there, so that a run stopped early keeps it).
        lpips: the LPIPS network of the probes (`"alex"`, `"vgg"`), part of
            the rule where measured, or `"off"`. Its weights are checked here,
            before any training.
        probe_at_start: probe once more before the first step of a run that
            starts at step 0 (a warm start's starting point).
        previous: the probes of the run this one resumes (its report's
            `probes`). The clock continues from the last one's training time,
            plus the steps trained after it and before the checkpoint the run
            resumes from, timed at that run's mean seconds per step
            (`resumed` records the estimate).
    """

    def __init__(
        self,
        clips: np.ndarray,
        n_past: int,
        num_samples: int,
        every: int,
        ssim_mode: str = DEFAULT_SSIM_MODE,
        batch_size: int = 8,
        verbose: bool = True,
        on_probe: Callable[[list[dict[str, Any]]], None] | None = None,
        lpips: str = "alex",
        probe_at_start: bool = False,
        previous: list[dict[str, Any]] | None = None,
    ):
        super().__init__()
        if lpips != "off":
            lpips_weights.load_arrays(lpips)  # RuntimeError with the pip command
            check_frame_size(lpips, *clips.shape[2:4])
        self.clips = clips  # [n, n_past + horizon, h, w, c]
        self.n_past = n_past
        self.horizon = clips.shape[1] - n_past
        self.options = EvalOptions(
            num_samples=num_samples,
            num_sequences=len(clips),
            n_past=n_past,
            n_future=self.horizon,
            ssim_mode=ssim_mode,
            batch_size=batch_size,
            seed=PROBE_SEED,
            num_shown=0,
            verbose=False,
            lpips=lpips,
        ).validate()
        self.every = every
        self.verbose = verbose
        self.on_probe = on_probe
        self.probe_at_start = probe_at_start
        self.probes: list[dict[str, Any]] = list(previous or [])
        self.resumed: dict[str, Any] | None = None
        self._paused = 0.0
        self._offset = 0.0
        self._start = None
        self._last_step = self.probes[-1]["step"] if self.probes else None
        self._step = self._step_model = None

    def train_seconds(self) -> float:
        return self._offset + time.monotonic() - self._start - self._paused

    def on_train_begin(self, logs=None):
        if self._start is None:
            self._start = time.monotonic()
        step = int(self.model.optimizer.iterations.numpy())
        if self.probes and self.resumed is None:
            last = self.probes[-1]
            per_step = last["train_seconds"] / last["step"] if last["step"] > 0 else 0.0
            estimated = max(step - last["step"], 0) * per_step
            self._offset = last["train_seconds"] + estimated
            self.resumed = {
                "step": step,
                "after_probe_step": last["step"],
                "estimated_seconds": estimated,
            }
        if self.probe_at_start and step == 0:
            self.probe()

    def probe(self) -> dict[str, Any]:
        """Scores the model now; appends and returns the probe's record."""
        step = int(self.model.optimizer.iterations.numpy())
        if step == self._last_step:
            return self.probes[-1]
        seconds = self.train_seconds()
        began = time.monotonic()
        test = tf.data.Dataset.from_tensor_slices(self.clips).batch(self.options.batch_size)
        if self._step is None or self._step_model is not self.model:
            # Traced once per model: every probe measures the same variables.
            self._step = sampling.options_step(self.model, self.n_past, self.horizon, self.options)
            self._step_model = self.model
        m, _ = sampling.collect(
            self.model,
            test,
            n_past=self.n_past,
            n_future=self.horizon,
            options=self.options,
            step=self._step,
        )
        kinds = statistics.per_kind(m)
        means = statistics.step_means(kinds, ("best", "mean", *protocol.BASELINES))
        rule = statistics.verdict(kinds)
        copy_rule = statistics.beats_baselines(
            {"ssim": means["best"]["ssim"]}, {"copy_last": {"ssim": means["copy_last"]["ssim"]}}
        )
        record = {"step": step, "train_seconds": seconds}
        for kind, by_metric in means.items():
            for name, values in by_metric.items():
                record[f"{kind}_{name}_per_step"] = values.tolist()
                record[f"{kind}_{name}"] = float(values.mean())
        record.update(
            margin=copy_rule["margin"]["ssim"],
            beats_copy_last=copy_rule["beats"],
            baseline_margin=rule["margin"],
            beats_baselines=rule["beats"],
            probe_seconds=time.monotonic() - began,
        )
        self._paused += record["probe_seconds"]
        self._last_step = step
        self.probes.append(record)
        if self.verbose:
            print(
                f"\n[probe] step {step} at {seconds:.0f}s of training: best-of-"
                f"{self.options.num_samples} SSIM {record['best_ssim']:.4f} (copy-last "
                f"{record['copy_last_ssim']:.4f}, blank {record['blank_ssim']:.4f}), PSNR "
                f"{record['best_psnr']:.2f} dB (copy-last {record['copy_last_psnr']:.2f}, "
                f"blank {record['blank_psnr']:.2f}); worst step's lead over the better "
                f"baseline: SSIM {rule['margin']['ssim']:+.4f}, "
                f"PSNR {rule['margin']['psnr']:+.2f} dB"
                + (" (beats both baselines at every step)" if rule["beats"] else ""),
                flush=True,
            )
        if self.on_probe is not None:
            self.on_probe(self.probes)
        return record

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.every == 0:
            self.probe()

    def on_train_end(self, logs=None):
        self.probe()


def first_beating(
    probes: list[dict[str, Any]], key: str = "beats_baselines"
) -> dict[str, Any] | None:
    """The first probe whose `key` holds, as `{step, train_seconds}`.

    By default `key` is "beats_baselines": both baselines at every step.
    """
    for p in probes:
        if p.get(key):
            return {"step": p["step"], "train_seconds": p["train_seconds"]}
    return None


def time_to_quality(
    config: Config,
    workdir: str,
    every: int = 200,
    num_samples: int = 20,
    num_sequences: int = 32,
    ssim_mode: str = DEFAULT_SSIM_MODE,
    verbose: int = 1,
) -> dict[str, Any]:
    """Trains `config` in `workdir`, probing quality every `every` steps.

    Args:
        config: the training configuration (its evaluation horizon is probed).
        workdir: a new training workdir, or the workdir of a stopped time to
            quality run of the same configuration and probe protocol, which
            then resumes from its latest checkpoint and keeps its probes
            (`QualityProbe`'s `previous`; the report's `resumed` lists each
            restart and its estimated seconds).
        every: steps between probes.
        num_samples: futures per test sequence (best of N).
        num_sequences: the first test sequences of the fixed split.
        ssim_mode: SSIM window of the probes.
        verbose: Keras verbosity of training; probes print when > 0.

    Returns:
        The report written to `workdir/time_to_quality.json`.

    Raises:
        ValueError: bad arguments, or the workdir holds checkpoints of another
            run (not this configuration and protocol under time to quality).
    """
    if every < 1 or num_samples < 1 or num_sequences < 1:
        raise ValueError("--probe_every, --probe_samples and --probe_sequences must be >= 1.")
    config = config.validate()
    probe_config = dataclasses.replace(
        config, num_test_sequences=num_sequences, batch_size=num_sequences
    ).validate()
    clips = next(iter(make_datasets(probe_config).test)).numpy()[:num_sequences]
    began = time.monotonic()
    header = {
        "config": config.to_dict(),
        "protocol": {
            "num_sequences": int(len(clips)),
            "num_samples": num_samples,
            "n_past": config.n_past,
            "n_future": int(clips.shape[1] - config.n_past),
            "ssim_mode": ssim_mode,
            "seed": PROBE_SEED,
            "every": every,
            "clock": "training wall time, probes excluded",
        },
        "machine": machine_info(),
        "rule": protocol.BEATS_RULE,
    }
    earlier = _resumable_report(workdir, header)
    report = {}

    def write(probes: list[dict[str, Any]]) -> None:
        resumed = list(earlier.get("resumed", []))
        if probe.resumed is not None:
            resumed.append({**probe.resumed, "machine": header["machine"]})
        report.update(
            header,
            probes=probes,
            resumed=resumed,
            first_beats_baselines=first_beating(probes),
            first_beats_copy_last=first_beating(probes, "beats_copy_last"),
            total_seconds=time.monotonic() - began,
        )
        files.write_json(os.path.join(workdir, REPORT_FILE), report)
        plots.plot_time_to_quality(report, os.path.join(workdir, PLOT_FILE))

    probe = QualityProbe(
        clips,
        config.n_past,
        num_samples,
        every,
        ssim_mode,
        verbose=verbose > 0,
        on_probe=write,
        probe_at_start=bool(config.init_from),
        previous=earlier.get("probes"),
    )
    train(config, workdir, verbose=verbose, extra_callbacks=[probe])
    return report


def _resumable_report(workdir: str, header: dict[str, Any]) -> dict[str, Any]:
    """The report of the stopped run in `workdir` that this one resumes, or
    {} for a new workdir.

    Raises:
        ValueError: the workdir holds checkpoints without a report, or of
            another configuration or probe protocol.
    """
    if not os.path.isdir(os.path.join(workdir, CHECKPOINT_DIR)):
        return {}
    path = os.path.join(workdir, REPORT_FILE)
    if not os.path.isfile(path):
        raise ValueError(
            f"{workdir} holds checkpoints but no {REPORT_FILE}: time to quality needs a new "
            "--workdir, or the workdir of a stopped time to quality run to resume."
        )
    with open(path) as f:
        earlier = json.load(f)
    differ = conflicts(Config.from_dict(earlier["config"]), Config.from_dict(header["config"]))
    differ += sorted(
        f"probe {k}"
        for k in header["protocol"]
        if k != "clock" and earlier.get("protocol", {}).get(k) != header["protocol"][k]
    )
    if differ or not earlier.get("probes"):
        what = ", ".join(differ) if differ else "no probe yet"
        raise ValueError(
            f"{workdir} holds a time to quality run that this one cannot resume ({what}): "
            "use a new --workdir, or the same flags to resume it."
        )
    return earlier
