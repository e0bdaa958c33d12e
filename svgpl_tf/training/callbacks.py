"""The callbacks of a training run: stopping, checkpoints, progress, summaries, samples.

`svgpl_tf.training.loop.train` puts them together; each is a plain
`keras.callbacks.Callback` and works on any compiled `SVGModel`.
"""

from __future__ import annotations

import math
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from svgpl_tf import frames

# Seed of the sampled futures written as images, fixed so runs compare.
SAMPLE_SEED = 0
# Samples per clip in the sample images.
NUM_SAMPLES_SHOWN = 3


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
        image = frames.grid(np.stack(rows))
        path = os.path.join(self.workdir, "samples", f"step_{step:07d}.png")
        frames.write_png(path, image)
        with self.writer.as_default(step=step):
            tf.summary.image("samples", image[None])
        return path

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step % self.every == 0:
            self.write(step)


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
