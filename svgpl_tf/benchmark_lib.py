"""Speed of training, sampling, serving and input against the machine's limits.

`run_benchmark(options)` measures, in one process:

* the ceilings: float32 (and bfloat16) matrix-multiply GFLOP/s, measured at
  the start and at the end of the run;
* for each configuration (`CONFIGS`) and each variant (precision, XLA, skip
  path): the median training-step time after warm-up, sequences per second,
  the FLOPs of a step counted from the layers (`svgpl_tf.flops`), the
  achieved GFLOP/s and its fraction of the ceiling of the variant's dtype,
  and the peak memory. Variants of one configuration are timed in turns,
  step by step, so their ratios are measured side by side;
* the SVG-PL / SVG-LP step-time ratio next to their FLOP ratio;
* best-of-N sampling: sampling N futures of 16 test sequences and keeping the
  one closest to the truth (pixel MSE), total time and sequence-samples/s;
* the exported SavedModel's `serving_default` latency for 1 and 16
  sequences (median and 95th percentile), through `svgpl_tf.serving.export_lib`;
* each input pipeline alone, in sequences/s, next to what training consumes.

`format_table(results)` renders the results as text; `run_benchmark` returns
a JSON-serialisable dict (see `SCHEMA_VERSION`). The binary is
`svgpl_tf.benchmark`.

Example:
    >>> results = run_benchmark(BenchmarkOptions(tiny=True))
    >>> print(format_table(results))
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf

from svgpl_tf import flops, runs
from svgpl_tf.config import PRECISIONS, Config
from svgpl_tf.data import digits, moving_sprites, pipeline, video
from svgpl_tf.machine import bfloat16_hardware, machine_info
from svgpl_tf.models.svg import CompiledSampler, SVGModel

# Version of the JSON layout written by the benchmark.
SCHEMA_VERSION = 1

# The configurations, as overrides of `Config` defaults.
CONFIGS: dict[str, dict] = {
    # SVG-LP on SM-MNIST: DCGAN-64, 64x64x1, batch 16, 5 + 10 frames.
    "smmnist_svglp": dict(dataset="smmnist", backbone="dcgan", channels=1, batch_size=16),
    # The same with the VGG16 perceptual term (SVG-PL), four layers, L1.
    "smmnist_svgpl": dict(
        dataset="smmnist",
        backbone="dcgan",
        channels=1,
        batch_size=16,
        perceptual_weight=1e-3,
        vgg_weights="hed",
    ),
    # SVG-LP on BAIR as in Denton & Fergus: VGG-64, 64x64x3, batch 8, 2 + 10.
    "bair_svglp": dict(
        dataset="bair", backbone="vgg", channels=3, z_dim=64, batch_size=8, n_past=2
    ),
}
# The pair whose step-time ratio is reported next to its FLOP ratio.
RATIO_PAIR = ("smmnist_svgpl", "smmnist_svglp")
# Sizes of `--tiny` runs: a few seconds in all, for CI.
TINY_OVERRIDES = dict(
    g_dim=16,
    nf=8,
    z_dim=4,
    rnn_size=16,
    batch_size=2,
    n_past=2,
    n_future=2,
    num_test_sequences=4,
    perceptual_layers="block1_conv2",
    vgg_weights="random",
)
# Quantiles reported for latencies.
P95 = 0.95


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of running the same model.

    Attributes:
        precision: `float32`, `mixed_bfloat16` or `mixed_float16`.
        jit_compile: XLA compilation of the training step and the sampler.
        precompute_skips: the shared skip terms (the fast path) or the plain
            concatenation path (token `plain`).
        fused_batchnorm: BatchNorm through the fused kernel (the default,
            see `FastBatchNormalization`), or Keras's ops (token `unfused`).
    """

    precision: str = "float32"
    jit_compile: bool = False
    precompute_skips: bool = True
    fused_batchnorm: bool = True

    @property
    def name(self) -> str:
        parts = [self.precision]
        if self.jit_compile:
            parts.append("xla")
        if not self.precompute_skips:
            parts.append("plain")
        if not self.fused_batchnorm:
            parts.append("unfused")
        return "+".join(parts)

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """`"mixed_bfloat16+xla+plain+unfused"` -> Variant; tokens in any order.

        Raises:
            ValueError: an unknown token.
        """
        values = dict(
            precision="float32", jit_compile=False, precompute_skips=True, fused_batchnorm=True
        )
        for token in filter(None, (t.strip() for t in spec.split("+"))):
            if token in PRECISIONS:
                values["precision"] = token
            elif token == "xla":
                values["jit_compile"] = True
            elif token == "plain":
                values["precompute_skips"] = False
            elif token == "unfused":
                values["fused_batchnorm"] = False
            else:
                raise ValueError(
                    f"Unknown variant token {token!r} in {spec!r}: use one of "
                    f"{', '.join(PRECISIONS)}, 'xla', 'plain' and 'unfused' joined by '+'."
                )
        return cls(**values)

    @property
    def dtype(self) -> str:
        """The dtype of the ceiling this variant is compared with."""
        return {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(
            self.precision, "float32"
        )


@dataclasses.dataclass(frozen=True)
class BenchmarkOptions:
    """What `run_benchmark` measures, and how long.

    Attributes:
        configs: names in `CONFIGS`.
        variant: the main variant (the table's figures).
        compare: further variants timed side by side with the main one.
        steps: timed training steps per configuration and variant.
        warmup_steps: untimed steps first (the first one traces/compiles).
        sample_sequences: sequences of the sampling benchmark.
        sample_context: their context frames.
        sample_horizon: predicted frames per sample.
        num_samples: samples per sequence (best-of-N).
        sample_repeats: timed sampling calls per variant.
        serving: time the exported SavedModel (needs the `[serving]` extra).
        serving_num_samples: samples per sequence of the exported signature.
        serving_repeats: timed requests per batch size.
        serving_batches: sequences per request.
        pipeline_batches: batches drawn to time each input pipeline.
        loss_curve_steps: train each variant this many steps from the same
            initial weights on the same batches and compare the loss curves,
            on the sampled configuration (SM-MNIST SVG-LP); 0: skip.
        matmul_size: n of the n x n matrix products of the ceilings.
        matmul_repeats: timed products per dtype.
        profile_steps: after timing, trace this many training steps of the
            main variant with `tf.profiler` and summarise the time by op
            type (0: no trace).
        profile_dir: where the traces go (TensorBoard's profile plugin reads
            them); empty: a temporary folder, removed afterwards.
        tiny: shrink every size so the run takes seconds (for CI).
    """

    configs: tuple[str, ...] = tuple(CONFIGS)
    variant: Variant = Variant()
    compare: tuple[Variant, ...] = ()
    steps: int = 10
    warmup_steps: int = 2
    sample_sequences: int = 16
    sample_context: int = 5
    sample_horizon: int = 10
    num_samples: int = 100
    sample_repeats: int = 1
    serving: bool = True
    serving_num_samples: int = 10
    serving_repeats: int = 10
    serving_batches: tuple[int, ...] = (1, 16)
    pipeline_batches: int = 20
    loss_curve_steps: int = 0
    matmul_size: int = 4096
    matmul_repeats: int = 5
    profile_steps: int = 0
    profile_dir: str = ""
    tiny: bool = False

    def validate(self) -> BenchmarkOptions:
        """Raises ValueError naming the option; returns the options to run."""
        unknown = [c for c in self.configs if c not in CONFIGS]
        if unknown or not self.configs:
            raise ValueError(f"--configs: unknown {unknown}; choose from {', '.join(CONFIGS)}.")
        positive = (
            "steps",
            "warmup_steps",
            "num_samples",
            "sample_sequences",
            "sample_horizon",
            "sample_repeats",
            "serving_repeats",
            "pipeline_batches",
            "matmul_size",
            "matmul_repeats",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name}={getattr(self, name)}: must be >= 1.")
        if self.sample_context < 1:
            raise ValueError(f"--sample_context={self.sample_context}: must be >= 1.")
        return self

    def sized(self) -> BenchmarkOptions:
        """The options actually run: shrunk when `tiny`."""
        if not self.tiny:
            return self
        return dataclasses.replace(
            self,
            steps=min(self.steps, 2),
            warmup_steps=1,
            sample_sequences=2,
            sample_context=2,
            sample_horizon=2,
            num_samples=3,
            sample_repeats=1,
            serving_num_samples=2,
            serving_repeats=2,
            serving_batches=(1, 2),
            pipeline_batches=2,
            loss_curve_steps=min(self.loss_curve_steps, 2),
            profile_steps=min(self.profile_steps, 1),
            matmul_size=128,
            matmul_repeats=2,
        )

    @property
    def variants(self) -> tuple[Variant, ...]:
        out = [self.variant]
        out += [v for v in self.compare if v not in out]
        return tuple(out)


# ------------------------------------------------------------- the machine


def matmul_gflops(dtype: str, n: int, repeats: int) -> dict:
    """GFLOP/s of an n x n by n x n matrix product in `dtype`.

    Returns:
        `{"dtype", "n", "gflops" (median), "best_gflops", "times_s"}`.
    """
    a = tf.cast(tf.random.uniform([n, n], seed=1), dtype)
    b = tf.cast(tf.random.uniform([n, n], seed=2), dtype)
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
    """Matrix-multiply ceilings of every dtype the variants use, and float32."""
    dtypes = ["float32"] + sorted({v.dtype for v in options.variants} - {"float32"})
    if "bfloat16" not in dtypes:
        dtypes.append("bfloat16")
    out = {}
    for dtype in dtypes:
        try:
            out[dtype] = matmul_gflops(dtype, options.matmul_size, options.matmul_repeats)
        except (tf.errors.OpError, TypeError, ValueError) as e:
            out[dtype] = {"dtype": dtype, "error": str(e).splitlines()[0]}
        if dtype == "bfloat16":
            out[dtype]["native"] = bfloat16_hardware()
    return out


# ------------------------------------------------------------------ memory


def _rss_bytes() -> int:
    """Resident memory of this process now."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MemoryMonitor:
    """Peak memory of phases of the run: device memory on a GPU, else the
    process's resident memory, sampled every `interval_s` by a thread.

    Example:
        >>> monitor = MemoryMonitor()
        >>> with monitor.phase() as peak:
        ...     work()
        >>> peak["bytes"]
    """

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self._gpu = bool(tf.config.list_physical_devices("GPU"))
        self.kind = "gpu_peak" if self._gpu else "process_rss_peak"

    @contextlib.contextmanager
    def phase(self) -> Iterator[dict]:
        """Yields a dict whose `bytes` holds the phase's peak when it ends."""
        result = {"bytes": None, "kind": self.kind}
        if self._gpu:
            tf.config.experimental.reset_memory_stats("GPU:0")
            yield result
            result["bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
            return
        peak = [_rss_bytes()]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_bytes())
                stop.wait(self.interval_s)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield result
        finally:
            stop.set()
            thread.join()
            result["bytes"] = max(peak[0], _rss_bytes())


# ---------------------------------------------------------------- training


def make_config(name: str, variant: Variant, tiny: bool) -> Config:
    """The `Config` of configuration `name` run as `variant`."""
    values = dict(CONFIGS[name])
    values.update(
        precision=variant.precision,
        jit_compile=variant.jit_compile,
        precompute_skips=variant.precompute_skips,
        fused_batchnorm=variant.fused_batchnorm,
    )
    if tiny:
        values.update(TINY_OVERRIDES)
    return Config(**values).validate()


@functools.lru_cache(maxsize=8)
def _sprites(source: str, split: str, mnist_path: str, offline: bool, tiny: bool) -> np.ndarray:
    """SM-MNIST sprites of one split, loaded once per run (tiny: 100 procedural ones)."""
    extra = {"num_procedural": 100} if tiny and source == "procedural" else {}
    return digits.load_sprites(
        source, split, mnist_path=mnist_path or None, allow_download=not offline, **extra
    )


def train_stream(config: Config, tiny: bool = False) -> tf.data.Dataset | None:
    """The training pipeline of an SM-MNIST config (as `pipeline.make_datasets`
    builds it); None for file datasets, which are not on this machine."""
    if config.dataset != "smmnist":
        return None
    sprites = _sprites(config.sprites, "train", config.mnist_path, config.offline, tiny)
    return moving_sprites.train_dataset(
        sprites,
        batch_size=config.batch_size,
        seq_len=config.seq_len,
        seed=config.seed,
        num_sprites=config.num_sprites,
        image_size=config.image_size,
    )


def test_clips(config: Config, sequences: int, length: int, tiny: bool = False) -> tf.Tensor:
    """The first `sequences` clips `[b, length, h, w, c]` of the fixed SM-MNIST
    test split; uniform noise for other datasets."""
    if config.dataset != "smmnist":
        size, c = config.image_size, config.channels
        return tf.random.uniform([sequences, length, size, size, c], seed=0)
    sprites = _sprites(config.sprites, "test", config.mnist_path, config.offline, tiny)
    ds = moving_sprites.test_dataset(
        sprites,
        num_sequences=sequences,
        seq_len=length,
        batch_size=sequences,
        seed=pipeline.TEST_SEED,
        num_sprites=config.num_sprites,
        image_size=config.image_size,
    )
    return next(iter(ds))


def _batch(config: Config, tiny: bool) -> tf.Tensor:
    """One training batch: from the pipeline when there is one, else uniform noise."""
    stream = train_stream(config, tiny)
    if stream is not None:
        return next(iter(stream))
    shape = [config.batch_size, config.seq_len, config.image_size, config.image_size]
    return tf.random.uniform(shape + [config.channels], seed=0)


def _quantile(values: Sequence[float], q: float) -> float:
    return float(np.quantile(np.asarray(values, np.float64), q))


def bench_training(
    name: str, options: BenchmarkOptions, monitor: MemoryMonitor
) -> tuple[list[dict], list[dict], dict[Variant, SVGModel]]:
    """Times the training step of configuration `name` for every variant.

    Steps of the variants alternate, so they see the same machine load.

    Returns:
        `(rows, comparisons, models)`: one row per variant, the paired
        time ratios of each further variant to the main one, and the models.
    """
    variants = options.variants
    models, counts, configs, data = {}, {}, {}, None
    for variant in variants:
        config = make_config(name, variant, options.tiny)
        model = runs.build_model(config)
        model.make_train_function()
        if data is None:
            data = _batch(config, options.tiny)
        models[variant], configs[variant] = model, config
        counts[variant] = flops.train_step_flops(model, config.batch_size, config.seq_len)

    rows = {}
    for variant, model in models.items():
        with monitor.phase() as memory:
            start = time.perf_counter()
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

    profile = None
    if options.profile_steps:
        main_model = models[variants[0]]
        logdir = options.profile_dir or tempfile.mkdtemp(prefix="svg_profile_")
        try:
            profile = profile_ops(
                lambda: main_model.train_function([data])["loss"].numpy(),
                options.profile_steps,
                os.path.join(logdir, name),
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
                "step_time_p90_s": _quantile(row["times"], 0.9),
                "step_times_s": row["times"],
                "sequences_per_s": config.batch_size / step,
                "flops_per_step": count.total,
                "plain_flops_per_step": count.plain_total,
                "flops_breakdown": count.breakdown,
                "gflops_per_s": count.total / step / 1e9,
                "ceiling_dtype": variant.dtype,
                "peak_memory_bytes": row["memory"]["bytes"],
                "memory_kind": row["memory"]["kind"],
                "profile": profile if variant == variants[0] else None,
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


# First characters of op types in a trace (oneDNN kernels start with "_Mkl").
_OP_TYPE_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
# Op types of convolution kernels (TF's and oneDNN's names) in a trace.
_CONV_OP_TYPES = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "FusedConv2D")


def _trace_op_seconds(logdir: str) -> dict[str, float]:
    """Seconds per op type of the TensorFlow ops in the traces under `logdir`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    seconds: dict[str, float] = {}
    for root, _, files in os.walk(logdir):
        for name in files:
            if not name.endswith(".xplane.pb"):
                continue
            space = xplane_pb2.XSpace()
            with open(os.path.join(root, name), "rb") as f:
                space.ParseFromString(f.read())
            for plane in space.planes:
                for line in plane.lines:
                    for event in line.events:
                        label = plane.event_metadata[event.metadata_id].name
                        if ":" not in label:
                            continue
                        op_type = label.rsplit(":", 1)[1]
                        if (
                            not op_type
                            or op_type[0] not in _OP_TYPE_START
                            or op_type.startswith("__")
                            or op_type in ("Run", "Process")
                        ):
                            continue  # function and executor events, not ops
                        seconds[op_type] = seconds.get(op_type, 0.0) + event.duration_ps * 1e-12
    return seconds


def profile_ops(run_step, steps: int, logdir: str) -> dict:
    """Op-level time of `steps` calls of `run_step`, from a `tf.profiler` trace.

    Returns:
        `{"wall_s", "ops_s", "convolution_s", "convolution_share", "by_op_type"}`
        per step; oneDNN's kernel names (`_MklNative...`) are mapped back to
        TF's op types. Ops may overlap on several threads, so `ops_s` can
        exceed `wall_s`.
    """
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(steps):
        run_step()
    wall = (time.perf_counter() - start) / steps
    tf.profiler.experimental.stop()
    by_type: dict[str, float] = {}
    for op_type, secs in _trace_op_seconds(logdir).items():
        op_type = op_type.removeprefix("_MklNative").removeprefix("_Mkl")
        by_type[op_type] = by_type.get(op_type, 0.0) + secs / steps
    total = sum(by_type.values())
    conv = sum(v for k, v in by_type.items() if k.startswith(_CONV_OP_TYPES))
    top = dict(sorted(by_type.items(), key=lambda kv: -kv[1])[:15])
    return {
        "wall_s": wall,
        "ops_s": total,
        "convolution_s": conv,
        "convolution_share": conv / total if total else None,
        "by_op_type": top,
    }


# ---------------------------------------------------------------- sampling


def best_of_n(frames: tf.Tensor, future: tf.Tensor) -> tf.Tensor:
    """The sample closest to the truth (pixel MSE) of each sequence.

    Args:
        frames: samples `[b, n, t, h, w, c]`.
        future: the true frames `[b, t, h, w, c]`.

    Returns:
        `[b, t, h, w, c]`.
    """
    mse = tf.reduce_mean(tf.square(frames - future[:, None]), axis=[2, 3, 4, 5])  # [b, n]
    return tf.gather(frames, tf.argmin(mse, axis=1), batch_dims=1)


def bench_sampling(
    name: str, models: dict[Variant, SVGModel], options: BenchmarkOptions, monitor: MemoryMonitor
) -> list[dict]:
    """Times best-of-N sampling with each variant's model (`CompiledSampler`)."""
    b, n = options.sample_sequences, options.sample_context
    t, s = options.sample_horizon, options.num_samples
    config = make_config(name, Variant(), options.tiny)
    clips = test_clips(config, b, n + t, options.tiny)
    context, future = clips[:, :n], clips[:, n:]  # [b, n, ...], [b, t, ...]
    samplers, firsts, timings, peaks = {}, {}, {}, {}
    for variant, model in models.items():
        sampler = CompiledSampler(model, jit_compile=variant.jit_compile)
        # XLA compiles per (horizon, num_samples): it warms up on the timed sizes.
        warm = (t, s) if variant.jit_compile else (1, 1)
        start = time.perf_counter()
        sampler(context, warm[0], warm[1], seed=0).numpy()
        samplers[variant], firsts[variant] = sampler, time.perf_counter() - start
        timings[variant], peaks[variant] = [], []
    for repeat in range(options.sample_repeats):  # variants in turns
        for variant, sampler in samplers.items():
            with monitor.phase() as memory:
                start = time.perf_counter()
                frames = sampler(context, t, s, seed=repeat)  # [b, s, t, h, w, c]
                best_of_n(frames, future).numpy()
                timings[variant].append(time.perf_counter() - start)
                del frames
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


# ------------------------------------------------------------- loss curves


def bench_loss_curves(name: str, options: BenchmarkOptions) -> dict | None:
    """Loss curves of a short run of every variant, from the same weights.

    Each variant trains `options.loss_curve_steps` steps on the same batches
    of the training stream, from the same initial weights (the config's
    seed), with the same noise. The curves are compared with the main
    variant's; `batch_noise` is the median change of the main curve from one
    batch to the next, the scale a difference is "within noise" of.

    Returns:
        None for configurations without a local training stream.
    """
    steps = options.loss_curve_steps
    config = make_config(name, options.variant, options.tiny)
    stream = train_stream(config, options.tiny)
    if stream is None or steps < 1:
        return None
    batches = list(stream.take(steps))
    curves = {}
    for variant in options.variants:
        config = make_config(name, variant, options.tiny)
        model = runs.build_model(config)
        model.make_train_function()
        losses = []
        for batch in batches:
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


# ----------------------------------------------------------------- serving


def bench_serving(name: str, model: SVGModel, variant: Variant, options: BenchmarkOptions) -> dict:
    """Latency of the exported SavedModel's `serving_default` signature.

    The model is checkpointed to a temporary workdir and exported with
    `svgpl_tf.serving.export_lib.export_savedmodel`; the reload is timed per request.
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
    config = make_config(name, variant, options.tiny)
    context = test_clips(config, max(options.serving_batches), config.n_past, options.tiny)
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
            ctx = tf.constant(np.resize(context.numpy(), (batch, *context.shape[1:])))
            seeds = tf.range(batch, dtype=tf.int64)
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
                    "p95_s": _quantile(times, P95),
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


# ---------------------------------------------------------------- pipeline


def _time_batches(ds: tf.data.Dataset, batches: int) -> tuple[float, int]:
    """Seconds to draw `batches` batches after the first, and the batch size."""
    it = iter(ds)
    size = int(next(it).shape[0])
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return time.perf_counter() - start, size


def bench_pipeline(name: str, options: BenchmarkOptions) -> dict:
    """Sequences/s of the configuration's training input pipeline alone.

    SM-MNIST runs its real pipeline. BAIR runs `video.train_pipeline` (window,
    scale, batch, prefetch) on clips held in memory: the TFDS files are not on
    this machine, so reading and decoding them is not included.
    """
    config = make_config(name, Variant(), options.tiny)
    if config.dataset == "smmnist":
        ds = train_stream(config, options.tiny)
        source = f"smmnist: moving_sprites.train_dataset, {config.sprites} sprites"
    else:
        clips = np.random.default_rng(0).integers(
            0, 256, (64, 30, config.image_size, config.image_size, config.channels), np.uint8
        )
        ds = video.train_pipeline(
            tf.data.Dataset.from_tensor_slices(clips),
            length=config.seq_len,
            batch_size=config.batch_size,
            seed=0,
            shuffle_buffer=64,
        )
        source = "bair: video.train_pipeline on in-memory uint8 clips (no file reading)"
    seconds, size = _time_batches(ds, options.pipeline_batches)
    return {
        "config": name,
        "source": source,
        "batches": options.pipeline_batches,
        "sequences_per_s": options.pipeline_batches * size / seconds,
    }


# --------------------------------------------------------------------- run


def run_benchmark(options: BenchmarkOptions, log=print) -> dict:
    """Runs every measurement of `options`; returns the results as a dict.

    Args:
        options: what to measure.
        log: called with a line of progress per phase (None: silent).
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
        "flops_convention": flops.CONVENTION,
    }
    sampled = _sampling_config(options.configs)
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
    ceilings = _combine_ceilings(start_ceilings, end_ceilings)
    _rescale_fractions(training + sampling, ceilings)
    step = {p["config"]: p for p in training if p["variant"] == options.variant.name}
    for p in pipelines:
        if p["config"] in step:
            p["training_consumes_sequences_per_s"] = step[p["config"]]["sequences_per_s"]
    results.update(
        ceilings=ceilings,
        training=training,
        comparisons=comparisons,
        ratios=_ratios(training, options),
        sampling=sampling,
        serving=serving or {"available": False, "reason": "--noserving"},
        pipeline=pipelines,
        loss_curves=curves,
    )
    results["machine"]["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return results


def _sampling_config(configs: Sequence[str]) -> str:
    """The configuration sampled from: SM-MNIST SVG-LP when it is run, else the first."""
    return "smmnist_svglp" if "smmnist_svglp" in configs else configs[0]


def _options_dict(requested: BenchmarkOptions, options: BenchmarkOptions) -> dict:
    out = dataclasses.asdict(options)
    out["variant"] = options.variant.name
    out["compare"] = [v.name for v in requested.compare]
    return out


def _combine_ceilings(start: dict, end: dict) -> dict:
    """Per dtype: the higher of the start and end medians is the ceiling."""
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


def _rescale_fractions(rows: list[dict], ceilings: dict) -> None:
    """Fractions against the combined ceiling of each row's dtype."""
    for row in rows:
        ceiling = ceilings.get(row["ceiling_dtype"], {}).get("gflops")
        row["ceiling_gflops"] = ceiling
        row["fraction_of_ceiling"] = row["gflops_per_s"] / ceiling if ceiling else None


def _ratios(training: list[dict], options: BenchmarkOptions) -> list[dict]:
    """SVG-PL / SVG-LP step-time ratio next to their FLOP ratio, per variant."""
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


# -------------------------------------------------------------------- output


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
    return (
        f"Machine: {m['cpu']}, {cpus} CPUs ({isa}), GPUs: {', '.join(m['gpus']) or 'none'}; "
        f"TensorFlow {m['tensorflow']}, Keras {m['keras']}; "
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


def _training_row(r: dict) -> list[str]:
    return [
        r["config"],
        r["variant"],
        str(r["batch_size"]),
        f"{r['step_time_s']:.3f} s",
        f"{r['sequences_per_s']:.2f}",
        f"{r['flops_per_step'] / 1e9:.0f}",
        f"{r['gflops_per_s']:.0f}",
        _pct(r["fraction_of_ceiling"]),
        _gib(r["peak_memory_bytes"]),
    ]


def _sampling_row(r: dict) -> list[str]:
    return [
        r["config"],
        r["variant"],
        f"{r['sequences']} x {r['num_samples']} x {r['horizon']}",
        f"{r['time_s']:.2f} s",
        f"{r['sequence_samples_per_s']:.1f}",
        f"{r['flops'] / 1e12:.2f}",
        f"{r['gflops_per_s']:.0f}",
        _pct(r["fraction_of_ceiling"]),
        _gib(r["peak_memory_bytes"]),
    ]


def _pipeline_row(p: dict) -> list[str]:
    consumed = p.get("training_consumes_sequences_per_s")
    produced = f"{p['sequences_per_s']:.0f}"
    return [p["config"], p["source"], produced, "-" if consumed is None else f"{consumed:.1f}"]


def format_table(results: dict) -> str:
    """The results as Markdown tables (the same figures as the JSON)."""
    parts = [
        _machine_line(results["machine"]),
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
            rows.append([r["config"], f"{prof['wall_s']:.3f} s", share, top])
        header = ["profile (tf.profiler)", "step", "in conv kernels", "top op types (ms/step)"]
        parts.append(_table(header, rows))
    if results["comparisons"]:
        rows = [
            [c["config"], c["variant"], c["baseline"], f"{c['time_ratio']:.3f}"]
            + [f"{c['speedup']:.2f}x"]
            for c in results["comparisons"]
        ]
        header = ["side by side", "variant", "vs (main)", "time / main's", "speed-up over main"]
        parts.append(_table(header, rows))
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
