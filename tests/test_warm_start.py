"""Tests of --init_from: a warm start from a run's or a shipped folder's weights."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
from helpers import run_module

from svgpl_tf import runs
from svgpl_tf.training import loop


class _FirstWeights(keras.callbacks.Callback):
    """Records every module's weights and the optimizer step as training begins."""

    def on_train_begin(self, logs=None):
        self.step = int(self.model.optimizer.iterations.numpy())
        self.weights = {n: m.get_weights() for n, m in self.model.modules.items()}


def _shipped(tiny_run, tmp_path) -> str:
    """The weights-only folder of the tiny run."""
    folder = str(tmp_path / "shipped")
    runs.write_weights_only(tiny_run.workdir, folder)
    return folder


@pytest.mark.parametrize("source", ["shipped", "workdir"])
def test_warm_start_begins_from_the_source_weights_with_a_fresh_optimizer(
    tiny_run, tmp_path, source
):
    init_from = _shipped(tiny_run, tmp_path) if source == "shipped" else tiny_run.workdir
    # Training settings may differ from the source's: horizon, rate, batch.
    config = dataclasses.replace(
        tiny_run.config,
        init_from=init_from,
        n_future=3,
        learning_rate=1e-4,
        batch_size=3,
        steps=2,
    )
    runs.preflight(config)
    first = _FirstWeights()
    workdir = str(tmp_path / "fine_tuned")
    tuned = loop.train(config, workdir, verbose=0, extra_callbacks=[first])
    assert first.step == 0
    for name in tiny_run.modules:
        for a, b in zip(tiny_run.module_values(name), first.weights[name], strict=True):
            np.testing.assert_array_equal(a, b)  # weights and BatchNorm statistics
    assert int(tuned.optimizer.iterations.numpy()) == 2
    moved = [
        not np.array_equal(a, b)
        for a, b in zip(tiny_run.module_values("decoder"), tuned.modules["decoder"].get_weights())
    ]
    assert any(moved), "the warm-started run did not train"
    info = json.load(open(os.path.join(workdir, "run_info.json")))
    assert info["init_from"]["step"] == 4
    assert info["init_from"]["path"] == os.path.abspath(init_from)


def test_resuming_a_warm_started_run_takes_its_own_checkpoint(tiny_run, tmp_path):
    config = dataclasses.replace(tiny_run.config, init_from=_shipped(tiny_run, tmp_path), steps=2)
    workdir = str(tmp_path / "fine_tuned")
    tuned = loop.train(config, workdir, verbose=0)
    first = _FirstWeights()
    loop.train(dataclasses.replace(config, steps=4), workdir, verbose=0, extra_callbacks=[first])
    assert first.step == 2
    for name, module in tuned.modules.items():
        for a, b in zip(module.get_weights(), first.weights[name], strict=True):
            np.testing.assert_array_equal(a, b)
    info = json.load(open(os.path.join(workdir, "run_info.json")))
    assert info["init_from"]["step"] == 4  # kept through the resume


def test_another_architecture_is_named_before_any_work(tiny_run, tmp_path):
    config = dataclasses.replace(
        tiny_run.config,
        init_from=_shipped(tiny_run, tmp_path),
        g_dim=tiny_run.config.g_dim + 1,
        prior="fixed",
    )
    with pytest.raises(ValueError, match=r"another architecture.*--g_dim=.*--prior='learned'"):
        runs.preflight(config)


def test_a_folder_without_a_run_is_reported(tmp_path, tiny_config):
    config = dataclasses.replace(tiny_config, init_from=str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="--init_from=.*no config.json"):
        runs.preflight(config)
    empty = tmp_path / "empty"
    empty.mkdir()
    tiny_config.save(str(empty))
    with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
        runs.preflight(dataclasses.replace(tiny_config, init_from=str(empty)))


def test_binary_reports_a_bad_init_from_in_one_line(tmp_path):
    result = run_module(
        "svgpl_tf.train",
        f"--workdir={tmp_path / 'run'}",
        f"--init_from={tmp_path / 'missing'}",
        "--steps=1",
    )
    assert result.returncode != 0
    assert "--init_from=" in result.stderr and "no config.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert not os.path.isdir(tmp_path / "run" / "checkpoints")
