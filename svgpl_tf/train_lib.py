"""Training: builds data, model and callbacks from a `Config`, fits, resumes.

`train(config, workdir)` is the whole training program; the binary
`svgpl_tf.train` only turns flags into a `Config` and calls it.

A workdir holds:

- `config.json`: the resolved configuration (see `svgpl_tf.config`);
- `run_info.json`: where the data came from, library versions, parameters;
- `checkpoints/`: `tf.train.Checkpoint`s of model and optimizer, managed by a
  `tf.train.CheckpointManager` (the pointer to the latest one is replaced
  atomically, and old ones are removed only after a new one is written);
- `tensorboard/`: the loss terms every `log_every` steps and sample images;
- `samples/step_XXXXXXX.png`: ground truth and sampled futures of test clips.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from svgpl_tf import distribute, files, visualize
from svgpl_tf.config import CONFIG_FILE, RUN_OPTIONS, Config, conflicts
from svgpl_tf.data import digits
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.losses import PixelMSE, vgg_weights
from svgpl_tf.losses.perceptual import VGGPerceptualLoss
from svgpl_tf.models.init import reference_init
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.optimizer import ScaledAdam, lstm_bias_paths

# Sub-folder of the workdir holding the checkpoints.
CHECKPOINT_DIR = "checkpoints"
# Seed of the sampled futures written as images, fixed so runs compare.
SAMPLE_SEED = 0
# Test clips and samples per clip in the sample images.
NUM_SAMPLE_CLIPS, NUM_SAMPLES_SHOWN = 4, 3


# ----------------------------------------------------------------- workdir


def check_workdir(workdir: str) -> None:
    """Creates `workdir` and checks that it is writable, before any work."""
    files.ensure_writable_dir(workdir, "--workdir", "checkpoints and logs")


def resolve_config(workdir: str, requested: Config, explicit: set[str] | None = None) -> Config:
    """The configuration to run with, given what the workdir already holds.

    A new workdir takes `requested`. A workdir with a saved configuration
    keeps it: a field the user set explicitly (`explicit`, or every field if
    None) that disagrees with it is an error naming the flag; run options
    (`RUN_OPTIONS`, e.g. `--steps`) set explicitly replace the saved ones.
    """
    if not os.path.exists(os.path.join(workdir, CONFIG_FILE)):
        return requested
    saved = Config.load(workdir)
    bad = conflicts(saved, requested, explicit)
    if bad:
        raise ValueError(
            f"Workdir {workdir} holds a run with a different configuration:\n  "
            + "\n  ".join(bad)
            + "\nUse a new --workdir, or drop these flags to resume the saved run."
        )
    overrides = {
        name: getattr(requested, name)
        for name in RUN_OPTIONS
        if explicit is None or name in explicit
    }
    return Config.from_dict({**saved.to_dict(), **overrides}).validate()


def preflight(config: Config) -> None:
    """Fetches or locates what the run needs from outside, before any work.

    Raises a clear error when ImageNet VGG16 weights or MNIST digits are asked
    for but cannot be had (for example offline), instead of failing later.
    """
    if config.perceptual_weight > 0 and config.vgg_weights == "imagenet":
        vgg_weights.imagenet_weights_path()
    if config.dataset == "smmnist" and config.sprites == "mnist":
        digits.load_mnist_digits(
            "test", path=config.mnist_path or None, allow_download=not config.offline
        )
    if config.dataset == "smmnist" and config.sprites == "mnist5k":
        digits.mnist5k_path()
    if config.dataset != "smmnist":
        make_datasets(config)  # locates the files; reads nothing yet


# ------------------------------------------------------------------- model


def make_reconstruction_terms(config: Config) -> list:
    """The weighted reconstruction terms of Eq. 1 that the config asks for.

    A term of weight 0 is left out, so `--perceptual_weight=0` builds and runs
    no VGG16 at all: exactly SVG-LP.
    """
    terms = []
    if config.pixel_weight > 0:
        terms.append(PixelMSE(weight=config.pixel_weight))
    if config.perceptual_weight > 0:
        terms.append(
            VGGPerceptualLoss(
                layers=config.perceptual_layer_list,
                layer_weights=config.perceptual_layer_weight_list,
                distance=config.perceptual_distance,
                vgg_weights=config.vgg_weights,
                weight=config.perceptual_weight,
                seed=config.seed,
            )
        )
    return terms


def build_model(config: Config, with_losses: bool = True) -> SVGModel:
    """A built, compiled `SVGModel` for `config` (weights seeded by config.seed).

    Weights are initialised as `config.init` says (Keras's by default, the
    reference's draws with `"reference"`, see `svgpl_tf.models.init`); the
    optimizer is Adam with the
    configured epsilon, and with `lstm_bias="double"` the LSTM biases take
    twice the learning rate (see `svgpl_tf.optimizer`).

    Sets Keras's global dtype policy to `config.precision` first: with a mixed
    policy the layers compute in bfloat16 or float16 and keep float32
    variables; losses and sampled frames are float32 either way, and Keras
    wraps the optimizer in a loss-scale optimizer for float16.

    Args:
        config: the configuration.
        with_losses: build the configured reconstruction terms; False gives
            pixel MSE only, for sampling (no VGG16 built or loaded).
    """
    keras.mixed_precision.set_global_policy(config.precision)
    keras.utils.set_random_seed(config.seed)
    model = SVGModel(
        backbone=config.backbone,
        image_size=config.image_size,
        channels=config.channels,
        g_dim=config.g_dim,
        nf=config.nf,
        z_dim=config.z_dim,
        rnn_size=config.rnn_size,
        predictor_layers=config.predictor_rnn_layers,
        posterior_layers=config.posterior_rnn_layers,
        prior_layers=config.prior_rnn_layers,
        prior=config.prior,
        last_frame_skip=config.last_frame_skip,
        n_past=config.n_past,
        beta=config.beta,
        seed=config.seed,
        reconstruction_terms=make_reconstruction_terms(config) if with_losses else None,
        precompute_skips=config.precompute_skips,
        fused_batchnorm=config.fused_batchnorm,
        batchnorm_stats=config.batchnorm_stats,
    )
    model.build()
    if config.init == "reference":
        reference_init(model, config.seed)
    multipliers = {p: 2.0 for p in lstm_bias_paths(model)} if config.lstm_bias == "double" else {}
    optimizer = ScaledAdam(
        lr_multipliers=multipliers,
        learning_rate=config.learning_rate,
        beta_1=config.beta_1,
        epsilon=config.adam_epsilon,
    )
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile)
    optimizer.build(model.trainable_variables)
    return model


def count_params(layer) -> int:
    return int(sum(np.prod(v.shape) for v in layer.trainable_weights))


def parameter_summary(model: SVGModel) -> str:
    """A table of trainable parameters per module and in total."""
    lines = [f"{'module':<18}{'trainable params':>18}"]
    for name, module in model.modules.items():
        lines.append(f"{name:<18}{count_params(module):>18,}")
    lines.append(f"{'total':<18}{count_params(model):>18,}")
    return "\n".join(lines)


# ------------------------------------------------------------- checkpoints


def make_checkpoint(model: SVGModel, workdir: str, keep: int = 3):
    """The run's `tf.train.Checkpoint` and its manager under workdir/checkpoints."""
    ckpt = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    manager = tf.train.CheckpointManager(ckpt, os.path.join(workdir, CHECKPOINT_DIR), keep)
    return ckpt, manager


def restore_checkpoint(ckpt, path: str) -> None:
    """Restores `path` into `ckpt`, checking that every object was matched."""
    try:
        # Every object of the model and every value of the file must match:
        # a checkpoint of another configuration (e.g. with a learned prior
        # restored into a fixed-prior model) is an error, not a partial load.
        ckpt.restore(path).assert_consumed()
    except Exception as e:  # a truncated file raises IndexError, a mismatch ValueError, ...
        raise RuntimeError(
            f"Checkpoint {path} could not be restored into this model ({e}). "
            "It is corrupt or from another configuration; remove it to fall back "
            "to an older one, or use a new --workdir."
        ) from e


def restore_latest(ckpt, manager) -> int:
    """Restores the latest checkpoint, if any; returns the restored step."""
    if manager.latest_checkpoint is None:
        return 0
    restore_checkpoint(ckpt, manager.latest_checkpoint)
    return int(ckpt.optimizer.iterations.numpy())


def restore_model(
    workdir: str,
    step: int | None = None,
    with_losses: bool = False,
    precision: str | None = None,
) -> tuple[SVGModel, Config, int]:
    """Rebuilds a trained model from a training workdir.

    Args:
        workdir: a training workdir (holds config.json and checkpoints/).
        step: the checkpoint step to load; None loads the latest.
        with_losses: also build the run's reconstruction terms (the VGG16 of
            SVG-PL); not needed for sampling, evaluation or export.
        precision: build the model with this precision policy instead of the
            run's (the returned config is the run's, unchanged).

    Returns:
        `(model, config, step)`: the model with restored weights, the run's
        saved configuration and the step of the checkpoint loaded.

    Raises:
        FileNotFoundError: no configuration, no checkpoint, or no checkpoint of
            that step in the workdir (the message lists the ones there are).
    """
    if not os.path.exists(os.path.join(workdir, CONFIG_FILE)):
        raise FileNotFoundError(f"{workdir} holds no {CONFIG_FILE}: is it a training workdir?")
    config = Config.load(workdir)
    built = dataclasses.replace(config, precision=precision) if precision else config
    model = build_model(built.validate(), with_losses=with_losses)
    ckpt, manager = make_checkpoint(model, workdir, config.keep_checkpoints)
    if not manager.checkpoints:
        raise FileNotFoundError(f"{workdir}/{CHECKPOINT_DIR} holds no checkpoint.")
    if step is None:
        path = manager.latest_checkpoint
    else:
        by_step = {int(p.rsplit("-", 1)[1]): p for p in manager.checkpoints}
        if step not in by_step:
            raise FileNotFoundError(
                f"No checkpoint of step {step} in {workdir}; there are steps {sorted(by_step)}."
            )
        path = by_step[step]
    if holds_optimizer(path):
        restore_checkpoint(ckpt, path)
        return model, config, int(model.optimizer.iterations.numpy())
    # A weights-only checkpoint (see `write_weights_only`): the modules alone,
    # matched as strictly; its step is in its name.
    restore_checkpoint(weights_checkpoint(model), path)
    return model, config, int(path.rsplit("-", 1)[1])


def holds_optimizer(path: str) -> bool:
    """Whether the checkpoint `path` holds optimizer slots (a training checkpoint)."""
    try:
        names = [name for name, _ in tf.train.list_variables(path)]
    except Exception as e:  # a truncated index raises DataLossError, ...
        raise RuntimeError(
            f"Checkpoint {path} could not be read ({e}). It is corrupt; remove it to fall "
            "back to an older one, or use a new --workdir."
        ) from e
    return any(name.startswith("optimizer/") for name in names)


def weights_checkpoint(model: SVGModel) -> tf.train.Checkpoint:
    """A checkpoint of every module's weights and BatchNorm statistics, nothing else.

    Each module's variables are saved as a list in the module's fixed weight
    order: not through the model object, which also tracks the optimizer (and
    its slots), and not through the modules' own attributes, which do not
    reach the LSTM cells kept in a Python list (a training checkpoint saves
    those through the optimizer's list of trainable variables).
    """
    return tf.train.Checkpoint(**{name: list(m.weights) for name, m in model.modules.items()})


def write_weights_only(workdir: str, output_dir: str, step: int | None = None) -> str:
    """Writes a run's weights without optimizer slots, as a folder `restore_model` reads.

    The folder gets the run's `config.json` and `checkpoints/ckpt-STEP`, a
    checkpoint of the model's modules (`weights_checkpoint`): a third of a
    training checkpoint's size (Adam keeps two slots per weight). Evaluation, export and sampling
    take the folder as their `--workdir`.

    Args:
        workdir: a training workdir.
        output_dir: the folder to write (created).
        step: the checkpoint step; None takes the latest.

    Returns:
        The path of the written checkpoint.
    """
    model, config, step = restore_model(workdir, step)
    check_workdir(output_dir)
    config.save(output_dir)
    manager = tf.train.CheckpointManager(
        weights_checkpoint(model), os.path.join(output_dir, CHECKPOINT_DIR), 1
    )
    return manager.save(checkpoint_number=step)


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
        sum(int(np.prod(v.shape)) for v in model.weights) + 2 * count_params(model)
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
        verbose: Keras progress-bar verbosity (0 silent, 1 bar, 2 one line/epoch).
        extra_callbacks: further Keras callbacks, run on the chief after the run's
            own (e.g. `svgpl_tf.quality.QualityProbe`).

    Returns:
        The trained model.

    Raises:
        FloatingPointError: a loss term became NaN or infinite.
    """
    config.validate()
    check_workdir(workdir)
    config = resolve_config(workdir, config, explicit)
    strategy = distribute.make_strategy(config.strategy, config.devices)
    out_dir = distribute.write_dir(workdir, strategy)
    chief = out_dir == workdir
    with strategy.scope():
        model = build_model(config)
    check_disk_space(workdir, model, config.keep_checkpoints)
    ckpt, manager = make_checkpoint(model, out_dir, config.keep_checkpoints)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, CHECKPOINT_DIR))
    start = 0
    if latest:
        restore_checkpoint(ckpt, latest)
        start = int(model.optimizer.iterations.numpy())
    datasets = make_datasets(config, start_step=start)
    if chief:
        config.save(workdir)
        _report(config, model, datasets, workdir)
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
            verbose=verbose if chief else 0,
            shuffle=False,
        )
        if sampler is not None:
            sampler.write(int(model.optimizer.iterations.numpy()))
    finally:
        if writer is not None:
            writer.close()
        distribute.remove_temporary(workdir, strategy)
    return model


def _report(config: Config, model: SVGModel, datasets, workdir: str) -> None:
    """Prints the parameter table, data source and loss terms; writes run_info.json."""
    summary = parameter_summary(model)
    print(f"SVG model ({config.backbone}, prior={config.prior}):\n{summary}", flush=True)
    print(f"Data: {datasets.description}", flush=True)
    for term in model.reconstruction_terms:
        detail = getattr(term, "weights_description", "")
        print(f"Loss term {term.name}: weight {term.weight:g} {detail}".rstrip(), flush=True)
    vgg = [
        t.weights_description
        for t in model.reconstruction_terms
        if isinstance(t, VGGPerceptualLoss)
    ]
    files.write_json(
        os.path.join(workdir, "run_info.json"),
        {
            "data": datasets.description,
            "trainable_params": {n: count_params(m) for n, m in model.modules.items()},
            "loss_terms": {t.name: t.get_config() for t in model.reconstruction_terms},
            "vgg_weights": vgg[0] if vgg else None,
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "command": sys.argv,
        },
    )
