"""Tests of the run module (`svgpl_tf.runs`): the workdir, building a seeded
model, checkpoints, restoring a model, and weights-only checkpoints."""

import dataclasses
import json
import os
import random

import numpy as np
import pytest
from helpers import weight_values

from svgpl_tf import runs
from svgpl_tf.training import loop


def test_unwritable_workdir_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="not writable"):
        runs.check_workdir(str(blocker / "run"))


def test_restore_model_latest_and_given_step(tiny_run, tmp_path):
    model, config, step = runs.restore_model(tiny_run.workdir)
    assert step == 4 and config == tiny_run.config
    for a, b in zip(tiny_run.values, weight_values(model), strict=True):
        np.testing.assert_array_equal(a, b)
    assert runs.restore_model(tiny_run.workdir, step=2)[2] == 2
    with pytest.raises(FileNotFoundError, match=r"steps \[2, 4\]"):
        runs.restore_model(tiny_run.workdir, step=3)
    with pytest.raises(FileNotFoundError, match="config.json"):
        runs.restore_model(str(tmp_path))


def test_checkpoint_of_another_prior_is_rejected(tiny_run):
    fixed = runs.build_model(dataclasses.replace(tiny_run.config, prior="fixed"))
    ckpt, manager = runs.make_checkpoint(fixed, tiny_run.workdir)
    with pytest.raises(RuntimeError, match="ckpt-4"):
        runs.restore_checkpoint(ckpt, manager.latest_checkpoint)


def test_build_model_is_seeded_without_global_state(tiny_config):

    state = random.getstate()
    a = runs.build_model(tiny_config, with_losses=False)
    b = runs.build_model(tiny_config, with_losses=False)
    c = runs.build_model(dataclasses.replace(tiny_config, seed=1), with_losses=False)
    assert random.getstate() == state
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
    assert any(not np.array_equal(x.numpy(), z.numpy()) for x, z in zip(a.weights, c.weights))


def test_weights_only_checkpoint_restores_the_same_model(tiny_run, tmp_path):
    workdir = tiny_run.workdir
    out = str(tmp_path / "shipped")
    path = runs.write_weights_only(workdir, out)
    assert path.endswith("ckpt-4")
    assert not runs.holds_optimizer(path)
    full = os.path.getsize(_data_file(workdir))
    assert os.path.getsize(_data_file(out)) < 0.4 * full  # Adam's two slots are gone
    model, saved, step = runs.restore_model(out)
    assert step == 4 and saved == tiny_run.config
    assert tiny_run.modules.keys() == model.modules.keys()
    for name, trained in tiny_run.modules.items():
        restored = model.modules[name].weights
        assert len(restored) == len(trained)
        for (path, value), b in zip(trained, restored):  # weights and BatchNorm statistics
            assert path.split("/", 1)[1] == b.path.split("/", 1)[1]
            np.testing.assert_array_equal(value, b.numpy())


def test_weights_only_folder_may_record_another_precision(tiny_config, tmp_path):
    workdir = str(tmp_path / "run")
    config = dataclasses.replace(tiny_config, steps=2, sample_every=0, precision="mixed_bfloat16")
    trained = loop.train(config, workdir, verbose=0)
    out = str(tmp_path / "shipped")
    runs.write_weights_only(workdir, out, precision="float32")
    model, saved, _ = runs.restore_model(out)
    assert saved == dataclasses.replace(config, precision="float32")
    for a, b in zip(trained.modules["decoder"].weights, model.modules["decoder"].weights):
        assert b.dtype == "float32"
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_weights_only_checkpoint_of_another_model_is_rejected(tiny_run, tmp_path):
    out = str(tmp_path / "shipped")
    runs.write_weights_only(tiny_run.workdir, out)
    values = json.load(open(os.path.join(out, "config.json")))
    values["prior"] = "fixed"
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(values, f)
    with pytest.raises(RuntimeError, match="ckpt-4"):
        runs.restore_model(out)


def _data_file(workdir):
    folder = os.path.join(workdir, "checkpoints")
    latest = sorted(n for n in os.listdir(folder) if ".data-" in n)[-1]
    return os.path.join(folder, latest)
