"""Writes a training run's weights without optimizer slots, for shipping. Usage:

    python -m svgpl_tf.weights_only --workdir=workdirs/smmnist5k/svgpl \
        --output_dir=pretrained/smmnist5k_svgpl

The output folder holds the run's config.json and a weights-only checkpoint
(a third of a training checkpoint's size); `svgpl_tf.evaluate`,
`svgpl-export` and `runs.restore_model` take it as their
--workdir (see `runs.write_weights_only`).
"""

import os

from absl import flags

from svgpl_tf import entry
from svgpl_tf.choices import PRECISIONS

_WORKDIR = flags.DEFINE_string("workdir", None, "The training workdir.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "The folder to write.")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
_PRECISION = flags.DEFINE_enum(
    "precision",
    None,
    list(PRECISIONS),
    "Precision written into the folder's config.json, the one its users sample in by "
    "default (default: the run's); the weights are float32 in every precision.",
)


def main(argv):
    from svgpl_tf import runs  # TensorFlow loads only once the flags are good

    path = runs.write_weights_only(_WORKDIR.value, _OUTPUT_DIR.value, _STEP.value, _PRECISION.value)
    folder = os.path.dirname(path)
    size = sum(
        os.path.getsize(os.path.join(folder, n))
        for n in os.listdir(folder)
        if n.startswith(os.path.basename(path))
    )
    print(f"Wrote {path} ({size / 2**20:.1f} MiB) and {_OUTPUT_DIR.value}/config.json")


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["workdir", "output_dir"])


if __name__ == "__main__":
    run()
