"""Tests of weight averaging: svgpl_tf.weight_averaging and svgpl-average-weights."""

import dataclasses
import json
import os

import numpy as np
import pytest
from helpers import run_module

from svgpl_tf import runs, weight_averaging
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.models.batchnorm import batchnorm_layers


def _module_values(workdir, step):
    model, _, _ = runs.restore_model(workdir, step=step)
    return {name: module.get_weights() for name, module in model.modules.items()}


def test_the_average_is_the_mean_of_every_weight_of_the_chosen_checkpoints(tiny_run, tmp_path):
    out = str(tmp_path / "averaged")
    record = weight_averaging.average_checkpoints(tiny_run.workdir, out, last=2)
    assert record["steps"] == [2, 4]
    first, second = _module_values(tiny_run.workdir, 2), _module_values(tiny_run.workdir, 4)
    averaged, config, step = runs.restore_model(out)
    assert step == 4
    assert config.backbone == tiny_run.config.backbone
    differing = 0
    for name, module in averaged.modules.items():
        for got, a, b in zip(module.get_weights(), first[name], second[name], strict=True):
            # BatchNorm's moving statistics are averaged too.
            np.testing.assert_allclose(got, (a.astype(np.float64) + b) / 2, rtol=1e-6, atol=1e-7)
            differing += not np.array_equal(a, b)
    assert differing > 10, "the two checkpoints should differ, or the test shows nothing"
    saved = json.load(open(os.path.join(out, weight_averaging.AVERAGING_FILE)))
    assert saved["steps"] == [2, 4] and saved["workdir"] == os.path.abspath(tiny_run.workdir)


@pytest.mark.parametrize(
    "selection, step",
    [(dict(from_step=3), 4), (dict(last=2, to_step=3), 2)],
    ids=["from_step", "to_step"],
)
def test_one_checkpoint_chosen_averages_to_itself(tiny_run, tmp_path, selection, step):
    out = str(tmp_path / "one")
    record = weight_averaging.average_checkpoints(tiny_run.workdir, out, **selection)
    assert record["steps"] == [step]
    got, _, got_step = runs.restore_model(out)
    assert got_step == step
    single = _module_values(tiny_run.workdir, step)
    for name, module in got.modules.items():
        for a, b in zip(module.get_weights(), single[name], strict=True):
            np.testing.assert_array_equal(a, b)


def test_the_folder_records_the_requested_precision(tiny_run, tmp_path):
    out = str(tmp_path / "bf16")
    weight_averaging.average_checkpoints(tiny_run.workdir, out, last=2, precision="mixed_bfloat16")
    assert json.load(open(os.path.join(out, "config.json")))["precision"] == "mixed_bfloat16"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(), "exactly one of --last"),
        (dict(last=2, from_step=2), "exactly one of --last"),
        (dict(last=0), "at least 1"),
        (dict(from_step=5), "holds steps [2, 4]"),
        (dict(last=1, to_step=1), "holds steps [2, 4]"),
    ],
)
def test_a_bad_selection_is_named_before_any_work(tiny_run, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        weight_averaging.average_checkpoints(tiny_run.workdir, str(tmp_path / "out"), **kwargs)
    assert not os.path.exists(tmp_path / "out")


def test_the_run_is_never_overwritten(tiny_run):
    with pytest.raises(ValueError, match="new folder"):
        weight_averaging.average_checkpoints(tiny_run.workdir, tiny_run.workdir, last=2)


def test_a_folder_without_checkpoints_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        weight_averaging.average_checkpoints(str(tmp_path), str(tmp_path / "out"), last=2)


def test_the_binary_averages_and_reports_bad_input_in_one_line(tiny_run, tmp_path):
    out = str(tmp_path / "averaged")
    done = run_module(
        "svgpl_tf.average_weights",
        f"--workdir={tiny_run.workdir}",
        f"--output_dir={out}",
        "--last=2",
    )
    assert done.returncode == 0, done.stderr
    assert "Averaged 2 checkpoints (steps 2 to 4)" in done.stdout
    assert runs.checkpoints_by_step(out).keys() == {4}
    bad = run_module(
        "svgpl_tf.average_weights", f"--workdir={tiny_run.workdir}", f"--output_dir={out}2"
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1].startswith("Error: Give exactly one of --last")
    assert "Traceback" not in bad.stderr


def _clips(config, seed, batches):
    stream = make_datasets(dataclasses.replace(config, seed=seed)).train
    return [x for x in stream.take(batches)]


def test_refreshed_statistics_reproduce_the_training_pass_of_their_batch(tiny_run):
    model, config, _ = runs.restore_model(tiny_run.workdir)
    (x,) = _clips(config, seed=7, batches=1)
    before = model.forward_train(x, training=False)[0].numpy()
    assert weight_averaging.refresh_batchnorm(model, [x]) == 1
    assert {layer.momentum for layer in batchnorm_layers(model)} == {0.9}
    assert int(model.optimizer.iterations.numpy()) == 4  # restored
    model.optimizer.iterations.assign(0)  # the refresh's one batch drew step 0's noise
    trained = model.forward_train(x, training=True)[0].numpy()
    # Each layer's moving statistics are now the batch statistics of x's pass,
    # so inference mode normalises x exactly as training mode does.
    inferred = model.forward_train(x, training=False)[0].numpy()
    np.testing.assert_allclose(inferred, trained, atol=2e-5)
    assert np.abs(before - trained).max() > 1e-3, "the old statistics should differ"


def test_refreshed_statistics_are_the_mean_over_the_batches(tiny_run):
    model, config, _ = runs.restore_model(tiny_run.workdir)
    clips = _clips(config, seed=3, batches=3)
    norms = batchnorm_layers(model)
    singles = []
    for k, x in enumerate(clips):
        # The statistics that training step k's pass normalises x with.
        model.optimizer.iterations.assign(k)
        for layer in norms:
            layer.momentum = 0.0
        model.forward_train(x, training=True)
        singles.append([(n.moving_mean.numpy(), n.moving_variance.numpy()) for n in norms])
        for layer in norms:
            layer.momentum = 0.9
    assert weight_averaging.refresh_batchnorm(model, clips) == 3
    for i, layer in enumerate(norms):
        mean = np.mean([s[i][0] for s in singles], axis=0)
        variance = np.mean([s[i][1] for s in singles], axis=0)
        np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="No batch"):
        weight_averaging.refresh_batchnorm(model, [])


def test_the_averaged_folder_can_recompute_its_statistics(tiny_run, tmp_path):
    out = str(tmp_path / "refreshed")
    record = weight_averaging.average_checkpoints(
        tiny_run.workdir, out, last=2, batchnorm_batches=2, batchnorm_seed=5
    )
    assert record["batchnorm"] == {"recomputed_batches": 2, "batch_size": 2, "seed": 5}
    averaged = str(tmp_path / "averaged")
    weight_averaging.average_checkpoints(tiny_run.workdir, averaged, last=2)
    got, config, _ = runs.restore_model(out)
    plain, _, _ = runs.restore_model(averaged)
    expected, _, _ = runs.restore_model(averaged)
    weight_averaging.refresh_batchnorm(expected, _clips(config, seed=5, batches=2))
    for a, b, c in zip(got.weights, expected.weights, plain.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
        if "moving" not in b.path:
            np.testing.assert_array_equal(a.numpy(), c.numpy())  # only the statistics change


def test_an_unwritable_output_folder_is_named_before_any_work(tiny_run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(PermissionError, match="--output_dir .* is not writable"):
        weight_averaging.average_checkpoints(tiny_run.workdir, str(blocker / "out"), last=2)
