"""The benchmark's results as text: Markdown tables of the same figures as the JSON."""

from __future__ import annotations

from collections.abc import Sequence


def _gib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**30:.2f} GiB"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    widths = [max(len(c) for c in col) for col in zip(header, *rows)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])


def _machine_line(m: dict) -> str:
    cpus = m["usable_cpus"] or m["logical_cpus"]
    isa = ", ".join(m["cpu_flags"]) or "no AVX-512 or AMX"
    load = m.get("loadavg") or [float("nan")]
    load_end = m.get("loadavg_end") or [float("nan")]
    onednn = {True: "on", False: "off"}.get(m.get("onednn"), "unknown")
    return (
        f"Machine: {m['cpu']}, {cpus} CPUs ({isa}), GPUs: {', '.join(m['gpus']) or 'none'}; "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}, oneDNN {onednn}; "
        f"1-minute load average {load[0]:.1f} at start, {load_end[0]:.1f} at end."
    )


def _ceiling_row(dtype: str, c: dict) -> list[str]:
    def gflops(entry):
        return f"{entry['gflops']:.0f}" if entry.get("gflops") else "-"

    best = f"{c['best_gflops']:.0f}" if c.get("best_gflops") else "-"
    size = c["start"].get("n", "-")
    native = str(c.get("native", "-"))
    return [
        f"matmul {dtype} {size}^2",
        gflops(c),
        best,
        gflops(c["start"]),
        gflops(c["end"]),
        native,
    ]


def _timed_row(r: dict, size: str, time: str, rate: str, flops: str) -> list[str]:
    """A timing table's row: what ran, how fast, and its share of the ceiling."""
    return [
        r["config"],
        r["variant"],
        size,
        time,
        rate,
        flops,
        f"{r['gflops_per_s']:.0f}",
        _pct(r["fraction_of_ceiling"]),
        _gib(r["peak_memory_bytes"]),
    ]


def _training_row(r: dict) -> list[str]:
    return _timed_row(
        r,
        str(r["batch_size"]),
        f"{r['step_time_s']:.3f} s",
        f"{r['sequences_per_s']:.2f}",
        f"{r['flops_per_step'] / 1e9:.0f}",
    )


def _sampling_row(r: dict) -> list[str]:
    return _timed_row(
        r,
        f"{r['sequences']} x {r['num_samples']} x {r['horizon']}",
        f"{r['time_s']:.2f} s",
        f"{r['sequence_samples_per_s']:.1f}",
        f"{r['flops'] / 1e12:.2f}",
    )


def _pipeline_row(p: dict) -> list[str]:
    consumed = p.get("training_consumes_sequences_per_s")
    produced = f"{p['sequences_per_s']:.0f}"
    return [p["config"], p["source"], produced, "-" if consumed is None else f"{consumed:.1f}"]


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _dtype_ratio(results: dict, dtype: str, baseline_dtype: str) -> float | None:
    """The run's matmul ceiling in `dtype` over the one in `baseline_dtype`."""
    ceilings = results["ceilings"]
    top = (ceilings.get(dtype) or {}).get("gflops")
    bottom = (ceilings.get(baseline_dtype) or {}).get("gflops")
    return top / bottom if top and bottom else None


def matmul_ratio(results: dict, config: str, variant: str, baseline: str) -> float | None:
    """The matrix-product speed-up the hardware gives `variant` over `baseline`
    in this run (ratio of their dtypes' ceilings); None where a ceiling is missing.

    Args:
        results: what `run_benchmark` returns.
        config: the configuration of both training rows.
        variant: the compared variant's name.
        baseline: the main variant's name.
    """
    dtypes = {
        r["variant"]: r["ceiling_dtype"] for r in results["training"] if r["config"] == config
    }
    if variant not in dtypes or baseline not in dtypes:
        return None
    return _dtype_ratio(results, dtypes[variant], dtypes[baseline])


def _op_type_tables(profiled: Sequence[dict], top: int = 12) -> list[str]:
    """Per configuration with several profiled variants: ms/step of the op
    types that take most time, per variant, and each one's time over the first's."""
    tables = []
    for config in dict.fromkeys(r["config"] for r in profiled):
        rows = [r for r in profiled if r["config"] == config]
        if len(rows) < 2:
            continue
        times = [r["profile"]["by_op_type"] for r in rows]
        ops = sorted(set().union(*times), key=lambda k: -max(t.get(k, 0.0) for t in times))[:top]
        header = [f"op type ({config}), ms/step", *(r["variant"] for r in rows)]
        header += [f"{r['variant']} / {rows[0]['variant']}" for r in rows[1:]]
        body = []
        for op in ops:
            ms = [1000 * t.get(op, 0.0) for t in times]
            body.append([op, *(f"{m:.1f}" for m in ms)])
            body[-1] += [f"{m / ms[0]:.2f}" if ms[0] else "-" for m in ms[1:]]
        tables.append(_table(header, body))
    return tables


