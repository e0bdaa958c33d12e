"""What several test modules share: the repository's path, running the binaries
in a subprocess, the tiny model and run, and stand-ins the tests substitute.

`conftest.py` and `serving_fixtures.py` build their fixtures from these;
tests import them with `from helpers import ...` (pytest puts `tests/` on the
path). Test modules import from here only, never from `conftest` or from
each other.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from svgpl_tf import flags as svg_flags
from svgpl_tf.benchmarks import CONFIGS
from svgpl_tf.config import Config

# The repository's root folder.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A model small enough for a training step in well under a second.
TINY_MODEL = dict(g_dim=16, nf=8, z_dim=4, rnn_size=16)
# The tiny run: the model, 2 + 2 frames, batches of 2, 4 test sequences.
TINY_RUN = dict(**TINY_MODEL, n_past=2, n_future=2, batch_size=2, num_test_sequences=4)
# Logging and checkpointing every 5 steps, no samples: the schedule of TINY_FLAGS.
TINY_SCHEDULE = dict(log_every=5, sample_every=0, checkpoint_every=5)
# The same run as training flags.
TINY_FLAGS = [f"--{name}={value}" for name, value in {**TINY_RUN, **TINY_SCHEDULE}.items()]


def tiny_config(**changes) -> Config:
    """The tiny run's validated `Config` (procedural sprites), 4 steps with
    logs and checkpoints every 2 and no sample images (tracing the sampler
    for them costs seconds; the tests of samples ask for them), with
    `changes` on top."""
    fields = dict(steps=4, log_every=2, checkpoint_every=2, sample_every=0)
    return Config(**{**TINY_RUN, **fields, **changes}).validate()


def weight_values(model) -> list[np.ndarray]:
    """Every weight of `model` (BatchNorm statistics included), in order, as numpy."""
    return [v.numpy() for v in model.weights]


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    """A finished training run, as the `tiny_run` fixture gives it.

    Args:
        workdir: the run's folder.
        config: the `Config` it trained with.
        values: `weight_values` of the trained model.
        modules: `{module name: [(variable path, value), ...]}` of the trained
            model's modules, BatchNorm statistics included.
    """

    workdir: str
    config: Config
    values: list[np.ndarray]
    modules: dict[str, list[tuple[str, np.ndarray]]]

    @classmethod
    def of(cls, model, config: Config, workdir: str) -> TrainedRun:
        modules = {n: [(v.path, v.numpy()) for v in m.weights] for n, m in model.modules.items()}
        return cls(workdir, config, weight_values(model), modules)

    def module_values(self, name: str) -> list[np.ndarray]:
        """The values of module `name`'s weights, in its `get_weights()` order."""
        return [value for _, value in self.modules[name]]


def portable_noise(keys, step, num_samples, z_dim):
    """A deterministic stand-in for `sampling.keyed_normal`, the same with and without XLA.

    TF 2.21's stateless random ops give other numbers under XLA than in a
    plain graph for the same seed and algorithm (tensorflow/tensorflow#121243),
    so the XLA comparisons replace the noise by this function of the same keys.
    """
    base = tf.cast(keys[:, :1] * 31 + keys[:, 1:] * 17 + tf.cast(step, tf.int64), tf.float32)
    grid = tf.cast(tf.range(num_samples * z_dim), tf.float32)
    return tf.reshape(tf.sin(0.37 * base + 1.3 * grid[None, :]), [-1, z_dim])  # [b*s, z]


def flagfile_configs(names=tuple(CONFIGS)) -> dict[str, Config]:
    """`BenchmarkOptions.flagfiles` of `names`, as the benchmark binary passes them."""
    return {name: svg_flags.config_from_flagfile(name) for name in names}


def binary_env(**extra: str) -> dict[str, str]:
    """The environment of a binary run by a test: the checkout's package, quiet TF."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO, **extra}


def run_module(
    module: str, *args: str, timeout: float = 300, **popen
) -> subprocess.CompletedProcess:
    """Runs `python -m module args...` from the repository; returns its result (text)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=popen.pop("cwd", REPO),
        env=popen.pop("env", binary_env()),
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def start_module(module: str, *args: str, **popen) -> subprocess.Popen:
    """Starts `python -m module args...` from the repository, with pipes (text)."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=popen.pop("cwd", REPO),
        env=popen.pop("env", binary_env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
