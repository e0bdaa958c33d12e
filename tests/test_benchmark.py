"""The benchmark runs at a tiny size and writes the documented structure.

Its figures depend on the machine and are never asserted. The FLOP counts are
checked in test_benchmark_flops.py, the options and configurations in
test_benchmarks_options.py, its data and best-of-N selection in
test_benchmarks_inputs.py and test_benchmarks_sampling.py.
"""

import json

import pytest
from helpers import run_module

from svgpl_tf import benchmarks, files

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
def run(tmp_path_factory):
    """The binary's tiny run of every configuration, with a compared variant,
    serving and loss curves: (its JSON results, its stdout)."""
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    args = ["--tiny", "--compare=float32+plain", "--loss_curve_steps=2", f"--output={out}"]
    proc = run_module("svgpl_tf.benchmark", *args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(out.read_text()), proc.stdout


def test_tiny_run_has_every_section(run, tmp_path):
    results, stdout = run
    assert "training step" in stdout
    assert results["schema"] == benchmarks.SCHEMA_VERSION
    for key in ("cpu", "logical_cpus", "cpu_flags", "tensorflow", "keras"):
        assert key in results["machine"]
    assert {"float32", "bfloat16"} <= set(results["ceilings"])
    assert results["ceilings"]["float32"]["gflops"] > 0
    configs = set(benchmarks.CONFIGS)
    assert {n: c["flagfile"] for n, c in results["configs"].items()} == {
        n: f"{n}.flags" for n in configs
    }
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
        assert "SSIM" in row["selection"]
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
    table = benchmarks.format_table(results)
    assert "bair_svglp.flags" in table
    for heading in ("ceiling", "training step", "best-of-N sampling", "input pipeline"):
        assert heading in table


def test_report_sets_speed_ups_against_the_runs_matmul_ratio():
    from svgpl_tf.benchmarks import report

    def row(variant, dtype, profile):
        return {"config": "c", "variant": variant, "ceiling_dtype": dtype, "profile": profile}

    results = {
        "ceilings": {"float32": {"gflops": 300.0}, "bfloat16": {"gflops": 1200.0}},
        "training": [
            row("float32", "float32", {"by_op_type": {"Conv2D": 0.4, "Cast": 0.01}}),
            row("mixed_bfloat16", "bfloat16", {"by_op_type": {"Conv2D": 0.1, "Cast": 0.05}}),
        ],
    }
    assert report.matmul_ratio(results, "c", "mixed_bfloat16", "float32") == 4.0
    assert report.matmul_ratio(results, "c", "mixed_bfloat16", "absent") is None
    (table,) = report._op_type_tables(results["training"])
    lines = table.splitlines()
    assert lines[0].split("|")[1].strip() == "op type (c), ms/step"
    conv = [cell.strip() for cell in lines[2].split("|")[1:-1]]
    assert conv == ["Conv2D", "400.0", "100.0", "0.25"]
    cast = [cell.strip() for cell in lines[3].split("|")[1:-1]]
    assert cast == ["Cast", "10.0", "50.0", "5.00"]


def test_bfloat16_ceiling_skipped_under_an_isa_cap(monkeypatch):
    """oneDNN capped below the CPU (ONEDNN_MAX_CPU_ISA) may lack the bfloat16
    products TensorFlow sends it, which aborts the process: the ceiling is left
    out unless a variant computes in bfloat16."""
    from svgpl_tf.benchmarks import ceilings

    measured = []

    def fake(dtype, n, repeats):
        measured.append(dtype)
        return {"dtype": dtype, "n": n, "gflops": 1.0, "best_gflops": 1.0, "times_s": [1.0]}

    monkeypatch.setattr(ceilings, "matmul_gflops", fake)
    monkeypatch.setattr(ceilings.machine, "onednn_enabled", lambda: True)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    out = ceilings.measure_ceilings(benchmarks.BenchmarkOptions())
    assert measured == ["float32"]
    assert out["bfloat16"]["error"] == "not measured under ONEDNN_MAX_CPU_ISA=AVX2"
    bf16 = benchmarks.BenchmarkOptions(compare=(benchmarks.Variant(precision="mixed_bfloat16"),))
    measured.clear()
    assert "error" not in ceilings.measure_ceilings(bf16)["bfloat16"]
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA")
    measured.clear()
    ceilings.measure_ceilings(benchmarks.BenchmarkOptions())
    assert measured == ["float32", "bfloat16"]
