"""The benchmark runs at a tiny size and writes the documented structure.

Its figures depend on the machine and are never asserted; the FLOP counts
are checked against hand counts and against TensorFlow's profiler.
"""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from svgpl_tf import benchmark_lib, files, flops
from svgpl_tf.benchmark_lib import BenchmarkOptions, Variant
from svgpl_tf.models.svg import SVGModel

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TRAINING_KEYS = {
    "config",
    "variant",
    "batch_size",
    "step_time_s",
    "step_times_s",
    "first_step_s",
    "sequences_per_s",
    "flops_per_step",
    "plain_flops_per_step",
    "flops_breakdown",
    "gflops_per_s",
    "ceiling_gflops",
    "fraction_of_ceiling",
    "peak_memory_bytes",
}
SAMPLING_KEYS = {
    "variant",
    "sequences",
    "context",
    "horizon",
    "num_samples",
    "time_s",
    "sequence_samples_per_s",
    "flops",
    "gflops_per_s",
    "fraction_of_ceiling",
    "peak_memory_bytes",
    "traces",
}


@pytest.fixture(scope="module")
def results():
    options = BenchmarkOptions(
        tiny=True, compare=(Variant(precompute_skips=False),), loss_curve_steps=2
    )
    return benchmark_lib.run_benchmark(options, log=None)


def tf_profiler_flops(fn, *specs: tf.TensorSpec) -> int:
    """`tf.compat.v1.profiler`'s float-op count of `fn` traced on `specs`.

    It counts convolutions and matrix products like `op_flops` and adds
    element-wise ops (bias adds, normalisation); for transposed convolutions
    it counts by output size, which differs from the convention above.
    """
    graph = tf.function(fn, autograph=False).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def test_tiny_run_has_every_section(results, tmp_path):
    assert results["schema"] == benchmark_lib.SCHEMA_VERSION
    for key in ("cpu", "logical_cpus", "cpu_flags", "tensorflow", "keras"):
        assert key in results["machine"]
    assert {"float32", "bfloat16"} <= set(results["ceilings"])
    assert results["ceilings"]["float32"]["gflops"] > 0
    configs = set(benchmark_lib.CONFIGS)
    variants = {"float32", "float32+plain"}
    assert {(r["config"], r["variant"]) for r in results["training"]} == {
        (c, v) for c in configs for v in variants
    }
    for row in results["training"]:
        assert TRAINING_KEYS <= set(row), TRAINING_KEYS - set(row)
        assert len(row["step_times_s"]) == results["options"]["steps"]
        assert row["plain_flops_per_step"] >= row["flops_per_step"] > 0
    assert [c["variant"] for c in results["comparisons"]] == ["float32+plain"] * len(configs)
    (ratio,) = [r for r in results["ratios"] if r["variant"] == "float32"]
    assert {"step_time_ratio", "flops_ratio"} <= set(ratio)
    assert {r["variant"] for r in results["sampling"]} == variants
    for row in results["sampling"]:
        assert SAMPLING_KEYS <= set(row), SAMPLING_KEYS - set(row)
        assert row["traces"] == 1
    serving = results["serving"]
    assert serving["available"], serving.get("error")  # export/ is importable from the repo
    assert [lat["sequences"] for lat in serving["latency"]] == [1, 2]
    assert {"median_s", "p95_s"} <= set(serving["latency"][0])
    assert {p["config"] for p in results["pipeline"]} == configs
    for p in results["pipeline"]:
        assert p["sequences_per_s"] > 0 and p["training_consumes_sequences_per_s"] > 0
    assert [c["config"] for c in results["loss_curves"]] == ["smmnist_svglp"]
    for curve in results["loss_curves"]:
        assert {len(c) for c in curve["curves"].values()} == {2}
        assert set(curve["compared"]) == {"float32+plain"}
    # JSON round trip and the text table.
    path = str(tmp_path / "bench.json")
    files.write_json(path, results, allow_nan=True)
    with open(path) as f:
        assert json.load(f)["training"][0]["config"] == results["training"][0]["config"]
    table = benchmark_lib.format_table(results)
    for heading in ("ceiling", "training step", "best-of-N sampling", "input pipeline"):
        assert heading in table


def test_variant_names_parse_back():
    specs = ("float32", "mixed_bfloat16+xla", "float32+plain+unfused", "mixed_float16+xla+plain")
    for spec in specs:
        assert Variant.parse(spec).name == spec
    with pytest.raises(ValueError, match="Unknown variant token"):
        Variant.parse("float32+fast")


def test_options_are_validated():
    with pytest.raises(ValueError, match="--configs"):
        BenchmarkOptions(configs=("imagenet",)).validate()
    with pytest.raises(ValueError, match="--steps"):
        BenchmarkOptions(steps=0).validate()


def _model(**kw):
    model = SVGModel(g_dim=16, nf=8, z_dim=4, rnn_size=16, n_past=2, **kw)
    model.build()
    return model


def test_flops_of_the_dcgan_encoder_by_hand():
    counts = flops.model_counts(_model())
    # 64 -> 32 -> 16 -> 8 -> 4 (4x4 convs, stride 2), then a 4x4 valid conv to g_dim.
    convs = [(32, 1, 8), (16, 8, 16), (8, 16, 32), (4, 32, 64), (1, 64, 16)]
    assert counts.encoder.total == sum(2 * s * s * 16 * i * o for s, i, o in convs)
    assert counts.encoder.first == 2 * 32 * 32 * 16 * 1 * 8
    assert counts.decoder_main + counts.skip_terms == counts.decoder


@pytest.mark.parametrize("backbone,channels", [("dcgan", 1), ("vgg", 3)])
def test_flops_agree_with_the_tf_profiler_on_convolutions(backbone, channels):
    model = _model(backbone=backbone, channels=channels)
    spec = tf.TensorSpec([1, 64, 64, channels], tf.float32)
    ours = flops.traced_forward_flops(lambda x: model.encoder(x, training=False), spec).total
    theirs = tf_profiler_flops(lambda x: model.encoder(x, training=False), spec)
    # The profiler also counts bias adds and BatchNorm, a few FLOPs per activation.
    assert ours <= theirs <= 1.02 * ours


def test_step_flops_follow_the_skip_path():
    fast, plain = _model(), _model(precompute_skips=False)
    a = flops.train_step_flops(fast, batch=2, seq_len=6)
    b = flops.train_step_flops(plain, batch=2, seq_len=6)
    assert a.plain_total == b.total == b.plain_total > a.total
    assert a.backward < 2 * a.forward  # no input gradient for the data
    s = flops.sample_flops(fast, batch=2, n_ctx=2, horizon=3, num_samples=5)
    assert s.total < s.plain_total


def test_binary_runs_tiny(tmp_path):
    out = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        "-m",
        "svgpl_tf.benchmark",
        "--tiny",
        "--configs=smmnist_svglp",
        "--noserving",
        f"--output={out}",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "training step" in proc.stdout
    assert json.loads(out.read_text())["training"][0]["config"] == "smmnist_svglp"
