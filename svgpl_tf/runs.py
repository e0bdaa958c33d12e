"""A training run's workdir: its layout, configuration, model and checkpoints.

Training, evaluation, export, the quality probe and the benchmark all build
and restore models here; none of them needs the training loop
(`svgpl_tf.training.loop`) for it.

A workdir holds:

- `config.json`: the resolved configuration (see `svgpl_tf.config`);
- `run_info.json`: where the data came from, library versions, parameters;
- `checkpoints/`: `tf.train.Checkpoint`s of model and optimizer, managed by a
  `tf.train.CheckpointManager` (the pointer to the latest one is replaced
  atomically, and old ones are removed only after a new one is written), or
  of the weights alone (`write_weights_only`);
- `tensorboard/`: the loss terms every `log_every` steps and sample images;
- `samples/step_XXXXXXX.png`: ground truth and sampled futures of test clips.

Example:
    >>> model, config, step = restore_model("pretrained/smmnist5k_svgpl")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import tensorflow as tf

from svgpl_tf import files, machine
from svgpl_tf.choices import VGG_WEIGHT_SOURCES
from svgpl_tf.config import ARCHITECTURE_FIELDS, CONFIG_FILE, RUN_OPTIONS, Config, conflicts
from svgpl_tf.data.pipeline import check_data
from svgpl_tf.losses import PixelBCE, PixelL1, PixelMSE, vgg_sources
from svgpl_tf.losses.perceptual import VGGPerceptualLoss
from svgpl_tf.losses.structural import SSIMTerm
from svgpl_tf.models.init import reference_init
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.training.optimizer import LinearWarmup, ScaledAdam, lstm_bias_paths

# Sub-folder of the workdir holding the checkpoints.
CHECKPOINT_DIR = "checkpoints"


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
    for but cannot be had (for example offline), or when `--init_from` names a
    run of another architecture, instead of failing later. The data's own
    checks are `svgpl_tf.data.pipeline.check_data`'s.
    """
    if config.init_from:
        check_init_from(config)
    if config.perceptual_weight > 0 and config.vgg_weights == "imagenet":
        vgg_sources.check_imagenet()
    if config.perceptual_weight > 0 and config.vgg_weights not in VGG_WEIGHT_SOURCES:
        vgg_sources.check_weights_file(config.vgg_weights)
    check_data(config)


# ------------------------------------------------------------------- model

# The pixel term of each `--pixel_loss` choice.
PIXEL_TERMS = {"mse": PixelMSE, "bce": PixelBCE, "l1": PixelL1}


def make_reconstruction_terms(config: Config) -> list:
    """The weighted reconstruction terms of Eq. 1 that the config asks for.

    A term of weight 0 is left out, so `--perceptual_weight=0` builds and runs
    no VGG16 at all: exactly SVG-LP. The VGG16 computes in the run's precision.
    """
    terms = []
    if config.pixel_weight > 0:
        pixel = PIXEL_TERMS[config.pixel_loss]
        terms.append(pixel(weight=config.pixel_weight))
    if config.perceptual_weight > 0:
        terms.append(
            VGGPerceptualLoss(
                layers=config.perceptual_layer_list,
                layer_weights=config.perceptual_layer_weight_list,
                distance=config.perceptual_distance,
                vgg_weights=config.vgg_weights,
                weight=config.perceptual_weight,
                seed=config.seed,
                dtype=config.precision,
            )
        )
    if config.ssim_weight > 0:
        terms.append(SSIMTerm(weight=config.ssim_weight))
    return terms