def _configs_line(configs: dict) -> str:
    described = [
        f"{name} ({c['flagfile']}, "
        + ", ".join(f"{k}={v}" for k, v in c["overrides"].items())
        + ")"
        for name, c in configs.items()
    ]
    return (
        "Configurations (installed flagfile, the benchmark's sizes): " + "; ".join(described) + "."
    )


def format_table(results: dict) -> str:
    """The results as Markdown tables (the same figures as the JSON).

    Args:
        results: what `run_benchmark` returns (or its JSON, read back).

    Returns:
        a line on the machine, one on the configurations, then one table per
        section, separated by blank lines.
    """
    parts = [
        _machine_line(results["machine"]),
        *([_configs_line(results["configs"])] if results.get("configs") else []),
        _table(
            ["ceiling", "GFLOP/s (median)", "best", "at start", "at end", "native"],
            [_ceiling_row(d, c) for d, c in results["ceilings"].items()],
        ),
        _table(
            [
                "training step",
                "variant",
                "batch",
                "median",
                "seq/s",
                "GFLOP/step",
                "GFLOP/s",
                "of ceiling",
                "peak memory",
            ],
            [_training_row(r) for r in results["training"]],
        ),
    ]
    profiled = [r for r in results["training"] if r.get("profile")]
    if profiled:
        rows = []
        for r in profiled:
            prof = r["profile"]
            top = ", ".join(f"{k} {1000 * v:.0f}" for k, v in list(prof["by_op_type"].items())[:6])
            share = _pct(prof["convolution_share"])
            rows.append([r["config"], r["variant"], f"{prof['wall_s']:.3f} s", share, top])
        header = ["profile (tf.profiler)", "variant", "step", "in conv kernels"]
        parts.append(_table(header + ["top op types (ms/step)"], rows))
        parts += _op_type_tables(profiled)
    if results["comparisons"]:
        rows = []
        for c in results["comparisons"]:
            ratio = matmul_ratio(results, c["config"], c["variant"], c["baseline"])
            rows.append(
                [c["config"], c["variant"], c["baseline"], f"{c['time_ratio']:.3f}"]
                + [f"{c['speedup']:.2f}x", _ratio(ratio), _pct(ratio and c["speedup"] / ratio)]
            )
        header = ["side by side", "variant", "vs (main)", "time / main's", "speed-up over main"]
        parts.append(_table(header + ["matmul ratio", "of matmul ratio"], rows))
    if results["ratios"]:
        rows = [
            [r["pair"], r["variant"], f"{r['step_time_ratio']:.2f}", f"{r['flops_ratio']:.2f}"]
            for r in results["ratios"]
        ]
        parts.append(_table(["ratio", "variant", "step time", "FLOPs"], rows))
    if results["sampling"]:
        header = ["best-of-N sampling", "variant", "seqs x N x frames", "time", "seq-samples/s"]
        header += ["TFLOP", "GFLOP/s", "of ceiling", "peak memory"]
        parts.append(_table(header, [_sampling_row(r) for r in results["sampling"]]))
        main = results["sampling"][0]
        rows = []
        for r in results["sampling"][1:]:
            speedup = main["time_s"] / r["time_s"]
            ratio = _dtype_ratio(results, r["ceiling_dtype"], main["ceiling_dtype"])
            rows.append([r["config"], r["variant"], main["variant"], f"{speedup:.2f}x"])
            rows[-1] += [_ratio(ratio), _pct(ratio and speedup / ratio)]
        if rows:
            header = ["sampling side by side", "variant", "vs (main)", "speed-up"]
            parts.append(_table(header + ["matmul ratio", "of matmul ratio"], rows))
    serving = results["serving"]
    if serving.get("available"):
        rows = [
            [
                f"{lat['sequences']} sequence(s)",
                f"{serving['num_samples']} x {serving['horizon']}",
                f"{lat['median_s']:.3f} s",
                f"{lat['p95_s']:.3f} s",
            ]
            for lat in serving["latency"]
        ]
        header = [f"SavedModel serving_default ({serving['variant']})", "samples x frames"]
        parts.append(_table(header + ["median", "p95"], rows))
    else:
        parts.append(f"SavedModel latency: not measured ({serving.get('reason')}).")
    for curve in results.get("loss_curves", []):
        rows = [
            [
                curve["config"],
                variant,
                curve["baseline"],
                f"{diff['max_abs_diff']:.4f}",
                f"{diff['mean_abs_diff']:.4f}",
                f"{curve['batch_noise']:.4f}" if curve["batch_noise"] is not None else "-",
            ]
            for variant, diff in curve["compared"].items()
        ]
        header = [f"loss curve, {curve['steps']} steps", "variant", "vs", "max abs diff"]
        parts.append(_table(header + ["mean abs diff", "batch-to-batch noise"], rows))
    header = ["input pipeline", "source", "seq/s produced", "seq/s training consumes"]
    parts.append(_table(header, [_pipeline_row(p) for p in results["pipeline"]]))
    return "\n\n".join(parts)
