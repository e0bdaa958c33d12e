"""Speed of training, sampling, serving and input against the machine's limits.

`run_benchmark(options)` measures, in one process:

* the ceilings: float32 (and bfloat16) matrix-multiply GFLOP/s, measured at
  the start and at the end of the run (`ceilings`);
* for each configuration (`CONFIGS`: the installed flagfiles of the same
  names with the benchmark's batch sizes, `options`) and each variant (precision, XLA, skip path,
  BatchNorm kernel): the median training-step time after warm-up, sequences
  per second, the FLOPs of a step counted from the layers (`flops`),
  the achieved GFLOP/s and its fraction of the ceiling of the variant's dtype,
  and the peak memory (`memory`). Variants of one configuration are timed in
  turns, step by step, so their ratios are measured side by side
  (`training`; a `tf.profiler` summary by op type in `profiling`);
* the SVG-PL / SVG-LP step-time ratio next to their FLOP ratio;
* best-of-N sampling: sampling N futures of 16 test sequences and keeping the
  one evaluation keeps (highest mean SSIM, `svgpl_tf.evaluation.metrics`), total time and
  sequence-samples/s (`sampling`);
* the exported SavedModel's `serving_default` latency for 1 and 16
  sequences (median and 95th percentile), through
  `svgpl_tf.serving.export_lib` (`serving`);
* each input pipeline alone, in sequences/s, next to what training consumes
  (`pipeline`; the data comes from `svgpl_tf.data.pipeline.make_datasets`,
  `inputs`);
* with `loss_curve_steps`, the loss curves of every variant from the same
  weights and batches (`training`).

`run_benchmark` and `SCHEMA_VERSION` load TensorFlow when first used; the
rest of this package does not, so the binary answers a bad flag at once.

`format_table(results)` renders the results as text (`report`);
`run_benchmark` (`run`) returns a JSON-serialisable dict (see
`SCHEMA_VERSION`). The binary is `svgpl_tf.benchmark`.

The configurations' flagfiles are parsed by the binary, where flags are
(`svgpl_tf.benchmark.flagfile_configs`), and passed in as `Config`s.

Example:
    >>> flagfiles = {name: config_of_installed_flagfile(name) for name in CONFIGS}
    >>> results = run_benchmark(BenchmarkOptions(flagfiles=flagfiles, tiny=True))
    >>> print(format_table(results))
"""

from svgpl_tf.benchmarks.options import CONFIGS, BenchmarkOptions, Variant
from svgpl_tf.benchmarks.report import format_table

# `run` loads TensorFlow: it is imported on first use of these names, so that
# the binary checks its flags before it pays for that (PEP 562).
_FROM_RUN = ("SCHEMA_VERSION", "run_benchmark")


def __getattr__(name: str):
    if name in _FROM_RUN:
        from svgpl_tf.benchmarks import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONFIGS",
    "SCHEMA_VERSION",
    "BenchmarkOptions",
    "Variant",
    "format_table",
    "run_benchmark",
]
