"""Distributed training on the CPU: MirroredStrategy over two logical devices and
MultiWorkerMirroredStrategy over two local processes, against one replica."""

import json
import os
import socket
import subprocess
import sys

import distributed_run
import numpy as np
import pytest
import tensorflow as tf
from helpers import REPO

from svgpl_tf import runs
from svgpl_tf.training import loop

SCRIPT = os.path.join(REPO, "tests", "distributed_run.py")


def _run(args, env=None, timeout=240):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    env.pop("TF_CONFIG", None) if "TF_CONFIG" not in (env or {}) else None
    return subprocess.Popen(
        [sys.executable, SCRIPT, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc, timeout=240):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"distributed run timed out:\n{err[-3000:]}")
    assert proc.returncode == 0, err[-4000:]
    return out


def _losses(workdir):
    """{tag: [value at step 1, 2, 3]} from the run's TensorBoard scalars."""
    assert runs.restore_model(workdir)[2] == 3
    folder = os.path.join(workdir, "tensorboard")
    values = {}
    for name in os.listdir(folder):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name)):
            for v in event.summary.value:
                values.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    return {tag: [by_step[s] for s in (1, 2, 3)] for tag, by_step in values.items()}


def _assert_same(a, b):
    # Weights are not compared: the biases of convs followed by BatchNorm get
    # gradients that are pure round-off (BatchNorm removes their effect), which
    # Adam normalises into full-size steps; the losses are what must agree.
    assert set(a) == set(b) == {"loss", "mse", "kl"}
    for tag in a:
        np.testing.assert_allclose(a[tag], b[tag], rtol=1e-4, err_msg=tag)


@pytest.fixture(scope="module")
def single_replica(tmp_path_factory):
    """The same run on one replica, in this process (one CPU device, as there)."""
    workdir = str(tmp_path_factory.mktemp("single") / "run")
    loop.train(distributed_run.run_config("default"), workdir, verbose=0)
    return _losses(workdir)


def test_mirrored_two_replicas_match_one(single_replica, tmp_path):
    workdir = str(tmp_path / "run")
    _finish(_run([workdir, "mirrored", "2"]))
    _assert_same(_losses(workdir), single_replica)


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_two_processes_match_one(single_replica, tmp_path):
    workdir = str(tmp_path / "run")
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    try:
        for index in range(2):
            tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
            procs.append(_run([workdir, "multi_worker"], env={"TF_CONFIG": json.dumps(tf_config)}))
        for proc in procs:
            _finish(proc)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    _assert_same(_losses(workdir), single_replica)
    # Only the chief (worker 0) wrote the workdir; worker 1's copy is gone.
    assert sorted(os.listdir(workdir)) == [
        "checkpoints",
        "config.json",
        "run_info.json",
        "tensorboard",
    ]
