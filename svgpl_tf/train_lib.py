"""Training: builds data, model and callbacks from a `Config`, fits, resumes.

`train(config, workdir)` is the whole training program; the binary
`svgpl_tf.train` only turns flags into a `Config` and calls it. The workdir's
layout, the model and the checkpoints are `svgpl_tf.runs`'s.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from svgpl_tf import distribute, files, machine, runs, visualize
from svgpl_tf.config import Config
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.losses.perceptual import VGGPerceptualLoss
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.runs import CHECKPOINT_DIR

# Seed of the sampled futures written as images, fixed so runs compare.
SAMPLE_SEED = 0
# Test clips and samples per clip in the sample images.
NUM_SAMPLE_CLIPS, NUM_SAMPLES_SHOWN = 4, 3


# --------------------------------------------------------------- callbacks


class StopAtStep(keras.callbacks.Callback):
    """Stops training once the optimizer has taken `total_steps` steps."""

    def __init__(self, total_steps: int):
        super().__init__()
        self.total_steps = total_steps

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.total_steps:
            self.model.stop_training = True


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint every `every` steps and at the end of training."""

    def __init__(self, manager: tf.train.CheckpointManager, every: int):
        super().__init__()
        self.manager = manager
        self.every = every
        self.last_saved = None

    def _save(self):
        step = int(self.model.optimizer.iterations.numpy())
        if step != self.last_saved:
            self.manager.save(checkpoint_number=step)
            self.last_saved = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.every == 0:
            self._save()

    def on_train_end(self, logs=None):
        self._save()


class ProgressLine(keras.callbacks.Callback):
    """Progress in the run's own steps: `step 120/2400  loss 0.0123 ...  0.25 s/step  ETA 9.2 min`.

    On a terminal one line is rewritten in place, at most 4 times a second;
    otherwise (a log file, a pipe) a plain line is printed every `every` steps
    and at the last step, without escape codes.

    Args:
        start: the step the run starts from (a resumed run's checkpoint).
        total: the run's total steps (`--steps`).
        every: steps between two lines when not on a terminal.
        stream: where to write (default: stdout).
        terminal: rewrite one line (default: whether `stream` is a terminal).
    """

    def __init__(self, start: int, total: int, every: int, stream=None, terminal=None):
        super().__init__()
        self.start, self.total, self.every = start, total, max(1, every)
        self.stream = stream or sys.stdout
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.terminal = is_tty if terminal is None else terminal
        self._began = self._shown = None

    def on_train_begin(self, logs=None):
        self._began = self._shown = time.monotonic()

    def _line(self, step: int, logs: dict) -> str:
        done = step - self.start
        per_step = (time.monotonic() - self._began) / max(done, 1)
        terms = "  ".join(f"{k} {float(v):.4g}" for k, v in sorted((logs or {}).items()))
        eta = (self.total - step) * per_step / 60
        return (
            f"step {step}/{self.total}  {terms}  {per_step:.3f} s/step  ETA {eta:.1f} min".rstrip()
        )

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        last = step >= self.total
        if self.terminal:
            now = time.monotonic()
            if last or now - self._shown >= 0.25:
                self._shown = now
                self.stream.write("\r" + self._line(step, logs) + ("\n" if last else ""))
                self.stream.flush()
        elif last or (step - self.start) % self.every == 0:
            self.stream.write(self._line(step, logs) + "\n")
            self.stream.flush()


