"""Latency of the exported SavedModel's `serving_default` signature."""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

from svgpl_tf import runs
from svgpl_tf.benchmarks import inputs
from svgpl_tf.benchmarks.options import BenchmarkOptions, Variant, make_config
from svgpl_tf.models.svg import SVGModel

# Quantile reported for latencies.
P95 = 0.95


def bench_serving(name: str, model: SVGModel, variant: Variant, options: BenchmarkOptions) -> dict:
    """Latency of the exported SavedModel's `serving_default` signature.

    The model is checkpointed to a temporary workdir and exported with
    `svgpl_tf.serving.export_lib.export_savedmodel`; the reload is timed per request.

    Args:
        name: a key of `CONFIGS`.
        model: the model to export (of `variant`).
        variant: the variant `model` runs.
        options: the sized options of the run (samples, repeats, batches).

    Returns:
        `{"available", "reason", "config", "variant", "num_samples",
        "latency": [{"sequences", "median_s", "p95_s", "times_s"}], ...}`;
        `available` False with a `reason` when serving is not installed or
        the export failed (the run goes on).
    """
    result = {
        "available": False,
        "reason": None,
        "config": name,
        "variant": variant.name,
        "num_samples": options.serving_num_samples,
        "latency": [],
    }
    try:
        from svgpl_tf.serving import export_lib

        export_lib.serving_apis()
    except ImportError as e:
        result["reason"] = f"serving is not available: {e}"
        return result
    config = make_config(name, variant, options)
    context = inputs.test_clips(name, options, max(options.serving_batches), config.n_past)
    tmp = tempfile.mkdtemp(prefix="svg_benchmark_")
    try:
        workdir = os.path.join(tmp, "run")
        os.makedirs(workdir)
        config.save(workdir)
        _, manager = runs.make_checkpoint(model, workdir)
        manager.save(checkpoint_number=int(model.optimizer.iterations.numpy()))
        exported = export_lib.export_savedmodel(
            workdir,
            os.path.join(tmp, "serving"),
            num_samples=options.serving_num_samples,
            verify=False,
        )
        serve = tf.saved_model.load(exported.path).signatures["serving_default"]
        result.update(available=True, horizon=config.n_future, export_s=exported.seconds)
        for batch in options.serving_batches:
            # [batch, n_past, h, w, c]: the clips repeated to the request's size.
            ctx = tf.constant(np.resize(context.numpy(), (batch, *context.shape[1:])))
            seeds = tf.range(batch, dtype=tf.int64)  # [batch]
            serve(context=ctx, seed=seeds)  # first request
            times = []
            for _ in range(options.serving_repeats):
                start = time.perf_counter()
                out = serve(context=ctx, seed=seeds)
                next(iter(out.values())).numpy()
                times.append(time.perf_counter() - start)
            result["latency"].append(
                {
                    "sequences": batch,
                    "median_s": statistics.median(times),
                    "p95_s": float(np.quantile(np.asarray(times, np.float64), P95)),
                    "times_s": times,
                }
            )
    except Exception as e:  # the export is another module's: report, never crash the run
        result["available"] = False
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        result["reason"] = f"export failed: {type(e).__name__}: {lines[-1] if lines else ''}"
        result["error"] = str(e)[-4000:]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
