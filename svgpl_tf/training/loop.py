"""The training loop: builds data, model and callbacks from a `Config`, fits, resumes.

`train(config, workdir)` is the whole training program; the binary
`svgpl_tf.train` only turns flags into a `Config` and calls it. The workdir's
layout, the model and the checkpoints are `svgpl_tf.runs`'s; the callbacks are
`svgpl_tf.training.callbacks`'s.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from svgpl_tf import files, machine, runs
from svgpl_tf.config import Config
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.losses.perceptual import VGGPerceptualLoss
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.runs import CHECKPOINT_DIR
from svgpl_tf.training import distribute
from svgpl_tf.training.callbacks import (
    PeriodicCheckpoint,
    ProgressLine,
    SampleImages,
    ScalarSummaries,
    StopAtStep,
    StopOnNonFinite,
)

# Test clips shown in the sample images.
NUM_SAMPLE_CLIPS = 4


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


def train(
    config: Config,
    workdir: str,
    explicit: set[str] | None = None,
    verbose: int = 1,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> SVGModel:
    """Trains (or resumes) a run up to `config.steps` total steps.

    Under a multi-worker strategy every worker runs this function; only the
    chief writes the workdir (see `svgpl_tf.training.distribute`).

    Args:
        config: the requested configuration.
        workdir: folder of checkpoints, logs and samples; resumed if it holds a run.
        explicit: names of the fields the user set explicitly (see
            `resolve_config`); None means every field is explicit.
        verbose: 0 silent; 1 a progress line in the run's steps (`ProgressLine`:
            rewritten in place on a terminal); 2 a plain line every
            `log_every` steps, even on a terminal.
        extra_callbacks: further Keras callbacks, run on the chief after the run's
            own (e.g. `svgpl_tf.training.time_to_quality.QualityProbe`).

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
    hint = machine.onednn_hint()
    if hint:
        print(hint, flush=True)
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
            "onednn": machine.onednn_enabled(),
            "command": sys.argv,
        },
    )
