"""Training-step speed of every variant, side by side, and their loss curves.

`bench_training` times the compiled training step of each variant of a
configuration in turns, step by step, so their ratios are measured under
the same machine load; `bench_loss_curves` trains each variant a few steps
from the same weights on the same batches and compares the losses.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time

import numpy as np

from svgpl_tf import runs
from svgpl_tf.benchmarks import flops, inputs
from svgpl_tf.benchmarks.memory import MemoryMonitor
from svgpl_tf.benchmarks.options import BenchmarkOptions, Variant, make_config
from svgpl_tf.benchmarks.profiling import profile_ops
from svgpl_tf.models.conv_ops import transpose_kernels
from svgpl_tf.models.svg import SVGModel


def bench_training(
    name: str, options: BenchmarkOptions, monitor: MemoryMonitor
) -> tuple[list[dict], list[dict], dict[Variant, SVGModel]]:
    """Times the training step of configuration `name` for every variant.

    Steps of the variants alternate, so they see the same machine load.

    Args:
        name: a key of `CONFIGS`.
        options: the sized options of the run (variants, steps, profile).
        monitor: measures each variant's peak memory over its warm-up.

    Returns:
        `(rows, comparisons, models)`: one row per variant, the paired
        time ratios of each further variant to the main one, and the models.
    """
    variants = options.variants
    models, counts, configs = {}, {}, {}
    data = inputs.training_batch(name, options)  # [b, t, h, w, c]
    for variant in variants:
        config = make_config(name, variant, options)
        model = runs.build_model(config)
        model.make_train_function()
        models[variant], configs[variant] = model, config
        counts[variant] = flops.train_step_flops(model, config.batch_size, config.seq_len)

    rows = {}
    for variant, model in models.items():
        with monitor.phase() as memory:
            start = time.perf_counter()
            with transpose_kernels(variant.transpose_kernels):
                model.train_function([data])["loss"].numpy()  # traces / compiles
            first = time.perf_counter() - start
            for _ in range(options.warmup_steps - 1):
                model.train_function([data])["loss"].numpy()
        rows[variant] = {"first_step_s": first, "memory": memory, "times": []}
    for _ in range(options.steps):
        for variant, model in models.items():
            start = time.perf_counter()
            model.train_function([data])["loss"].numpy()
            rows[variant]["times"].append(time.perf_counter() - start)

    profiles = {}
    if options.profile_steps:
        logdir = options.profile_dir or tempfile.mkdtemp(prefix="svg_profile_")
        try:
            for variant, model in models.items():
                profiles[variant] = profile_ops(
                    lambda model=model: model.train_function([data])["loss"].numpy(),
                    options.profile_steps,
                    os.path.join(logdir, name, variant.name),
                )
        finally:
            if not options.profile_dir:
                shutil.rmtree(logdir, ignore_errors=True)

    out = []
    for variant, row in rows.items():
        config, count = configs[variant], counts[variant]
        step = statistics.median(row["times"])
        out.append(
            {
                "config": name,
                "variant": variant.name,
                "backbone": config.backbone,
                "frame": [config.image_size, config.image_size, config.channels],
                "batch_size": config.batch_size,
                "n_past": config.n_past,
                "n_future": config.n_future,
                "perceptual": config.perceptual_weight > 0,
                "first_step_s": row["first_step_s"],
                "step_time_s": step,
                "step_time_p90_s": float(np.quantile(np.asarray(row["times"], np.float64), 0.9)),
                "step_times_s": row["times"],
                "sequences_per_s": config.batch_size / step,
                "flops_per_step": count.total,
                "plain_flops_per_step": count.plain_total,
                "flops_breakdown": count.breakdown,
                "gflops_per_s": count.total / step / 1e9,
                "ceiling_dtype": variant.dtype,
                "peak_memory_bytes": row["memory"]["bytes"],
                "memory_kind": row["memory"]["kind"],
                "profile": profiles.get(variant),
            }
        )
    comparisons = []
    main = np.asarray(rows[variants[0]]["times"])
    for variant in variants[1:]:
        times = np.asarray(rows[variant]["times"])
        comparisons.append(
            {
                "config": name,
                "variant": variant.name,
                "baseline": variants[0].name,
                "time_ratio": float(np.median(times / main)),
                "speedup": float(np.median(main / times)),
            }
        )
    return out, comparisons, models


def bench_loss_curves(name: str, options: BenchmarkOptions) -> dict | None:
    """Loss curves of a short run of every variant, from the same weights.

    Each variant trains `options.loss_curve_steps` steps on the same batches
    of the training stream, from the same initial weights (the config's
    seed), with the same noise. The curves are compared with the main
    variant's; `batch_noise` is the median change of the main curve from one
    batch to the next, the scale a difference is "within noise" of.

    Args:
        name: a key of `CONFIGS`.
        options: the sized options of the run (variants, `loss_curve_steps`).

    Returns:
        None for configurations without a local training stream.
    """
    steps = options.loss_curve_steps
    stream = inputs.train_stream(name, options)
    if stream is None or steps < 1:
        return None
    batches = list(stream.take(steps))  # each [b, t, h, w, c]
    curves = {}
    for variant in options.variants:
        config = make_config(name, variant, options)
        model = runs.build_model(config)
        model.make_train_function()
        losses = []
        for batch in batches:
            with transpose_kernels(variant.transpose_kernels):  # the first traces
                losses.append(float(model.train_function([batch])["loss"]))
            model.reset_metrics()  # the step's own loss, not a running mean
        curves[variant.name] = losses
    main = np.asarray(curves[options.variant.name])
    noise = float(np.median(np.abs(np.diff(main)))) if steps > 1 else None
    compared = {
        v: {
            "max_abs_diff": float(np.max(np.abs(np.asarray(c) - main))),
            "mean_abs_diff": float(np.mean(np.abs(np.asarray(c) - main))),
            "final_rel_diff": float(abs(c[-1] - main[-1]) / abs(main[-1])),
        }
        for v, c in curves.items()
        if v != options.variant.name
    }
    return {
        "config": name,
        "steps": steps,
        "baseline": options.variant.name,
        "curves": curves,
        "batch_noise": noise,
        "compared": compared,
    }
