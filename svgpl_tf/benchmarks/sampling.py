"""Best-of-N sampling speed: N futures of each test sequence, the best kept.

The best sample is chosen as evaluation chooses it (`svgpl_tf.evaluation.metrics`): the
one with the highest SSIM against the truth, averaged over the predicted
steps, in evaluation's default SSIM mode; the timed call includes that choice.
"""

from __future__ import annotations

import statistics
import time

import tensorflow as tf

from svgpl_tf.benchmarks import flops, inputs
from svgpl_tf.benchmarks.memory import MemoryMonitor
from svgpl_tf.benchmarks.options import BenchmarkOptions, Variant
from svgpl_tf.evaluation import metrics
from svgpl_tf.evaluation.options import DEFAULT_SSIM_MODE
from svgpl_tf.models.conv_ops import transpose_kernels
from svgpl_tf.models.sampling import CompiledSampler
from svgpl_tf.models.svg import SVGModel


def select_best(
    frames: tf.Tensor, future: tf.Tensor, ssim_mode: str = DEFAULT_SSIM_MODE
) -> tuple[tf.Tensor, tf.Tensor]:
    """The sample of each sequence with the best mean SSIM, as evaluation picks it.

    Args:
        frames: samples `[b, n, t, h, w, c]`.
        future: the true frames `[b, t, h, w, c]`.
        ssim_mode: `"uniform"` or `"gaussian"` (see `svgpl_tf.evaluation.metrics`).

    Returns:
        `(best, ssim)`: the best sample's frames `[b, t, h, w, c]` and its
        SSIM per step `[b, t]` (`metrics.best_of_n` of the scores).
    """
    score = metrics.ssim(frames, future[:, None], ssim_mode)  # [b, n, t]
    best, _ = metrics.rank_samples(score)  # [b]
    return tf.gather(frames, best, batch_dims=1), metrics.take_sample(score, best)


def bench_sampling(
    name: str, models: dict[Variant, SVGModel], options: BenchmarkOptions, monitor: MemoryMonitor
) -> list[dict]:
    """Times best-of-N sampling with each variant's model (`CompiledSampler`).

    Args:
        name: a key of `CONFIGS`.
        models: the trained-a-few-steps model of each variant.
        options: the sized options of the run (sequences, context, horizon, N).
        monitor: measures each timed call's peak memory.

    Returns:
        one row per variant.
    """
    b, n = options.sample_sequences, options.sample_context
    t, s = options.sample_horizon, options.num_samples
    clips = inputs.test_clips(name, options, b, n + t)  # [b, n + t, h, w, c]
    context, future = clips[:, :n], clips[:, n:]  # [b, n, ...], [b, t, ...]
    samplers, firsts, timings, peaks = {}, {}, {}, {}
    for variant, model in models.items():
        sampler = CompiledSampler(
            model,
            jit_compile=variant.jit_compile,
            compiled_elementwise=variant.compiled_elementwise,
        )
        # XLA compiles per (horizon, num_samples): it warms up on the timed sizes.
        warm = (t, s) if variant.jit_compile else (1, 1)
        start = time.perf_counter()
        with transpose_kernels(variant.transpose_kernels):  # traces
            sampler(context, warm[0], warm[1], seed=0).numpy()
        samplers[variant], firsts[variant] = sampler, time.perf_counter() - start
        timings[variant], peaks[variant] = [], []
    for repeat in range(options.sample_repeats):  # variants in turns
        for variant, sampler in samplers.items():
            with monitor.phase() as memory:
                start = time.perf_counter()
                frames = sampler(context, t, s, seed=repeat)  # [b, s, t, h, w, c]
                best, _ = select_best(frames, future)  # [b, t, h, w, c]
                best.numpy()
                timings[variant].append(time.perf_counter() - start)
                del frames, best
            peaks[variant].append(memory["bytes"])
    rows = []
    for variant, model in models.items():
        times = timings[variant]
        count = flops.sample_flops(model, b, n, t, s)
        took = statistics.median(times)
        rows.append(
            {
                "config": name,
                "variant": variant.name,
                "sequences": b,
                "context": n,
                "horizon": t,
                "num_samples": s,
                "selection": f"best mean SSIM ({DEFAULT_SSIM_MODE}), as evaluation",
                "first_call_s": firsts[variant],
                "time_s": took,
                "times_s": times,
                "sequence_samples_per_s": b * s / took,
                "flops": count.total,
                "plain_flops": count.plain_total,
                "flops_breakdown": count.breakdown,
                "gflops_per_s": count.total / took / 1e9,
                "ceiling_dtype": variant.dtype,
                "peak_memory_bytes": max(peaks[variant]),
                "memory_kind": monitor.kind,
                "traces": samplers[variant].tracing_count(),
            }
        )
    return rows
