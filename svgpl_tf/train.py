"""Trains SVG-LP / SVG-PL. Usage:

    python -m svgpl_tf.train --flagfile=quickstart --workdir=/tmp/svg

Every hyperparameter is a flag (see `svgpl_tf/config.py`); running again with
the same workdir resumes the run.
"""

from absl import flags

from svgpl_tf import entry
from svgpl_tf import flags as svg_flags

_WORKDIR = flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and samples.")
svg_flags.define_config_flags()


def main(argv):
    config, explicit = svg_flags.config_from_flags()
    # TensorFlow loads only once the flags are good: a bad flag or --help is instant.
    from svgpl_tf import machine, runs
    from svgpl_tf.training import loop

    runs.check_workdir(_WORKDIR.value)
    config = runs.resolve_config(_WORKDIR.value, config, explicit)
    runs.preflight(config)
    machine.warn_precision(config.precision)
    loop.train(config, _WORKDIR.value)


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["workdir"])


if __name__ == "__main__":
    run()