class ScalarSummaries(keras.callbacks.Callback):
    """Writes the epoch's mean loss terms to TensorBoard at the global step."""

    def __init__(self, writer):
        super().__init__()
        self.writer = writer

    def on_epoch_end(self, epoch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        with self.writer.as_default(step=step):
            for name, value in (logs or {}).items():
                tf.summary.scalar(name, value)
        self.writer.flush()


class SampleImages(keras.callbacks.Callback):
    """Every `every` steps, samples futures of fixed test clips as images.

    Each clip gives one row of ground truth and `num_samples` rows of
    samples (context frames followed by predicted frames), written to
    `workdir/samples/step_XXXXXXX.png` and to TensorBoard.
    """

    def __init__(self, clips, n_past, every, workdir, writer, num_samples=NUM_SAMPLES_SHOWN):
        super().__init__()
        self.clips = clips  # [b, T, h, w, c]
        self.n_past = n_past
        self.every = every
        self.workdir = workdir
        self.writer = writer
        self.num_samples = num_samples
        self._sample = None

    def write(self, step: int) -> str:
        if self._sample is None:
            self._sample = tf.function(self.model.sample, reduce_retracing=True)
        ctx = self.clips[:, : self.n_past]
        horizon = self.clips.shape[1] - self.n_past
        samples = self._sample(ctx, horizon, self.num_samples, SAMPLE_SEED).numpy()
        rows = []
        for i in range(self.clips.shape[0]):
            rows.append(self.clips[i])
            for s in range(self.num_samples):
                rows.append(np.concatenate([self.clips[i, : self.n_past], samples[i, s]], 0))
        image = visualize.frames_grid(np.stack(rows))
        path = os.path.join(self.workdir, "samples", f"step_{step:07d}.png")
        visualize.write_png(path, image)
        with self.writer.as_default(step=step):
            tf.summary.image("samples", image[None])
        return path

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every == 0:
            self.write(step)


# ------------------------------------------------------------------- train


def check_disk_space(workdir: str, model: SVGModel, keep: int) -> None:
    """Fails before training when the disk cannot hold the checkpoints.

    A checkpoint holds every variable plus Adam's two slots per trainable one
    (float32); `keep` of them plus the one being written must fit.
    """
    per_checkpoint = 4 * (
        sum(int(np.prod(v.shape)) for v in model.weights) + 2 * runs.count_params(model)
    )
    need = per_checkpoint * (keep + 1)
    free = shutil.disk_usage(workdir).free
    if free < need:
        raise OSError(
            f"{workdir} has {free / 2**20:.0f} MiB free but {keep + 1} checkpoints of this "
            f"model need about {need / 2**20:.0f} MiB; free space or lower --keep_checkpoints."
        )


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training when a loss term is NaN or infinite, before any save.

    It must come before `PeriodicCheckpoint` in the callback list, so that the
    weights of a non-finite step are never written: the last good checkpoint
    stays the latest one.
    """

    def __init__(self, checkpoint_dir: str):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir

    def on_train_batch_end(self, batch, logs=None):
        values = {k: float(v) for k, v in (logs or {}).items()}
        bad = sorted(k for k, v in values.items() if not math.isfinite(v))
        if bad:
            step = int(self.model.optimizer.iterations.numpy())
            terms = ", ".join(f"{k}={v:.6g}" for k, v in sorted(values.items()))
            last = tf.train.latest_checkpoint(self.checkpoint_dir)
            raise FloatingPointError(
                f"Training stopped at step {step}: non-finite {', '.join(bad)} "
                f"(epoch means: {terms}). The last good checkpoint is {last} and is "
                "intact; lower --learning_rate or check the data, then run again to resume."
            )


def train(
    config: Config,
    workdir: str,
    explicit: set[str] | None = None,
    verbose: int = 1,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> SVGModel:
    """Trains (or resumes) a run up to `config.steps` total steps.

    Under a multi-worker strategy every worker runs this function; only the
    chief writes the workdir (see `svgpl_tf.distribute`).

    Args:
        config: the requested configuration.
        workdir: folder of checkpoints, logs and samples; resumed if it holds a run.
        explicit: names of the fields the user set explicitly (see
            `resolve_config`); None means every field is explicit.
        verbose: 0 silent; 1 a progress line in the run's steps (`ProgressLine`:
            rewritten in place on a terminal); 2 a plain line every
            `log_every` steps, even on a terminal.
        extra_callbacks: further Keras callbacks, run on the chief after the run's
            own (e.g. `svgpl_tf.quality.QualityProbe`).

    Returns:
        The trained model.

    Raises:
        FloatingPointError: a loss term became NaN or infinite.
    """
    config.validate()
    runs.check_workdir(workdir)
    config = runs.resolve_config(workdir, config, explicit)
    precision = _choose_precision(config.precision)
    config = dataclasses.replace(config, precision=precision["policy"])
    strategy = distribute.make_strategy(config.strategy, config.devices)
    out_dir = distribute.write_dir(workdir, strategy)
    chief = out_dir == workdir
    with strategy.scope():
        model = runs.build_model(config)
    check_disk_space(workdir, model, config.keep_checkpoints)
    ckpt, manager = runs.make_checkpoint(model, out_dir, config.keep_checkpoints)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
    start, warm = 0, None
    if latest:
        runs.restore_checkpoint(ckpt, latest)
        start = int(model.optimizer.iterations.numpy())
    elif config.init_from:
        warm = runs.warm_start(model, config)
    datasets = make_datasets(config, start_step=start)
    if chief:
        config.save(workdir)
        _report(config, model, datasets, workdir, warm, precision)
        if warm:
            print(
                f"Warm start from {warm['checkpoint']} (step {warm['step']}): its weights, "
                "a fresh optimizer, step 0.",
                flush=True,
            )
    if start >= config.steps:
        logging.info(
            "Workdir %s is already at step %d >= --steps=%d.", workdir, start, config.steps
        )
        return model
    if start and chief:
        print(f"Resuming from {latest} at step {start}.", flush=True)

    writer = tf.summary.create_file_writer(os.path.join(workdir, "tensorboard")) if chief else None
    callbacks = [StopAtStep(config.steps), StopOnNonFinite(manager.directory)]
    if chief:
        callbacks.append(ScalarSummaries(writer))
    callbacks.append(PeriodicCheckpoint(manager, config.checkpoint_every))
    sampler = None
    if config.sample_every and chief:
        clips = next(iter(datasets.test.unbatch().batch(NUM_SAMPLE_CLIPS))).numpy()
        sampler = SampleImages(clips, config.n_past, config.sample_every, workdir, writer)
        callbacks.append(sampler)
    if chief and verbose:
        terminal = None if verbose == 1 else False
        callbacks.append(ProgressLine(start, config.steps, config.log_every, terminal=terminal))
    if chief:
        callbacks.extend(extra_callbacks or [])
    initial_epoch = start // config.log_every
    epochs = initial_epoch + math.ceil((config.steps - start) / config.log_every)
    try:
        model.fit(
            distribute.distribute_options(datasets.train),
            steps_per_epoch=config.log_every,
            initial_epoch=initial_epoch,
            epochs=epochs,
            callbacks=callbacks,
            verbose=0,
            shuffle=False,
        )
        if sampler is not None:
            sampler.write(int(model.optimizer.iterations.numpy()))
    finally:
        if writer is not None:
            writer.close()
        distribute.remove_temporary(workdir, strategy)
    return model


def _choose_precision(requested: str) -> dict:
    """`{"requested", "policy", "reason"}`: the policy the run computes in
    (`machine.resolve_precision`), printed when `auto` chose it."""
    policy, reason = machine.resolve_precision(requested)
    if requested != policy:
        print(f"Precision: --precision={requested} chose {policy} ({reason}).", flush=True)
    return {"requested": requested, "policy": policy, "reason": reason}


def _report(
    config: Config, model: SVGModel, datasets, workdir: str, warm=None, precision=None
) -> None:
    """Prints the parameter table, data source and loss terms; writes run_info.json
    (a resumed run keeps its warm start, and the choice of an `auto` precision
    unless this part asked again)."""
    summary = runs.parameter_summary(model)
    print(f"SVG model ({config.backbone}, prior={config.prior}):\n{summary}", flush=True)
    print(f"Data: {datasets.description}", flush=True)
    for term in model.reconstruction_terms:
        detail = getattr(term, "weights_description", "")
        print(f"Loss term {term.name}: weight {term.weight:g} {detail}".rstrip(), flush=True)
    info_path = os.path.join(workdir, "run_info.json")
    previous = {}
    if os.path.isfile(info_path):
        with open(info_path) as f:
            previous = json.load(f)
    if warm is None:  # a resumed run keeps its warm start
        warm = previous.get("init_from")
    earlier = previous.get("precision")
    if precision is None or (
        precision["requested"] != "auto" and earlier and earlier["policy"] == precision["policy"]
    ):
        precision = earlier or precision
    vgg = [
        t.weights_description
        for t in model.reconstruction_terms
        if isinstance(t, VGGPerceptualLoss)
    ]
    files.write_json(
        info_path,
        {
            "data": datasets.description,
            "trainable_params": {n: runs.count_params(m) for n, m in model.modules.items()},
            "loss_terms": {t.name: t.get_config() for t in model.reconstruction_terms},
            "vgg_weights": vgg[0] if vgg else None,
            "init_from": warm,
            "precision": precision,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "command": sys.argv,
        },
    )