def build_model(config: Config, with_losses: bool = True) -> SVGModel:
    """A built, compiled `SVGModel` for `config` (weights seeded by config.seed).

    Weights are initialised as `config.init` says (Keras's initializers, each
    module's seeded from `config.seed`, by default; the reference's draws with
    `"reference"`; see `svgpl_tf.models.init`); the
    optimizer is Adam with the configured epsilon, and with
    `lstm_bias="double"` the LSTM biases take twice the learning rate (see
    `svgpl_tf.training.optimizer`).

    The model computes in `config.precision` (`auto`: the policy
    `svgpl_tf.machine.resolve_precision` picks here): with a mixed policy its layers
    compute in bfloat16 or float16 and keep float32 variables; losses and
    sampled frames are float32 either way, and Keras wraps the optimizer in a
    loss-scale optimizer for float16. The policy is the model's own, passed
    to every layer it makes: building a model neither reads nor changes
    Keras's global dtype policy or Python's `random`.

    Args:
        config: the configuration.
        with_losses: build the configured reconstruction terms; False gives
            pixel MSE only, for sampling (no VGG16 built or loaded).

    Example:
        >>> model = build_model(Config(g_dim=16, nf=8, rnn_size=16), with_losses=False)
        >>> model.dtype_policy.name
        'float32'
    """
    if config.precision == "auto":
        config = dataclasses.replace(config, precision=machine.resolve_precision("auto")[0])
    return _build(config, with_losses)


