"""Averages a run's checkpoints into one weights-only folder. Usage:

    svgpl-average-weights --workdir=workdirs/run --output_dir=workdirs/run_averaged --last=8

The folder (config.json, checkpoints/, averaging.json) is read by
`svgpl-evaluate`, `svgpl-predict`, `svgpl-export` and `--init_from` like a
weights-only checkpoint (see `svgpl_tf.weight_averaging`).
"""

from absl import flags

from svgpl_tf import entry
from svgpl_tf.choices import PRECISIONS

_WORKDIR = flags.DEFINE_string("workdir", None, "The training workdir.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "The folder to write.")
_LAST = flags.DEFINE_integer("last", None, "Average the last N checkpoints of the workdir.")
_FROM_STEP = flags.DEFINE_integer(
    "from_step", None, "Average every checkpoint of this step or later (instead of --last)."
)
_TO_STEP = flags.DEFINE_integer(
    "to_step", None, "Leave out the checkpoints after this step (default: none left out)."
)
_BATCHNORM_BATCHES = flags.DEFINE_integer(
    "batchnorm_batches",
    0,
    "Recompute BatchNorm's moving statistics for the averaged weights over this many training "
    "batches of the run's data (0: average the checkpoints' statistics).",
)
_BATCHNORM_SEED = flags.DEFINE_integer(
    "batchnorm_seed", 0, "Seed of the batches that recompute BatchNorm's statistics."
)
_PRECISION = flags.DEFINE_enum(
    "precision",
    None,
    list(PRECISIONS),
    "Precision written into the folder's config.json (default: the run's); the weights are "
    "float32 in every precision.",
)


def main(argv):
    from svgpl_tf import weight_averaging  # TensorFlow loads only once the flags are good

    record = weight_averaging.average_checkpoints(
        _WORKDIR.value,
        _OUTPUT_DIR.value,
        last=_LAST.value,
        from_step=_FROM_STEP.value,
        to_step=_TO_STEP.value,
        precision=_PRECISION.value,
        batchnorm_batches=_BATCHNORM_BATCHES.value,
        batchnorm_seed=_BATCHNORM_SEED.value,
    )
    print(
        f"Averaged {record['num_checkpoints']} checkpoints (steps {record['steps'][0]} to "
        f"{record['steps'][-1]}) into {record['checkpoint']}"
    )


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["workdir", "output_dir"])


if __name__ == "__main__":
    run()
