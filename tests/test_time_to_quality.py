"""Tests of the time-to-quality probe (`svgpl_tf.training.time_to_quality`)."""

import dataclasses
import json
import os

import numpy as np
import pytest

from svgpl_tf import runs
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.evaluation import metrics
from svgpl_tf.evaluation.lpips import LPIPS
from svgpl_tf.training import time_to_quality


def test_time_to_quality_report_matches_an_independent_evaluation(
    tiny_config, tmp_path, monkeypatch
):
    config = dataclasses.replace(tiny_config, steps=4, sample_every=0).validate()
    workdir = str(tmp_path / "run")
    seen = []  # the report on disk after each probe
    original = time_to_quality.QualityProbe.probe

    def probe_and_read(self):
        record = original(self)
        seen.append(json.load(open(os.path.join(workdir, time_to_quality.REPORT_FILE)))["probes"])
        return record

    monkeypatch.setattr(time_to_quality.QualityProbe, "probe", probe_and_read)
    report = time_to_quality.time_to_quality(
        config, workdir, every=2, num_samples=3, num_sequences=4
    )
    assert [p["step"] for p in report["probes"]] == [2, 4]
    # The report is written after every probe, so a run stopped after its first
    # keeps it; the end of training probes step 4 again, which writes nothing new.
    assert [[p["step"] for p in probes] for probes in seen] == [[2], [2, 4], [2, 4]]
    assert json.load(open(os.path.join(workdir, time_to_quality.REPORT_FILE))) == report
    assert os.path.getsize(os.path.join(workdir, time_to_quality.PLOT_FILE)) > 1000
    last = report["probes"][-1]
    assert len(last["best_ssim_per_step"]) == config.n_future
    # Recompute the last probe from the final weights, outside the probe's code path.
    model, _, step = runs.restore_model(workdir)
    assert step == 4
    probe_config = dataclasses.replace(config, num_test_sequences=4, batch_size=4)
    clips = next(iter(make_datasets(probe_config).test)).numpy()  # [4, T, h, w, c]
    seeds = time_to_quality.sampling.sequence_seeds(time_to_quality.PROBE_SEED, np.arange(4))
    frames = model.sample(clips[:, : config.n_past], config.n_future, 3, seeds).numpy()
    truth = clips[:, config.n_past :]
    ssim = metrics.ssim(frames, truth[:, None]).numpy()  # [4, 3, T]
    best = ssim[np.arange(4), ssim.mean(axis=2).argmax(axis=1)]  # [4, T]
    np.testing.assert_allclose(last["best_ssim_per_step"], best.mean(axis=0), atol=1e-5)
    copy_last = metrics.ssim(clips[:, config.n_past - 1 : config.n_past], truth).numpy()
    np.testing.assert_allclose(last["copy_last_ssim_per_step"], copy_last.mean(0), atol=1e-5)
    blank = metrics.ssim(np.zeros_like(truth), truth).numpy().mean(0)
    np.testing.assert_allclose(last["blank_ssim_per_step"], blank, atol=1e-5)
    margin = (best.mean(0) - copy_last.mean(0)).min()
    assert last["margin"] == pytest.approx(margin, abs=1e-5)
    assert last["beats_copy_last"] == bool(margin > 0)
    # The rule: best-of-N SSIM and PSNR above the better baseline at every step.
    best_psnr = metrics.psnr(frames, truth[:, None]).numpy()[np.arange(4), ssim.mean(2).argmax(1)]
    np.testing.assert_allclose(last["best_psnr_per_step"], best_psnr.mean(0), rtol=1e-5)
    blank_psnr = metrics.psnr(np.zeros_like(truth), truth).numpy().mean(0)
    np.testing.assert_allclose(last["blank_psnr_per_step"], blank_psnr, rtol=1e-5)
    copy_psnr = metrics.psnr(clips[:, config.n_past - 1 : config.n_past], truth).numpy().mean(0)
    ssim_lead = (best.mean(0) - np.maximum(copy_last.mean(0), blank)).min()
    psnr_lead = (best_psnr.mean(0) - np.maximum(copy_psnr, blank_psnr)).min()
    assert last["baseline_margin"]["ssim"] == pytest.approx(ssim_lead, abs=1e-5)
    assert last["baseline_margin"]["psnr"] == pytest.approx(psnr_lead, abs=1e-4)
    # LPIPS (lower is better) of the SSIM-best sample, against the better baseline.
    lpips = LPIPS("alex")
    best_lpips = lpips(frames, truth[:, None]).numpy()[np.arange(4), ssim.mean(2).argmax(1)]
    copy_lpips = lpips(clips[:, config.n_past - 1 : config.n_past], truth).numpy().mean(0)
    blank_lpips = lpips(np.zeros_like(truth), truth).numpy().mean(0)
    np.testing.assert_allclose(last["best_lpips_per_step"], best_lpips.mean(0), atol=1e-5)
    lpips_lead = (np.minimum(copy_lpips, blank_lpips) - best_lpips.mean(0)).min()
    assert last["baseline_margin"]["lpips"] == pytest.approx(lpips_lead, abs=1e-5)
    assert last["beats_baselines"] == bool(ssim_lead > 0 and psnr_lead > 0 and lpips_lead > 0)
    assert 0 < last["train_seconds"] < report["total_seconds"]