def _build(config: Config, with_losses: bool) -> SVGModel:
    model = SVGModel(
        backbone=config.backbone,
        image_size=config.image_size,
        channels=config.channels,
        g_dim=config.g_dim,
        nf=config.nf,
        z_dim=config.z_dim,
        rnn_size=config.rnn_size,
        predictor_rnn_layers=config.predictor_rnn_layers,
        posterior_rnn_layers=config.posterior_rnn_layers,
        prior_rnn_layers=config.prior_rnn_layers,
        prior_type=config.prior,
        last_frame_skip=config.last_frame_skip,
        n_past=config.n_past,
        beta=config.beta,
        seed=config.seed,
        reconstruction_terms=make_reconstruction_terms(config) if with_losses else None,
        precompute_skips=config.precompute_skips,
        fused_batchnorm=config.fused_batchnorm,
        batchnorm_stats=config.batchnorm_stats,
        feedback_rate=config.feedback_rate,
        feedback_z=config.feedback_z,
        dtype=config.precision,
    )
    model.build()
    if config.init == "reference":
        reference_init(model, config.seed)
    multipliers = {p: 2.0 for p in lstm_bias_paths(model)} if config.lstm_bias == "double" else {}
    learning_rate = config.learning_rate
    if config.lr_warmup_steps:
        learning_rate = LinearWarmup(config.learning_rate, config.lr_warmup_steps)
    optimizer = ScaledAdam(
        lr_multipliers=multipliers,
        learning_rate=learning_rate,
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
    by_step = checkpoints_by_step(workdir)
    if not by_step:
        raise FileNotFoundError(f"{workdir}/{CHECKPOINT_DIR} holds no checkpoint.")
    if step is None:
        step = max(by_step)
    if step not in by_step:
        raise FileNotFoundError(
            f"No checkpoint of step {step} in {workdir}; there are steps {sorted(by_step)}."
        )
    built = dataclasses.replace(config, precision=precision) if precision else config
    model = build_model(built.validate(), with_losses=with_losses)
    path = by_step[step]
    return model, config, restore_into(model, path)


def checkpoints_by_step(workdir: str) -> dict[int, str]:
    """The checkpoints a workdir's `checkpoints/` lists, by step (empty if none).

    Example:
        >>> sorted(checkpoints_by_step("workdirs/run"))  # doctest: +SKIP
        [1500, 2000]
    """
    state = tf.train.get_checkpoint_state(os.path.join(workdir, CHECKPOINT_DIR))
    paths = list(state.all_model_checkpoint_paths) if state else []
    return {int(path.rsplit("-", 1)[1]): path for path in paths}


def restore_into(model: SVGModel, path: str) -> int:
    """Restores the checkpoint `path`, a training or a weights-only one, into `model`.

    Returns:
        The checkpoint's step.

    Example:
        >>> restore_into(model, "workdirs/run/checkpoints/ckpt-2000")  # doctest: +SKIP
        2000
    """
    if holds_optimizer(path):
        restore_checkpoint(tf.train.Checkpoint(model=model, optimizer=model.optimizer), path)
        return int(model.optimizer.iterations.numpy())
    # A weights-only checkpoint (see `write_weights_only`): the modules alone,
    # matched as strictly; its step is in its name.
    restore_checkpoint(weights_checkpoint(model), path)
    return int(path.rsplit("-", 1)[1])


def check_init_from(config: Config) -> tuple[Config, str]:
    """The source run of a warm start (`config.init_from`), checked before any work.

    Returns:
        `(source_config, checkpoint_path)`: the source's saved configuration
        and its latest checkpoint.

    Raises:
        FileNotFoundError: the folder holds no configuration or no checkpoint.
        ValueError: an architecture field (`ARCHITECTURE_FIELDS`) differs; the
            message names each one.
    """
    source = config.init_from
    if not os.path.isfile(os.path.join(source, CONFIG_FILE)):
        raise FileNotFoundError(
            f"--init_from={source}: no {CONFIG_FILE} there; give a training workdir or a "
            "weights-only folder (svgpl-weights-only), e.g. pretrained/smmnist5k_svglp."
        )
    saved = Config.load(source)
    differ = [
        f"--{name}={getattr(saved, name)!r} there, {getattr(config, name)!r} here"
        for name in ARCHITECTURE_FIELDS
        if getattr(saved, name) != getattr(config, name)
    ]
    if differ:
        raise ValueError(
            f"--init_from={source} holds another architecture ({'; '.join(differ)}); set "
            "these flags as the source run has them, or train from scratch."
        )
    latest = tf.train.latest_checkpoint(os.path.join(source, CHECKPOINT_DIR))
    if latest is None:
        raise FileNotFoundError(
            f"--init_from={source}: {source}/{CHECKPOINT_DIR} holds no checkpoint."
        )
    return saved, latest


def warm_start(model: SVGModel, config: Config) -> dict[str, Any]:
    """Copies the weights of `config.init_from`'s latest checkpoint into `model`.

    Every module's weights and BatchNorm statistics are copied; the optimizer
    is left as it is (fresh in a new run). Training, data and loss settings
    of the source do not matter, only its architecture.

    Args:
        model: a model built for `config` (its optimizer untouched).
        config: the new run's configuration, with `init_from` set.

    Returns:
        `{"path", "checkpoint", "step"}` of the source, for run_info.json.

    Example:
        >>> warm_start(model, config)["step"]  # doctest: +SKIP
        2000
    """
    _, path = check_init_from(config)
    source, _, step = restore_model(config.init_from)
    for name, module in model.modules.items():
        module.set_weights(source.modules[name].get_weights())
    return {"path": os.path.abspath(config.init_from), "checkpoint": path, "step": step}


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


def write_weights_only(
    workdir: str, output_dir: str, step: int | None = None, precision: str | None = None
) -> str:
    """Writes a run's weights without optimizer slots, as a folder `restore_model` reads.

    The folder gets the run's `config.json` and `checkpoints/ckpt-STEP`, a
    checkpoint of the model's modules (`weights_checkpoint`): a third of a
    training checkpoint's size (Adam keeps two slots per weight). Evaluation, export and sampling
    take the folder as their `--workdir`.

    Args:
        workdir: a training workdir.
        output_dir: the folder to write (created).
        step: the checkpoint step; None takes the latest.
        precision: the precision recorded in the folder's config.json, which
            its users then sample in by default (None: the run's). The weights
            are float32 in every precision, so a model trained in
            mixed_bfloat16 can ship as float32 for CPUs without bfloat16.

    Returns:
        The path of the written checkpoint.
    """
    model, config, step = restore_model(workdir, step)
    if precision:
        config = dataclasses.replace(config, precision=precision).validate()
    return save_weights_only(model, config, output_dir, step)


def save_weights_only(model: SVGModel, config: Config, output_dir: str, step: int) -> str:
    """Writes `model`'s weights and `config` as a folder `restore_model` reads.

    Args:
        model: a built model of `config`.
        config: saved as the folder's `config.json`.
        output_dir: the folder to write (created).
        step: the step number of the checkpoint `checkpoints/ckpt-STEP`.

    Returns:
        The path of the written checkpoint.
    """
    check_workdir(output_dir)
    config.save(output_dir)
    manager = tf.train.CheckpointManager(
        weights_checkpoint(model), os.path.join(output_dir, CHECKPOINT_DIR), 1
    )
    return manager.save(checkpoint_number=step)
