"""`run_benchmark`: every measurement of the options, in one process, as one dict."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

from svgpl_tf.benchmarks import flops
from svgpl_tf.benchmarks.ceilings import combine_ceilings, measure_ceilings, rescale_fractions
from svgpl_tf.benchmarks.memory import MemoryMonitor
from svgpl_tf.benchmarks.options import RATIO_PAIR, BenchmarkOptions, describe_configs
from svgpl_tf.benchmarks.pipeline import bench_pipeline
from svgpl_tf.benchmarks.sampling import bench_sampling
from svgpl_tf.benchmarks.serving import bench_serving
from svgpl_tf.benchmarks.training import bench_loss_curves, bench_training
from svgpl_tf.machine import machine_info

# Version of the JSON layout written by the benchmark.
SCHEMA_VERSION = 1


def run_benchmark(options: BenchmarkOptions, log: Callable[[str], None] | None = print) -> dict:
    """Runs every measurement of `options`; returns the results as a dict.

    Args:
        options: what to measure.
        log: called with a line of progress per phase (None: silent).

    Returns:
        a JSON-serialisable dict: `schema`, `machine`, `options`, `variants`,
        `configs`, `flops_convention`, `ceilings`, `training`, `comparisons`,
        `ratios`, `sampling`, `serving`, `pipeline`, `loss_curves`.
    """
    options.validate()
    requested = options
    options = options.sized()
    log = log or (lambda *_: None)
    monitor = MemoryMonitor()
    results = {
        "schema": SCHEMA_VERSION,
        "machine": machine_info(),
        "options": _options_dict(requested, options),
        "variants": [dataclasses.asdict(v) | {"name": v.name} for v in options.variants],
        "configs": describe_configs(options),
        "flops_convention": flops.CONVENTION,
    }
    sampled = sampling_config(options.configs)
    log("ceilings: matrix products ...")
    start_ceilings = measure_ceilings(options)
    training, comparisons, sampling, pipelines, curves = [], [], [], [], []
    serving = None
    for name in options.configs:
        log(f"training: {name} ({', '.join(v.name for v in options.variants)}) ...")
        rows, compared, models = bench_training(name, options, monitor)
        training += rows
        comparisons += compared
        log(f"pipeline: {name} ...")
        pipelines.append(bench_pipeline(name, options))
        if name == sampled:
            log(f"sampling: {name}, best of {options.num_samples} ...")
            sampling += bench_sampling(name, models, options, monitor)
            if options.serving:
                log(f"serving: {name} SavedModel ...")
                serving = bench_serving(name, models[options.variant], options.variant, options)
        del models
        if options.loss_curve_steps and name == sampled:
            log(f"loss curves: {name}, {options.loss_curve_steps} steps ...")
            curve = bench_loss_curves(name, options)
            curves += [curve] if curve else []
    log("ceilings: again ...")
    end_ceilings = measure_ceilings(options)
    ceilings = combine_ceilings(start_ceilings, end_ceilings)
    rescale_fractions(training + sampling, ceilings)
    step = {p["config"]: p for p in training if p["variant"] == options.variant.name}
    for p in pipelines:
        if p["config"] in step:
            p["training_consumes_sequences_per_s"] = step[p["config"]]["sequences_per_s"]
    results.update(
        ceilings=ceilings,
        training=training,
        comparisons=comparisons,
        ratios=step_time_ratios(training, options),
        sampling=sampling,
        serving=serving or {"available": False, "reason": "--noserving"},
        pipeline=pipelines,
        loss_curves=curves,
    )
    results["machine"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return results


def sampling_config(configs: Sequence[str]) -> str:
    """The configuration sampled from: SM-MNIST SVG-LP when it is run, else the first.

    Args:
        configs: the configurations of the run, in order.
    """
    return "smmnist_svglp" if "smmnist_svglp" in configs else configs[0]


def _options_dict(requested: BenchmarkOptions, options: BenchmarkOptions) -> dict:
    """The options run, with the variants by name (the compared ones as requested)."""
    out = dataclasses.asdict(options)
    del out["flagfiles"]  # in `configs`, with the overrides
    out["variant"] = options.variant.name
    out["compare"] = [v.name for v in requested.compare]
    return out


def step_time_ratios(training: list[dict], options: BenchmarkOptions) -> list[dict]:
    """SVG-PL / SVG-LP step-time ratio next to their FLOP ratio, per variant.

    Args:
        training: the training rows of the run.
        options: the run's variants.

    Returns:
        one `{"variant", "pair", "step_time_ratio", "flops_ratio"}` per
        variant that ran both configurations of `RATIO_PAIR`.
    """
    top, bottom = RATIO_PAIR
    out = []
    for variant in options.variants:
        rows = {r["config"]: r for r in training if r["variant"] == variant.name}
        if top in rows and bottom in rows:
            out.append(
                {
                    "variant": variant.name,
                    "pair": f"{top}/{bottom}",
                    "step_time_ratio": rows[top]["step_time_s"] / rows[bottom]["step_time_s"],
                    "flops_ratio": rows[top]["flops_per_step"] / rows[bottom]["flops_per_step"],
                }
            )
    return out
