"""Tests of the training library (`svgpl_tf.training.loop`) and the training binary."""

import dataclasses
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from helpers import run_module, weight_values

from svgpl_tf import runs
from svgpl_tf.training import loop


def test_parameter_summary_lists_every_module(tiny_config):
    model = runs.build_model(tiny_config)
    summary = runs.parameter_summary(model)
    for name in ("encoder", "decoder", "frame_predictor", "posterior", "prior", "total"):
        assert name in summary
    total = sum(runs.count_params(m) for m in model.modules.values())
    assert f"{total:,}" in summary.splitlines()[-1]


def test_train_writes_workdir_and_resumes(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    tiny_config = dataclasses.replace(tiny_config, sample_every=2)
    model = loop.train(tiny_config, workdir, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 4
    assert json.load(open(os.path.join(workdir, "config.json")))["steps"] == 4
    info = json.load(open(os.path.join(workdir, "run_info.json")))
    assert "procedural" in info["data"]
    ckpts = tf.train.CheckpointManager(
        tf.train.Checkpoint(), os.path.join(workdir, "checkpoints"), 3
    ).checkpoints
    assert [os.path.basename(p) for p in ckpts] == ["ckpt-2", "ckpt-4"]
    assert sorted(os.listdir(os.path.join(workdir, "samples"))) == [
        "step_0000002.png",
        "step_0000004.png",
    ]
    image = tf.io.decode_png(tf.io.read_file(os.path.join(workdir, "samples/step_0000004.png")))
    # 4 test clips x (1 truth + 3 samples) rows of 64 px, 4 frames of 64 px.
    assert tuple(image.shape) == (16 * 65 + 1, 4 * 65 + 1, 1)
    assert glob.glob(os.path.join(workdir, "tensorboard", "events.*"))

    # A fresh model restored from the workdir equals the trained one.
    restored = runs.build_model(tiny_config)
    ckpt, manager = runs.make_checkpoint(restored, workdir)
    assert runs.restore_checkpoint(ckpt, manager.latest_checkpoint) is None
    assert int(restored.optimizer.iterations.numpy()) == 4
    for a, b in zip(weight_values(model), weight_values(restored)):
        np.testing.assert_array_equal(a, b)

    # Resuming continues from step 4 up to the new total.
    more = dataclasses.replace(tiny_config, steps=6)
    model = loop.train(more, workdir, explicit={"steps"}, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 6
    assert os.path.basename(tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))) == (
        "ckpt-6"
    )

    # A model flag that disagrees with the saved run is an error naming it.
    with pytest.raises(ValueError, match="--z_dim: saved 4, requested 5"):
        loop.train(dataclasses.replace(more, z_dim=5), workdir, explicit={"z_dim"})


def test_corrupt_checkpoint_error_names_the_file(tiny_run):
    bigger = runs.build_model(dataclasses.replace(tiny_run.config, z_dim=5))
    ckpt, manager = runs.make_checkpoint(bigger, tiny_run.workdir)
    with pytest.raises(RuntimeError, match="ckpt-4"):
        runs.restore_checkpoint(ckpt, manager.latest_checkpoint)


def test_same_seed_same_training(tiny_run, tmp_path):
    # The shared run was trained by this worker process, possibly with other models built since.
    again = loop.train(tiny_run.config, str(tmp_path / "again"), verbose=0)
    for x, y in zip(tiny_run.values, weight_values(again), strict=True):
        np.testing.assert_array_equal(x, y)


def _run_binary(*args):
    return run_module("svgpl_tf.train", *args)


def test_binary_trains_from_flagfile(tmp_path):
    flagfile = tmp_path / "tiny.flags"
    flagfile.write_text(
        "--g_dim=16\n--nf=8\n--z_dim=4\n--rnn_size=16\n--n_past=2\n--n_future=2\n"
        "--batch_size=2\n--num_test_sequences=4\n--log_every=2\n--checkpoint_every=2\n"
        "--sample_every=0\n"
    )
    workdir = str(tmp_path / "run")
    result = _run_binary(f"--flagfile={flagfile}", f"--workdir={workdir}", "--steps=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "frame_predictor" in result.stdout and "total" in result.stdout
    assert "source 'procedural'" in result.stdout
    assert os.path.exists(os.path.join(workdir, "checkpoints", "ckpt-2.index"))

    # Resuming with only --workdir keeps the saved configuration.
    result = _run_binary(f"--workdir={workdir}", "--steps=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming from" in result.stdout
    assert json.load(open(os.path.join(workdir, "config.json")))["z_dim"] == 4
    # A model flag that disagrees with the saved run: test_train_writes_workdir_and_resumes.


def test_binary_rejects_bad_flags_before_work(tmp_path):
    result = _run_binary(f"--workdir={tmp_path / 'run'}", "--backbone=resnet")
    assert result.returncode != 0
    assert "--backbone='resnet'" in result.stderr
    assert not os.path.exists(tmp_path / "run")
