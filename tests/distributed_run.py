"""Runs a tiny training under a strategy in its own process (used by test_distribute;
its single-replica reference trains `run_config("default")` in the test's process).

Usage: python tests/distributed_run.py WORKDIR STRATEGY [LOGICAL_CPUS]

Logical CPU devices must be configured before TensorFlow initialises, hence a
separate process. TF_CONFIG configures a multi-worker run.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402


def run_config(strategy: str, cpus: int = 1):
    """The tiny run's validated `Config` under `strategy` on `cpus` logical CPUs."""
    from svgpl_tf.config import Config

    config = Config(
        g_dim=16, nf=8, z_dim=4, rnn_size=16, n_past=2, n_future=2, batch_size=4,
        num_test_sequences=4, steps=3, log_every=1, checkpoint_every=3, sample_every=0,
        strategy=strategy, devices=",".join(f"/cpu:{i}" for i in range(cpus)) if cpus > 1 else "",
        # One replica would otherwise take the fused BatchNorm kernel and several
        # the synchronised statistics: the same function, other rounding, which
        # Adam amplifies (see tests/test_distribute.py). Compared here: the
        # replica logic, with the same BatchNorm ops on both sides.
        fused_batchnorm=False,
    )  # fmt: skip
    return config.validate()


def main():
    workdir, strategy = sys.argv[1], sys.argv[2]
    cpus = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(cpus)]
        )
    from svgpl_tf.training import loop

    loop.train(run_config(strategy, cpus), workdir, verbose=0)


if __name__ == "__main__":
    main()
