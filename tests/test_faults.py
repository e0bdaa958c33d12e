"""Fault tolerance: killed runs resume exactly, NaN stops cleanly, checkpoints stay readable."""

import dataclasses
import os
import shutil
import signal
import time

import numpy as np
import pytest
import tensorflow as tf
from helpers import TINY_FLAGS, TINY_RUN, TINY_SCHEDULE, start_module

from svgpl_tf import runs
from svgpl_tf.config import Config
from svgpl_tf.data import pipeline
from svgpl_tf.training import loop


def _weights(workdir):
    model, _, step = runs.restore_model(workdir)
    return step, [v.numpy() for v in model.weights]


def _train_process(workdir, steps):
    return start_module("svgpl_tf.train", *TINY_FLAGS, f"--workdir={workdir}", f"--steps={steps}")


def test_killed_run_resumes_exactly(tmp_path):
    steps = 60
    killed, whole = str(tmp_path / "killed"), str(tmp_path / "whole")
    proc = _train_process(killed, steps)
    # Kill once the checkpoint state names step 10 or later: its index file alone
    # exists a moment before the state file that restoring reads is rewritten.
    ckpt_dir = os.path.join(killed, "checkpoints")

    def latest_step():
        latest = tf.train.latest_checkpoint(ckpt_dir) if os.path.isdir(ckpt_dir) else None
        return int(latest.rsplit("-", 1)[1]) if latest else 0

    deadline = time.time() + 600  # slow CPUs take minutes to start and run 10 steps
    while latest_step() < 10 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    step_at_kill = _weights(killed)[0]
    assert 10 <= step_at_kill < steps

    resumed = _train_process(killed, steps)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert f"at step {step_at_kill}" in out

    # The same run never interrupted, in this process (the binary trains with `loop.train`).
    loop.train(Config(**TINY_RUN, **TINY_SCHEDULE, steps=steps).validate(), whole, verbose=0)
    (step_a, a), (step_b, b) = _weights(killed), _weights(whole)
    assert step_a == step_b == steps
    # Same data position, noise and optimizer state: the same weights.
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tiny_config, tmp_path, monkeypatch):
    real = pipeline.make_datasets

    def poisoned(config, start_step=0):
        data = real(config, start_step)
        nan_from_step_3 = data.train.enumerate().map(
            lambda i, x: tf.where(i + start_step >= 2, x * np.nan, x)
        )
        return dataclasses.replace(data, train=nan_from_step_3)

    monkeypatch.setattr(loop, "make_datasets", poisoned)
    workdir = str(tmp_path / "run")
    config = dataclasses.replace(tiny_config, steps=6, checkpoint_every=2, log_every=1)
    with pytest.raises(FloatingPointError, match=r"step 3: non-finite kl, loss, mse") as err:
        loop.train(config, workdir, verbose=0)
    assert "ckpt-2" in str(err.value)
    ckpt_dir = os.path.join(workdir, "checkpoints")
    assert os.path.basename(tf.train.latest_checkpoint(ckpt_dir)) == "ckpt-2"
    step, weights = _weights(workdir)
    assert step == 2 and all(np.isfinite(w).all() for w in weights)


def test_interrupted_save_leaves_latest_readable(tiny_run):
    workdir = tiny_run.workdir
    ckpt_dir = os.path.join(workdir, "checkpoints")
    # A save killed half-way: data files of step 6 exist, the pointer was not moved.
    for name in os.listdir(ckpt_dir):
        if name.startswith("ckpt-4."):
            with open(os.path.join(ckpt_dir, name.replace("ckpt-4", "ckpt-6")), "wb") as f:
                f.write(b"partial")
    assert _weights(workdir)[0] == 4
    # Resuming continues from step 4 and replaces the partial files.
    model = loop.train(dataclasses.replace(tiny_run.config, steps=6), workdir, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 6
    assert _weights(workdir)[0] == 6


def test_corrupt_latest_checkpoint_error_names_the_file(tiny_run):
    workdir = tiny_run.workdir
    data = [
        n for n in os.listdir(os.path.join(workdir, "checkpoints")) if n.startswith("ckpt-4.data")
    ]
    with open(os.path.join(workdir, "checkpoints", data[0]), "r+b") as f:
        f.truncate(100)
    with pytest.raises(RuntimeError, match="ckpt-4"):
        runs.restore_model(workdir)
    with pytest.raises(RuntimeError, match="ckpt-4"):
        loop.train(dataclasses.replace(tiny_run.config, steps=6), workdir, verbose=0)


def test_full_disk_is_reported_before_training(tiny_config, tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(loop.shutil, "disk_usage", lambda path: usage._replace(free=1024))
    with pytest.raises(OSError, match="MiB free but 4 checkpoints"):
        loop.train(tiny_config, str(tmp_path / "run"), verbose=0)
    assert not os.path.exists(tmp_path / "run" / "checkpoints" / "checkpoint")
