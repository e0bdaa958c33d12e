"""tf.distribute strategies for training, and which worker writes what.

`make_strategy` turns `--strategy` into a TensorFlow distribution strategy:

- `default`: the current device (no distribution);
- `mirrored`: `MirroredStrategy` over all local GPUs, or the devices listed
  in `--devices` (e.g. `/cpu:0,/cpu:1`);
- `multi_worker`: `MultiWorkerMirroredStrategy` configured by the standard
  `TF_CONFIG` environment variable;
- `tpu`: `TPUStrategy` through a `TPUClusterResolver`.

Only the chief writes checkpoints, summaries and samples; the other workers
write their (required) checkpoint copies to a temporary folder that is removed
afterwards, as TensorFlow's multi-worker guide describes.
"""

from __future__ import annotations

import json
import os
import shutil

import tensorflow as tf

from svgpl_tf.choices import STRATEGIES


def make_strategy(name: str, devices: str = "") -> tf.distribute.Strategy:
    """The strategy `name` (one of `STRATEGIES`); see the module docstring.

    Args:
        name: the strategy.
        devices: comma-separated device names for `mirrored` (empty: all GPUs,
            or the CPU when there is none).

    Raises:
        ValueError: unknown name, or `multi_worker` without `TF_CONFIG`, or
            `tpu` where no TPU can be found.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        device_list = [d.strip() for d in devices.split(",") if d.strip()] or None
        return tf.distribute.MirroredStrategy(devices=device_list)
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "--strategy=multi_worker needs the TF_CONFIG environment variable "
                '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
                '"task": {"type": "worker", "index": 0}}) on every worker.'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as e:
            raise ValueError(f"--strategy=tpu: no TPU could be found ({e}).") from e
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}.")


def task(strategy: tf.distribute.Strategy) -> tuple[str | None, int]:
    """`(task_type, task_id)` of this process, `(None, 0)` without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None, 0
    return resolver.task_type, int(resolver.task_id or 0)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's outputs.

    The chief is the task of type `chief`, or worker 0 when the cluster has no
    chief; every process of a single-machine strategy is the chief.
    """
    task_type, task_id = task(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def write_dir(workdir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this process writes: `workdir` on the chief, a temporary folder elsewhere."""
    if is_chief(strategy):
        return workdir
    task_type, task_id = task(strategy)
    return os.path.join(workdir, ".workers", f"{task_type}_{task_id}")


def remove_temporary(workdir: str, strategy: tf.distribute.Strategy) -> None:
    """Removes a non-chief worker's temporary folder (nothing on the chief)."""
    path = write_dir(workdir, strategy)
    if path != workdir:
        shutil.rmtree(path, ignore_errors=True)
        try:
            os.rmdir(os.path.dirname(path))  # .workers/, once the last worker is done
        except OSError:
            pass


def distribute_options(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Shards the input by data across workers (each worker takes its part of
    every global batch); file sharding does not apply to generated data."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)
