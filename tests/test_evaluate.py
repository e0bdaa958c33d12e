"""End-to-end tests of the evaluation job, its report, its figures and its binaries."""

import json
import os
import shutil

import numpy as np
import pytest
from helpers import portable_noise, run_module
from PIL import Image

from svgpl_tf import runs
from svgpl_tf.evaluation import job, sampling
from svgpl_tf.evaluation.options import DEFAULT_SSIM_MODE, EvalOptions
from svgpl_tf.evaluation.report import merge
from svgpl_tf.models import sampling as svg_sampling

# A handful of sequences and samples; batch 2 leaves a remainder batch of 1.
EVAL = dict(num_samples=4, num_sequences=3, batch_size=2, num_shown=2, verbose=False)
# The trained workdir and the first report, shared by the tests of this file.
_SHARED = {}


@pytest.fixture
def workdir(_tiny_run_once):
    """The tiny run of 4 steps that the worker trained once (read only here:
    a test that changes a run copies it)."""
    return _tiny_run_once.workdir


@pytest.fixture
def report(workdir, tmp_path_factory):
    """`(report, output_dir)` of the tiny run at the training horizon (once)."""
    if "report" not in _SHARED:
        out = str(tmp_path_factory.mktemp("evaluate") / "out")
        _SHARED["report"] = (job.evaluate(workdir, out, **EVAL), out)
    return _SHARED["report"]


def _strict_json(path):
    def reject(name):
        raise ValueError(f"{name} in {path}")

    with open(path) as f:
        return json.loads(f.read(), parse_constant=reject)


def test_report_is_strict_json_with_per_step_arrays(report, tiny_config):
    _, out = report
    data = _strict_json(os.path.join(out, "metrics.json"))
    assert data["checkpoint_step"] == 4
    assert data["config"]["z_dim"] == tiny_config.z_dim
    p = data["protocol"]
    assert (p["n_past"], p["n_future"], p["num_sequences"], p["num_samples"]) == (2, 2, 3, 4)
    assert p["future_frames"] == [3, 4]
    assert "highest (lowest) SSIM averaged over the predicted steps" in p["selection"]
    assert p["ssim_mode"] == DEFAULT_SSIM_MODE
    assert "AlexNet" in p["lpips"] and p["best_by"] == "ssim"
    for name in ("ssim", "psnr", "mse", "lpips"):
        for kind in ("best", "mean", "worst", "copy_last", "blank"):
            stats = data["per_step"][name][kind]
            for key in ("mean", "ci_low", "ci_high"):
                assert len(stats[key]) == tiny_config.n_future
            assert np.all(np.array(stats["ci_low"]) <= np.array(stats["ci_high"]))
    assert data["per_sequence"]["index"] == [0, 1, 2]
    assert len(data["per_sequence"]["best_ssim"]) == 3
    assert data["timing"]["sequence_samples_per_second"] > 0


def test_best_mean_worst_and_baseline(report):
    data, out = report
    avg = data["average"]["ssim"]
    assert avg["best"]["mean"] >= avg["mean"]["mean"] >= avg["worst"]["mean"]
    seq = data["per_sequence"]
    assert np.all(np.array(seq["best_ssim"]) >= np.array(seq["mean_ssim"]) - 1e-7)
    assert np.all(np.array(seq["mean_ssim"]) >= np.array(seq["worst_ssim"]) - 1e-7)
    assert 0 < avg["copy_last"]["mean"] <= 1
    # The report agrees with the per-sample arrays it was computed from.
    m = sampling.SampleMetrics.load(os.path.join(out, "per_sample.npz"))
    assert m.ssim.shape == (3, 4, 2) and m.copy_last_psnr.shape == (3, 2)
    best = m.ssim.mean(-1).argmax(-1)
    np.testing.assert_allclose(
        data["per_step"]["psnr"]["best"]["mean"], m.psnr[np.arange(3), best].mean(0), rtol=1e-6
    )
    np.testing.assert_allclose(
        data["per_step"]["ssim"]["copy_last"]["mean"], m.copy_last_ssim.mean(0), rtol=1e-6
    )
    # LPIPS of the SSIM-best sample; the baselines' from their own arrays.
    assert m.lpips.shape == (3, 4, 2) and np.all(m.lpips >= 0)
    np.testing.assert_allclose(
        data["per_step"]["lpips"]["best"]["mean"], m.lpips[np.arange(3), best].mean(0), rtol=1e-6
    )
    np.testing.assert_allclose(
        data["per_step"]["lpips"]["blank"]["mean"], m.blank_lpips.mean(0), rtol=1e-6
    )
    assert "lpips" in data["beats_baselines"]["margin"]


