"""Time to quality: train a configuration and measure it against copy-last as it learns.

`time_to_quality(config, workdir)` trains `config` (or resumes it) and, every
`every` steps, samples `num_samples` futures of the first `num_sequences` test
sequences and records best-of-N SSIM per predicted step next to the
copy-last-frame baseline on the same frames (and, for reference, the SSIM of
an all-black frame, which the black background of SM-MNIST makes high). It
reports the first training wall time at which the model beats copy-last at
every predicted step.

Training time excludes the probes themselves: the clock is paused while a
probe samples and scores, so the figure is what a plain `svgpl_tf.train` run
of the same configuration would take to reach the same checkpoint (model
building, tracing and every training step are counted).

`WORKDIR/time_to_quality.json` holds every probe; `time_to_quality.png`
plots, for each probe, the best-of-N SSIM at each predicted step against the
training time, with copy-last's level at each step.

Example:
    >>> report = time_to_quality(config, "workdirs/qs", every=200)
    >>> report["first_beats_copy_last"]  # {"step": ..., "train_seconds": ...} or None
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from svgpl_tf import files, metrics, plots
from svgpl_tf.config import Config
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.evaluation import sampling, statistics
from svgpl_tf.evaluation.options import DEFAULT_SSIM_MODE, EvalOptions
from svgpl_tf.machine import machine_info
from svgpl_tf.train_lib import train

# Names of the files written in the workdir.
REPORT_FILE, PLOT_FILE = "time_to_quality.json", "time_to_quality.png"
# Seed of the probes' sampled futures (as the evaluation's default).
PROBE_SEED = 0


class QualityProbe(keras.callbacks.Callback):
    """Every `every` steps, best-of-N SSIM per predicted step against copy-last.

    Args:
        clips: test clips `[n, n_past + horizon, h, w, c]`.
        n_past: context frames.
        num_samples: sampled futures per clip (best of N by mean SSIM).
        every: steps between probes (and one at the end of training).
        ssim_mode: `"uniform"` or `"gaussian"` (see `svgpl_tf.metrics`).
        batch_size: clips sampled together.
        verbose: print one line per probe.
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
    ):
        super().__init__()
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
        ).validate()
        self.every = every
        self.verbose = verbose
        # SSIM of an all-black prediction: on SM-MNIST's black background it
        # is high, so it is reported as a second, sobering baseline.
        truth = clips[:, n_past:]  # [n, horizon, h, w, c]
        blank = metrics.ssim(np.zeros_like(truth), truth, ssim_mode).numpy()  # [n, horizon]
        self.blank_ssim = blank.mean(axis=0)
        self.probes: list[dict[str, Any]] = []
        self._paused = 0.0
        self._start = None
        self._last_step = None

    def train_seconds(self) -> float:
        return time.monotonic() - self._start - self._paused

    def on_train_begin(self, logs=None):
        if self._start is None:
            self._start = time.monotonic()

    def probe(self) -> dict[str, Any]:
        """Scores the model now; appends and returns the probe's record."""
        step = int(self.model.optimizer.iterations.numpy())
        if step == self._last_step:
            return self.probes[-1]
        seconds = self.train_seconds()
        began = time.monotonic()
        test = tf.data.Dataset.from_tensor_slices(self.clips).batch(self.options.batch_size)
        m, _ = sampling.collect(
            self.model, test, n_past=self.n_past, n_future=self.horizon, options=self.options
        )
        ssim = statistics.per_kind(m)["ssim"]
        best = ssim["best"].mean(axis=0)  # [horizon]
        copy_last = ssim["copy_last"].mean(axis=0)  # [horizon]
        record = {
            "step": step,
            "train_seconds": seconds,
            "best_ssim_per_step": best.tolist(),
            "mean_ssim_per_step": ssim["mean"].mean(axis=0).tolist(),
            "copy_last_ssim_per_step": copy_last.tolist(),
            "best_ssim": float(best.mean()),
            "copy_last_ssim": float(copy_last.mean()),
            "blank_ssim_per_step": self.blank_ssim.tolist(),
            "margin": float((best - copy_last).min()),
            "beats_copy_last": bool(np.all(best > copy_last)),
            "probe_seconds": time.monotonic() - began,
        }
        self._paused += record["probe_seconds"]
        self._last_step = step
        self.probes.append(record)
        if self.verbose:
            print(
                f"\n[probe] step {step} at {seconds:.0f}s of training: best-of-"
                f"{self.options.num_samples} SSIM {record['best_ssim']:.4f} vs copy-last "
                f"{record['copy_last_ssim']:.4f}; worst step margin {record['margin']:+.4f}"
                + (" (beats copy-last at every step)" if record["beats_copy_last"] else ""),
                flush=True,
            )
        return record

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.every == 0:
            self.probe()

    def on_train_end(self, logs=None):
        self.probe()


def first_beating(probes: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first probe that beats copy-last at every step, as `{step, train_seconds}`."""
    for p in probes:
        if p["beats_copy_last"]:
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
        workdir: a new training workdir (a resumed run's earlier steps are not
            timed, so the report would not be a time to quality).
        every: steps between probes.
        num_samples: futures per test sequence (best of N).
        num_sequences: the first test sequences of the fixed split.
        ssim_mode: SSIM window of the probes.
        verbose: Keras verbosity of training; probes print when > 0.

    Returns:
        The report written to `workdir/time_to_quality.json`.

    Raises:
        ValueError: bad arguments, or the workdir already holds checkpoints.
    """
    if every < 1 or num_samples < 1 or num_sequences < 1:
        raise ValueError("--probe_every, --probe_samples and --probe_sequences must be >= 1.")
    if os.path.isdir(os.path.join(workdir, "checkpoints")):
        raise ValueError(
            f"{workdir} already holds checkpoints: time to quality needs a new --workdir."
        )
    config = config.validate()
    probe_config = dataclasses.replace(
        config, num_test_sequences=num_sequences, batch_size=num_sequences
    ).validate()
    clips = next(iter(make_datasets(probe_config).test)).numpy()[:num_sequences]
    probe = QualityProbe(clips, config.n_past, num_samples, every, ssim_mode, verbose=verbose > 0)
    began = time.monotonic()
    train(config, workdir, verbose=verbose, extra_callbacks=[probe])
    report = {
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
        "probes": probe.probes,
        "first_beats_copy_last": first_beating(probe.probes),
        "total_seconds": time.monotonic() - began,
    }
    files.write_json(os.path.join(workdir, REPORT_FILE), report)
    plots.plot_time_to_quality(report, os.path.join(workdir, PLOT_FILE))
    return report
