"""The machine's limits: matrix-multiply GFLOP/s per dtype, and fractions of them.

The ceilings are measured at the start and at the end of a run
(`measure_ceilings`); the higher median of the two is the ceiling
(`combine_ceilings`) that every row's achieved GFLOP/s is divided by
(`rescale_fractions`).
"""

from __future__ import annotations

import os
import statistics
import time

import tensorflow as tf

from svgpl_tf import machine
from svgpl_tf.benchmarks.options import BenchmarkOptions


def matmul_gflops(dtype: str, n: int, repeats: int) -> dict:
    """GFLOP/s of an n x n by n x n matrix product in `dtype`.

    Args:
        dtype: the operands' dtype, e.g. `float32` or `bfloat16`.
        n: the matrices' side.
        repeats: timed products (after one untimed).

    Returns:
        `{"dtype", "n", "gflops" (median), "best_gflops", "times_s"}`.
    """
    a = tf.cast(tf.random.uniform([n, n], seed=1), dtype)  # [n, n]
    b = tf.cast(tf.random.uniform([n, n], seed=2), dtype)  # [n, n]
    product = tf.function(lambda x, y: tf.reduce_sum(tf.matmul(x, y)[:1, :1]))
    product(a, b).numpy()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        product(a, b).numpy()
        times.append(time.perf_counter() - start)
    work = 2.0 * n**3
    return {
        "dtype": dtype,
        "n": n,
        "gflops": work / statistics.median(times) / 1e9,
        "best_gflops": work / min(times) / 1e9,
        "times_s": times,
    }


def measure_ceilings(options: BenchmarkOptions) -> dict:
    """Matrix-multiply ceilings of every dtype the variants use, and float32.

    Args:
        options: the variants (their dtypes) and the products' size and repeats.

    Returns:
        `{dtype: matmul_gflops(...)}`, or `{"dtype", "error"}` for a dtype
        this machine cannot multiply; bfloat16 also says whether the
        hardware has it natively.
    """
    dtypes = ["float32"] + sorted({v.dtype for v in options.variants} - {"float32"})
    skipped = {}
    if "bfloat16" not in dtypes:
        dtypes.append("bfloat16")
        cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
        if cap and machine.onednn_enabled():
            # oneDNN capped below the CPU's ISA can lack the bfloat16 products that
            # TensorFlow, reading the CPU's flags, sends it: the process aborts.
            dtypes.remove("bfloat16")
            skipped["bfloat16"] = {
                "dtype": "bfloat16",
                "error": f"not measured under ONEDNN_MAX_CPU_ISA={cap}",
                "native": machine.bfloat16_hardware(),
            }
    out = {}
    for dtype in dtypes:
        try:
            out[dtype] = matmul_gflops(dtype, options.matmul_size, options.matmul_repeats)
        except (tf.errors.OpError, TypeError, ValueError) as e:
            out[dtype] = {"dtype": dtype, "error": str(e).splitlines()[0]}
        if dtype == "bfloat16":
            out[dtype]["native"] = machine.bfloat16_hardware()
    return {**out, **skipped}


def combine_ceilings(start: dict, end: dict) -> dict:
    """Per dtype: the higher of the start and end medians is the ceiling.

    Args:
        start: `measure_ceilings` at the start of the run.
        end: the same at its end.

    Returns:
        `{dtype: {"dtype", "start", "end", "gflops", "best_gflops"[, "native"]}}`.
    """
    out = {}
    for dtype, first in start.items():
        last = end.get(dtype, {})
        entry = {"dtype": dtype, "start": first, "end": last}
        values = [m["gflops"] for m in (first, last) if "gflops" in m]
        entry["gflops"] = max(values) if values else None
        entry["best_gflops"] = max(
            (m["best_gflops"] for m in (first, last) if "gflops" in m), default=None
        )
        if "native" in first:
            entry["native"] = first["native"]
        out[dtype] = entry
    return out


def rescale_fractions(rows: list[dict], ceilings: dict) -> None:
    """Sets each row's fraction against the combined ceiling of its dtype.

    Args:
        rows: training or sampling rows with `gflops_per_s` and
            `ceiling_dtype`; `ceiling_gflops` and `fraction_of_ceiling` are set.
        ceilings: `combine_ceilings`'s result.
    """
    for row in rows:
        ceiling = ceilings.get(row["ceiling_dtype"], {}).get("gflops")
        row["ceiling_gflops"] = ceiling
        row["fraction_of_ceiling"] = row["gflops_per_s"] / ceiling if ceiling else None