def test_lpips_off_and_each_metrics_own_best(report, workdir, tmp_path):
    first, _ = report
    each = job.evaluate(
        workdir, str(tmp_path / "each"), **{**EVAL, "lpips": "off", "best_by": "each"}
    )
    assert "lpips" not in each["average"] and "lpips" not in each["beats_baselines"]["margin"]
    assert not os.path.exists(tmp_path / "each" / "lpips_per_step.png")
    assert (
        "each metric" in each["protocol"]["selection"]
        and "not measured" in each["protocol"]["lpips"]
    )
    # The same samples: SSIM's best is the same; PSNR's own best is at least the SSIM pick's.
    m = sampling.SampleMetrics.load(str(tmp_path / "each" / "per_sample.npz"))
    assert m.lpips is None
    np.testing.assert_allclose(
        each["average"]["ssim"]["best"]["mean"], first["average"]["ssim"]["best"]["mean"], rtol=1e-6
    )
    own_best = m.psnr[np.arange(3), m.psnr.mean(-1).argmax(-1)]  # [3, T]
    np.testing.assert_allclose(
        each["per_step"]["psnr"]["best"]["mean"], own_best.mean(0), rtol=1e-6
    )
    assert (
        each["average"]["psnr"]["best"]["mean"] >= first["average"]["psnr"]["best"]["mean"] - 1e-6
    )


def test_figures_are_valid_images(report):
    data, out = report
    for name in (
        "ssim_per_step.png",
        "psnr_per_step.png",
        "lpips_per_step.png",
        "ssim_per_sequence.png",
        "samples.png",
    ):
        with Image.open(os.path.join(out, name)) as image:
            image.verify()
            assert image.format == "PNG"
    with Image.open(os.path.join(out, "samples.gif")) as gif:
        assert gif.format == "GIF" and gif.n_frames == 4  # 2 context + 2 predicted frames
    # 2 sequences x (truth, best, 3 random samples) rows of 64 px frames.
    with Image.open(os.path.join(out, "samples.png")) as grid:
        assert grid.height > 2 * 5 * 64
    assert set(data["files"].values()) <= set(os.listdir(out))


def test_longer_horizon_batch_size_and_seed(report, workdir, tmp_path):
    first, _ = report
    longer = job.evaluate(workdir, str(tmp_path / "long"), **{**EVAL, "n_future": 4})
    assert len(longer["per_step"]["ssim"]["best"]["mean"]) == 4
    assert longer["protocol"]["train_n_future"] == 2
    with Image.open(tmp_path / "long" / "samples.gif") as gif:
        assert gif.n_frames == 6

    # Same seed, another batch size: the same samples, so the same numbers.
    again = job.evaluate(workdir, str(tmp_path / "again"), **{**EVAL, "batch_size": 3})
    for name in ("ssim", "psnr"):
        np.testing.assert_allclose(
            again["per_step"][name]["best"]["mean"], first["per_step"][name]["best"]["mean"], 1e-5
        )
    m1 = sampling.SampleMetrics.load(os.path.join(report[1], "per_sample.npz"))
    m2 = sampling.SampleMetrics.load(str(tmp_path / "again" / "per_sample.npz"))
    np.testing.assert_allclose(m1.mse, m2.mse, rtol=1e-5)
    # Per-sequence keys: seed * 2**32 + sequence index.
    assert len(set(sampling.sequence_seeds(0, range(3))) | {2**32}) == 4


