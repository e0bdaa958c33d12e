"""Measures training, sampling, serving and input speed against this machine's
matrix-multiply ceilings, and prints a table. Usage:

    python -m svgpl_tf.benchmark --output=benchmark.json
    python -m svgpl_tf.benchmark --precision=mixed_bfloat16 --configs=smmnist_svglp
    python -m svgpl_tf.benchmark --compare=mixed_bfloat16,float32+plain,float32+xla
    python -m svgpl_tf.benchmark --tiny   # seconds, for CI

See `svgpl_tf/benchmarks/` for what is measured and how; the configurations
are the installed flagfiles of the same names (`svgpl_tf/flagfiles/`).
"""

import dataclasses
from collections.abc import Iterable

from absl import flags

from svgpl_tf import benchmarks, entry, files
from svgpl_tf import flags as svg_flags
from svgpl_tf.config import Config

# --precision, --jit_compile, --precompute_skips, --fused_batchnorm (the main
# variant); --configs, --compare, --steps, ... (BenchmarkOptions).
svg_flags.define_option_flags(benchmarks.Variant)
svg_flags.define_option_flags(benchmarks.BenchmarkOptions)
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
    variant = svg_flags.options_from_flags(benchmarks.Variant)
    options = svg_flags.options_from_flags(benchmarks.BenchmarkOptions, variant=variant)
    flagfiles = flagfile_configs(options.configs)
    options = dataclasses.replace(options, flagfiles=flagfiles).validate()
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