def test_a_warm_start_is_probed_at_its_starting_point(tiny_config, tmp_path):
    """Step 0 of a warm start scores the weights it continues, as their own run's last probe."""
    config = dataclasses.replace(tiny_config, steps=2, sample_every=0).validate()
    source = str(tmp_path / "source")
    first = time_to_quality.time_to_quality(config, source, every=2, num_samples=2, num_sequences=4)
    assert [p["step"] for p in first["probes"]] == [2]  # a run from scratch: no step-0 probe
    warm = dataclasses.replace(config, init_from=source).validate()
    report = time_to_quality.time_to_quality(
        warm, str(tmp_path / "warm"), every=2, num_samples=2, num_sequences=4
    )
    assert [p["step"] for p in report["probes"]] == [0, 2]
    start, before = report["probes"][0], first["probes"][-1]
    assert start["train_seconds"] < 1.0
    for key in ("best_ssim_per_step", "best_psnr_per_step", "mean_lpips_per_step"):
        np.testing.assert_allclose(start[key], before[key], rtol=1e-5, atol=1e-6)
    assert report["probes"][1]["best_ssim_per_step"] != start["best_ssim_per_step"]


def test_the_probe_checks_lpips_before_any_training():
    small = np.zeros([2, 4, 16, 16, 1], np.float32)  # too small for AlexNet
    with pytest.raises(ValueError, match="--lpips=off"):
        time_to_quality.QualityProbe(small, n_past=2, num_samples=2, every=1)
    probe = time_to_quality.QualityProbe(small, n_past=2, num_samples=2, every=1, lpips="off")
    assert probe.options.lpips == "off"


def test_first_beating_takes_the_first_probe_above_the_baselines():
    probes = [
        {"step": 2, "train_seconds": 1.0, "beats_copy_last": False, "beats_baselines": False},
        {"step": 4, "train_seconds": 2.0, "beats_copy_last": True, "beats_baselines": False},
        {"step": 6, "train_seconds": 3.0, "beats_copy_last": True, "beats_baselines": True},
    ]
    assert time_to_quality.first_beating(probes) == {"step": 6, "train_seconds": 3.0}
    assert time_to_quality.first_beating(probes, "beats_copy_last") == {
        "step": 4,
        "train_seconds": 2.0,
    }
    assert time_to_quality.first_beating(probes[:1]) is None


def test_beats_baselines_needs_every_step_and_every_metric():
    baselines = {
        "copy_last": {"ssim": np.array([0.8, 0.6]), "psnr": np.array([12.0, 11.0])},
        "blank": {"ssim": np.array([0.7, 0.7]), "psnr": np.array([13.0, 13.0])},
    }
    model = {"ssim": np.array([0.81, 0.71]), "psnr": np.array([13.5, 13.1])}
    result = time_to_quality.statistics.beats_baselines(model, baselines)
    assert result["beats"]
    assert result["margin"]["ssim"] == pytest.approx(0.01)
    assert result["margin"]["psnr"] == pytest.approx(0.1)
    model["psnr"] = np.array([13.5, 12.9])  # behind the blank frame at step 2
    result = time_to_quality.statistics.beats_baselines(model, baselines)
    assert not result["beats"] and result["margin"]["psnr"] == pytest.approx(-0.1)
    # Lower is better for MSE.
    mse = time_to_quality.statistics.beats_baselines(
        {"mse": np.array([0.01])}, {"blank": {"mse": np.array([0.02])}}
    )
    assert mse["beats"] and mse["margin"]["mse"] == pytest.approx(0.01)


def test_time_to_quality_needs_a_new_workdir(tiny_config, tmp_path):
    os.makedirs(tmp_path / "run" / "checkpoints")
    with pytest.raises(ValueError, match="new --workdir"):
        time_to_quality.time_to_quality(tiny_config, str(tmp_path / "run"))


def test_a_stopped_time_to_quality_run_resumes_with_its_probes(tiny_config, tmp_path):
    """A run stopped after a checkpoint that no probe saw resumes from it, keeps
    its probes, and times the unprobed steps at its mean seconds per step."""
    config = dataclasses.replace(tiny_config, steps=5, sample_every=0, checkpoint_every=1)
    workdir = str(tmp_path / "run")
    first = time_to_quality.time_to_quality(
        config.validate(), workdir, every=2, num_samples=2, num_sequences=2
    )
    assert [p["step"] for p in first["probes"]] == [2, 4, 5]
    # Stopped after the checkpoint of step 5, before its probe was written.
    path = os.path.join(workdir, time_to_quality.REPORT_FILE)
    stopped = {**first, "probes": first["probes"][:2]}
    with open(path, "w") as f:
        json.dump(stopped, f)
    more = dataclasses.replace(config, steps=7).validate()
    report = time_to_quality.time_to_quality(more, workdir, every=2, num_samples=2, num_sequences=2)
    assert [p["step"] for p in report["probes"]] == [2, 4, 6, 7]
    assert report["probes"][:2] == stopped["probes"]
    (resumed,) = report["resumed"]
    at_4 = stopped["probes"][1]["train_seconds"]
    assert (resumed["step"], resumed["after_probe_step"]) == (5, 4)
    assert resumed["estimated_seconds"] == pytest.approx(at_4 / 4)
    assert report["probes"][2]["train_seconds"] > at_4 + at_4 / 4
    model, _, step = runs.restore_model(workdir)
    assert step == 7
    # Another configuration or probe protocol is refused before any training.
    with pytest.raises(ValueError, match="--beta"):
        time_to_quality.time_to_quality(
            dataclasses.replace(more, beta=0.5).validate(), workdir, every=2, num_samples=2,
            num_sequences=2,
        )  # fmt: skip
    with pytest.raises(ValueError, match="probe num_samples"):
        time_to_quality.time_to_quality(more, workdir, every=2, num_samples=3, num_sequences=2)