def test_sampling_batchnorm_batch_statistics(report, workdir, tmp_path):
    """The reference's batch statistics change the samples, and so the numbers;
    the protocol says which statistics sampled; a bad value is named."""
    first, _ = report
    batch = job.evaluate(
        workdir, str(tmp_path / "batch"), **{**EVAL, "sampling_batchnorm": "batch"}
    )
    assert "batch statistics" in batch["protocol"]["sampling_batchnorm"]
    assert first["protocol"]["sampling_batchnorm"] == "moving averages of training"
    m1 = sampling.SampleMetrics.load(os.path.join(report[1], "per_sample.npz"))
    m2 = sampling.SampleMetrics.load(str(tmp_path / "batch" / "per_sample.npz"))
    assert np.abs(m1.mse - m2.mse).max() > 1e-6
    np.testing.assert_allclose(m1.copy_last_mse, m2.copy_last_mse)
    with pytest.raises(ValueError, match="--sampling_batchnorm='train'"):
        EvalOptions(sampling_batchnorm="train").validate()


def test_wrong_workdir_and_mismatched_checkpoint(workdir, tmp_path):
    out = str(tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        job.evaluate(str(tmp_path / "missing"), out, **EVAL)
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        job.evaluate(str(tmp_path), out, **EVAL)
    with pytest.raises(FileNotFoundError, match=r"No checkpoint of step 3 .* steps \[2, 4\]"):
        job.evaluate(workdir, out, step=3, **EVAL)
    with pytest.raises(ValueError, match="--num_samples=0: must be >= 1"):
        job.evaluate(workdir, out, **{**EVAL, "num_samples": 0})
    with pytest.raises(ValueError, match="--ssim_mode='box'"):
        job.evaluate(workdir, out, ssim_mode="box", **EVAL)

    # A checkpoint that does not fit the saved configuration names the checkpoint.
    other = str(tmp_path / "other")
    shutil.copytree(workdir, other)
    config_path = os.path.join(other, "config.json")
    with open(config_path) as f:
        values = json.load(f)
    with open(config_path, "w") as f:
        json.dump({**values, "z_dim": values["z_dim"] + 1}, f)
    with pytest.raises(RuntimeError, match="ckpt-4 could not be restored"):
        job.evaluate(other, out, **EVAL)
    assert not os.path.exists(os.path.join(out, "metrics.json"))


def _run(module, *args):
    return run_module(module, *args)


def test_binaries(report, workdir, tmp_path):
    _, first_out = report
    out = str(tmp_path / "bin")
    done = _run(
        "svgpl_tf.evaluate",
        f"--workdir={workdir}",
        f"--output_dir={out}",
        "--num_samples=3",
        "--num_sequences=2",
        "--n_future=3",
        "--ssim_mode=gaussian",
        "--num_shown=1",
    )
    assert done.returncode == 0, done.stderr
    assert "highest (lowest) SSIM averaged over the predicted steps" in done.stdout
    assert "sequences 2/2" in done.stdout
    assert _strict_json(os.path.join(out, "metrics.json"))["protocol"]["ssim_mode"] == "gaussian"

    bad = _run("svgpl_tf.evaluate", f"--workdir={workdir}", f"--output_dir={out}", "--batch_size=0")
    assert bad.returncode != 0 and "--batch_size=0: must be >= 1" in bad.stderr
    missing = _run("svgpl_tf.evaluate", f"--workdir={tmp_path / 'nope'}", f"--output_dir={out}")
    assert missing.returncode != 0 and "does not exist" in missing.stderr

    plot = str(tmp_path / "compare.png")
    compared = _run(
        "svgpl_tf.compare", first_out, out, "--labels", "SVG-LP", "SVG-PL", f"--output={plot}"
    )
    assert compared.returncode == 0, compared.stderr
    assert "SVG-LP" in compared.stdout and "SVG-PL" in compared.stdout
    assert "WARNING: the runs differ in ssim_mode, n_future" in compared.stdout
    with Image.open(plot) as image:
        image.verify()
    wrong = _run("svgpl_tf.compare", first_out, out, "--labels", "only-one")
    assert wrong.returncode != 0 and "1 labels for 2 runs" in wrong.stderr


def _assert_close_trees(got, want, path=""):
    """Nested dicts and lists of numbers equal to float rounding (rtol 1e-5)."""
    if isinstance(want, dict):
        assert set(got) == set(want), path
        for k in want:
            _assert_close_trees(got[k], want[k], f"{path}/{k}")
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=path)


