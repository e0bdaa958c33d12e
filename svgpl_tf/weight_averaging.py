"""Averages the weights of a run's checkpoints (stochastic weight averaging).

At a constant learning rate the weights of a run that has stopped improving
wander around a plateau, and the checkpoints along the way score a little
above or below it by chance. Their average sits nearer the middle of the
region they wander in, and may score better than any one of them
(Izmailov et al., *Averaging Weights Leads to Wider Optima and Better
Generalization*, UAI 2018). `average_checkpoints` averages, element by
element, every weight of every module over a chosen set of a workdir's
checkpoints (training or weights-only ones, all of one configuration),
BatchNorm's moving statistics included, and writes the result as a
weights-only folder that evaluation, prediction, export and `--init_from`
read like any other.

BatchNorm's moving statistics are exponential averages over the last few
training batches (momentum 0.9: about ten batches), so they are noisy at
any one checkpoint, and after averaging they belong to no single set of
weights. `refresh_batchnorm` recomputes them for the weights at hand as the
mean of the batch statistics over many training batches, as SWA does.

Example:
    >>> average_checkpoints("workdirs/run", "workdirs/run_averaged", last=8)  # doctest: +SKIP
    {'workdir': 'workdirs/run', 'steps': [6250, ..., 8000], ...}
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import tensorflow as tf

from svgpl_tf import files, runs
from svgpl_tf.config import CONFIG_FILE, Config
from svgpl_tf.data.pipeline import check_data, make_datasets
from svgpl_tf.models.batchnorm import batchnorm_layers

# Written beside the averaged weights: which checkpoints went into them.
AVERAGING_FILE = "averaging.json"


def select_steps(
    available: list[int],
    last: int | None = None,
    from_step: int | None = None,
    to_step: int | None = None,
) -> list[int]:
    """The checkpoint steps to average: the last `last` of them, or those from `from_step` on.

    Args:
        available: the steps a workdir holds checkpoints of.
        last: take the `last` most recent checkpoints (up to `to_step`).
        from_step: take every checkpoint of this step or later (up to `to_step`).
        to_step: ignore the checkpoints after this step (None: none ignored).

    Returns:
        The chosen steps, in increasing order.

    Raises:
        ValueError: neither or both of `last` and `from_step` given, `last`
            below 1, or no checkpoint chosen.

    Example:
        >>> select_steps([500, 1000, 1500, 2000], last=2)
        [1500, 2000]
        >>> select_steps([500, 1000, 1500, 2000], from_step=1000)
        [1000, 1500, 2000]
        >>> select_steps([500, 1000, 1500, 2000], from_step=1000, to_step=1500)
        [1000, 1500]
    """
    if (last is None) == (from_step is None):
        raise ValueError("Give exactly one of --last (a number of checkpoints) and --from_step.")
    steps = sorted(s for s in available if to_step is None or s <= to_step)
    if last is not None:
        if last < 1:
            raise ValueError(f"--last={last}: average at least 1 checkpoint.")
        chosen = steps[-last:]
    else:
        chosen = [s for s in steps if s >= from_step]
    if not chosen:
        raise ValueError(
            f"No checkpoint from step {from_step} to {to_step}; the workdir holds steps "
            f"{sorted(available)}."
        )
    return chosen


def refresh_batchnorm(model, clips) -> int:
    """Sets every BatchNorm layer's moving statistics to its mean batch statistics over `clips`.

    Each clip batch goes through the teacher-forced training pass
    (`SVGModel.forward_train`, BatchNorm in training mode, as in a training
    step, without a gradient or an update of any other weight); batch k
    draws the reparameterisation noise of training step k, whatever the
    optimizer's step (restored afterwards). The moving mean and variance
    become the means, over the batches, of the statistics that pass
    normalised with.

    Args:
        model: an `SVGModel`.
        clips: an iterable of training batches `[batch, time, h, w, c]`.

    Returns:
        The number of batches used.

    Raises:
        ValueError: `clips` is empty.

    Example:
        >>> refresh_batchnorm(model, datasets.train.take(100))  # doctest: +SKIP
        100
    """
    norms = batchnorm_layers(model)
    momenta = [layer.momentum for layer in norms]
    sums = [[np.zeros(n.moving_mean.shape), np.zeros(n.moving_variance.shape)] for n in norms]
    optimizer = getattr(model, "optimizer", None)
    step = int(optimizer.iterations.numpy()) if optimizer is not None else 0
    count = 0
    try:
        for layer in norms:
            layer.momentum = 0.0  # each pass leaves its own batch statistics
        forward = tf.function(lambda x: model.forward_train(x, training=True)[0])
        for x in clips:
            if optimizer is not None:
                optimizer.iterations.assign(count)  # batch k: the noise of training step k
            forward(x)
            for (mean, variance), layer in zip(sums, norms):
                mean += layer.moving_mean.numpy()
                variance += layer.moving_variance.numpy()
            count += 1
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        if optimizer is not None:
            optimizer.iterations.assign(step)
    if not count:
        raise ValueError("No batch to recompute BatchNorm's statistics from.")
    for (mean, variance), layer in zip(sums, norms):
        layer.moving_mean.assign((mean / count).astype(np.float32))
        layer.moving_variance.assign((variance / count).astype(np.float32))
    return count


def average_checkpoints(
    workdir: str,
    output_dir: str,
    last: int | None = None,
    from_step: int | None = None,
    to_step: int | None = None,
    precision: str | None = None,
    batchnorm_batches: int = 0,
    batchnorm_seed: int = 0,
) -> dict[str, Any]:
    """Writes the element-wise mean of a run's checkpoints as a weights-only folder.

    Every module's weights are averaged, BatchNorm's moving mean and
    variance too, unless `batchnorm_batches` asks for them to be recomputed
    for the averaged weights (`refresh_batchnorm`). The folder holds the
    run's `config.json` (its precision replaced if `precision` is given),
    `checkpoints/ckpt-STEP` with STEP the last averaged step, and
    `averaging.json` naming the steps averaged.

    Args:
        workdir: a training workdir (or any folder `runs.restore_model` reads).
        output_dir: the folder to write; must not be `workdir`.
        last: average the `last` most recent checkpoints.
        from_step: average every checkpoint of this step or later.
        to_step: leave out the checkpoints after this step.
        precision: the precision recorded in the folder's config.json.
        batchnorm_batches: recompute BatchNorm's statistics over this many
            training batches of the run's data (0: average them).
        batchnorm_seed: the seed of those batches' stream.

    Returns:
        The record written to `averaging.json`.

    Raises:
        FileNotFoundError: `workdir` holds no configuration or no checkpoint.
        ValueError: a bad selection (`select_steps`), or `output_dir` is
            `workdir`.

    Example:
        >>> average_checkpoints("workdirs/run", "out", from_step=6000)["steps"]  # doctest: +SKIP
        [6000, 6250, 6500]
    """
    if not os.path.isfile(os.path.join(workdir, CONFIG_FILE)):
        raise FileNotFoundError(f"{workdir} holds no {CONFIG_FILE}: is it a training workdir?")
    if os.path.abspath(output_dir) == os.path.abspath(workdir):
        raise ValueError("--output_dir must be a new folder, not the run's own workdir.")
    by_step = runs.checkpoints_by_step(workdir)
    if not by_step:
        raise FileNotFoundError(f"{workdir}/{runs.CHECKPOINT_DIR} holds no checkpoint.")
    steps = select_steps(list(by_step), last, from_step, to_step)
    if batchnorm_batches < 0:
        raise ValueError(f"--batchnorm_batches={batchnorm_batches}: give 0 or more batches.")
    if batchnorm_batches:
        check_data(Config.load(workdir))
    files.ensure_writable_dir(output_dir, "--output_dir", "the averaged weights")
    model, config, _ = runs.restore_model(workdir, step=steps[0], precision="float32")
    sums = {
        name: [np.zeros(w.shape, np.float64) for w in m.weights]
        for name, m in model.modules.items()
    }
    for step in steps:
        runs.restore_into(model, by_step[step])
        for name, module in model.modules.items():
            for total, value in zip(sums[name], module.get_weights()):
                total += value
    for name, module in model.modules.items():
        module.set_weights([(total / len(steps)).astype(np.float32) for total in sums[name]])
    batchnorm = "averaged"
    if batchnorm_batches:
        stream = make_datasets(dataclasses.replace(config, seed=batchnorm_seed)).train
        used = refresh_batchnorm(model, stream.take(batchnorm_batches))
        batchnorm = {
            "recomputed_batches": used,
            "batch_size": config.batch_size,
            "seed": batchnorm_seed,
        }
    if precision:
        config = dataclasses.replace(config, precision=precision).validate()
    path = runs.save_weights_only(model, config, output_dir, steps[-1])
    record = {
        "workdir": os.path.abspath(workdir),
        "steps": steps,
        "num_checkpoints": len(steps),
        "batchnorm": batchnorm,
        "checkpoint": path,
    }
    files.write_json(os.path.join(output_dir, AVERAGING_FILE), record)
    return record
