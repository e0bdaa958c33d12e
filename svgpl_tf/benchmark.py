"""Measures training, sampling, serving and input speed against this machine's
matrix-multiply ceilings, and prints a table. Usage:

    python -m svgpl_tf.benchmark --output=benchmark.json
    python -m svgpl_tf.benchmark --precision=mixed_bfloat16 --configs=smmnist_svglp
    python -m svgpl_tf.benchmark --compare=mixed_bfloat16,float32+plain,float32+xla
    python -m svgpl_tf.benchmark --tiny   # seconds, for CI

See `svgpl_tf/benchmarks/` for what is measured and how; the configurations
are the installed flagfiles of the same names (`svgpl_tf/flagfiles/`).
"""

from collections.abc import Iterable

from absl import flags

from svgpl_tf import benchmarks, entry, files
from svgpl_tf import flags as svg_flags
from svgpl_tf.config import PRECISIONS, Config

_CONFIGS = flags.DEFINE_list(
    "configs", list(benchmarks.CONFIGS), f"Configurations: {', '.join(benchmarks.CONFIGS)}."
)
_PRECISION = flags.DEFINE_enum("precision", "float32", PRECISIONS, "Precision policy.")
_JIT_COMPILE = flags.DEFINE_bool(
    "jit_compile", False, "Compile the training step and the sampler with XLA."
)
_PRECOMPUTE_SKIPS = flags.DEFINE_bool(
    "precompute_skips",
    True,
    "Decoder skip terms computed once per source frame (the fast path); "
    "--noprecompute_skips runs the plain concatenation path.",
)
_FUSED_BATCHNORM = flags.DEFINE_bool(
    "fused_batchnorm",
    True,
    "BatchNorm through the fused FusedBatchNormV3 kernel (the default); "
    "--nofused_batchnorm runs Keras's BatchNormalization ops.",
)
_COMPARE = flags.DEFINE_list(
    "compare",
    [],
    "Further variants timed side by side with the main one: a precision, 'xla', 'plain' "
    "(no shared skip terms) and 'unfused' (Keras's BatchNorm ops) joined by '+', e.g. "
    "mixed_bfloat16,float32+plain,float32+unfused,float32+xla.",
)
_STEPS = flags.DEFINE_integer("steps", 10, "Timed training steps per configuration and variant.")
_WARMUP = flags.DEFINE_integer("warmup_steps", 2, "Untimed training steps first.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 100, "Samples per sequence (best of N).")
_SAMPLE_REPEATS = flags.DEFINE_integer("sample_repeats", 1, "Timed sampling calls per variant.")
_SERVING = flags.DEFINE_bool("serving", True, "Export a SavedModel and time serving_default.")
_SERVING_REPEATS = flags.DEFINE_integer("serving_repeats", 10, "Timed requests per batch size.")
_LOSS_CURVE_STEPS = flags.DEFINE_integer(
    "loss_curve_steps",
    0,
    "Train every variant this many steps from the same weights and compare the losses.",
)
_MATMUL_SIZE = flags.DEFINE_integer("matmul_size", 4096, "n of the n x n ceiling products.")
_PROFILE_STEPS = flags.DEFINE_integer(
    "profile_steps", 0, "Trace this many training steps per configuration with tf.profiler."
)
_PROFILE_DIR = flags.DEFINE_string(
    "profile_dir", "", "Keep the traces here (for TensorBoard); empty: discard them."
)
_TINY = flags.DEFINE_bool("tiny", False, "Tiny sizes: runs in seconds, for CI.")
_OUTPUT = flags.DEFINE_string("output", None, "Write the results as JSON to this file.")


def flagfile_configs(names: Iterable[str]) -> dict[str, Config]:
    """The `Config` of each installed flagfile `NAME.flags`, parsed as
    `svgpl-train --flagfile=NAME` parses it (names not in `CONFIGS` are left
    for `BenchmarkOptions.validate` to report).

    Args:
        names: the configurations to run.
    """
    return {n: svg_flags.config_from_flagfile(n) for n in names if n in benchmarks.CONFIGS}


def main(argv):
    options = benchmarks.BenchmarkOptions(
        configs=tuple(_CONFIGS.value),
        flagfiles=flagfile_configs(_CONFIGS.value),
        variant=benchmarks.Variant(
            _PRECISION.value,
            _JIT_COMPILE.value,
            _PRECOMPUTE_SKIPS.value,
            _FUSED_BATCHNORM.value,
        ),
        compare=tuple(benchmarks.Variant.parse(v) for v in _COMPARE.value),
        steps=_STEPS.value,
        warmup_steps=_WARMUP.value,
        num_samples=_NUM_SAMPLES.value,
        sample_repeats=_SAMPLE_REPEATS.value,
        serving=_SERVING.value,
        serving_repeats=_SERVING_REPEATS.value,
        loss_curve_steps=_LOSS_CURVE_STEPS.value,
        matmul_size=_MATMUL_SIZE.value,
        profile_steps=_PROFILE_STEPS.value,
        profile_dir=_PROFILE_DIR.value,
        tiny=_TINY.value,
    ).validate()
    results = benchmarks.run_benchmark(options)
    print(benchmarks.format_table(results))
    if _OUTPUT.value:
        files.write_json(_OUTPUT.value, results, allow_nan=True)
        print(f"Wrote {_OUTPUT.value}")


def run() -> None:
    """The console script's entry point."""
    entry.run(main)


if __name__ == "__main__":
    run()