def test_two_shards_merged_equal_one_run(report, workdir, tmp_path):
    single, single_out = report
    shards = []
    for index in range(2):
        out = str(tmp_path / f"shard{index}")
        part = job.evaluate(workdir, out, shard_index=index, num_shards=2, **EVAL)
        assert part["sequences"] == [[0, 1], [1, 3]][index]
        assert not os.path.exists(os.path.join(out, "metrics.json"))
        shards.append(out)
    merged = merge(shards, str(tmp_path / "merged"), verbose=False)
    # Equal to float rounding: a shard samples its sequences in other batches,
    # and oneDNN may pick other kernels (another summation order) for another
    # batch shape; on some CPUs the numbers are equal to the bit.
    for key in ("per_step", "average", "per_sequence"):
        _assert_close_trees(merged[key], single[key])
    assert merged["per_sequence"]["best_sample"] == single["per_sequence"]["best_sample"]
    for key in ("checkpoint_step", "config"):
        assert json.dumps(merged[key], sort_keys=True) == json.dumps(single[key], sort_keys=True)
    assert merged["protocol"]["num_shards"] == 2
    a = sampling.SampleMetrics.load(os.path.join(single_out, "per_sample.npz"))
    b = sampling.SampleMetrics.load(str(tmp_path / "merged" / "per_sample.npz"))
    np.testing.assert_array_equal(a.index, b.index)
    for field in ("ssim", "psnr", "mse", "copy_last_ssim", "lpips"):
        np.testing.assert_allclose(getattr(a, field), getattr(b, field), rtol=1e-5, atol=1e-6)
    for name in ("samples.png", "ssim_per_step.png"):
        assert os.path.exists(tmp_path / "merged" / name)

    with pytest.raises(ValueError, match=r"cover sequences 0..0, not 0..2"):
        merge(shards[:1], str(tmp_path / "partial"), verbose=False)
    with pytest.raises(ValueError, match="--shard_index=2"):
        job.evaluate(workdir, str(tmp_path / "x"), shard_index=2, num_shards=2, **EVAL)


def test_protocol_defaults_come_from_the_training_config(workdir, tmp_path):
    options = EvalOptions().resolve(runs.restore_model(workdir)[1])
    assert (options.num_samples, options.num_sequences, options.n_future) == (100, 4, 2)


def test_xla_sampler_matches_the_plain_one_given_the_same_noise(workdir, tmp_path, monkeypatch):
    # XLA's stateless random ops draw another stream for a seed
    # (tensorflow/tensorflow#121243); with a noise function that is the same in
    # both, the compiled evaluation must give the plain one's numbers.
    monkeypatch.setattr(svg_sampling, "keyed_normal", portable_noise)
    plain = job.evaluate(workdir, str(tmp_path / "plain"), **EVAL)
    xla = job.evaluate(workdir, str(tmp_path / "xla"), **EVAL, jit_compile=True)
    m1 = sampling.SampleMetrics.load(str(tmp_path / "plain" / "per_sample.npz"))
    m2 = sampling.SampleMetrics.load(str(tmp_path / "xla" / "per_sample.npz"))
    np.testing.assert_allclose(m2.mse, m1.mse, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(m2.ssim, m1.ssim, atol=1e-4)
    for name in ("ssim", "psnr"):
        np.testing.assert_allclose(
            xla["per_step"][name]["best"]["mean"], plain["per_step"][name]["best"]["mean"], 1e-4
        )


def test_a_bfloat16_evaluation_leaves_no_global_state(workdir, tmp_path):
    """The model keeps its precision and seeds to itself: after a bfloat16
    evaluation Keras's global policy and Python's and numpy's random states are
    as before."""
    import random

    import keras

    python_state, numpy_state = random.getstate(), np.random.get_state()
    report = job.evaluate(
        workdir, str(tmp_path / "bf16"), precision="mixed_bfloat16", **{**EVAL, "num_shown": 0}
    )
    assert report["protocol"]["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"
    assert random.getstate() == python_state
    after = np.random.get_state()
    assert after[0] == numpy_state[0] and np.array_equal(after[1], numpy_state[1])
