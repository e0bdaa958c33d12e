"""Exports a trained SVG model for TensorFlow Serving. Usage:

    svgpl-export --workdir=workdirs/quickstart --export_base=/tmp/serving

(or `python -m svgpl_tf.export`) writes `/tmp/serving/svg/<next version>/`,
reloads it and checks it against the model (see
`svgpl_tf/serving/export_lib.py` and `export/README.md`).
"""

import os

from absl import flags

from svgpl_tf import entry
from svgpl_tf import flags as svg_flags
from svgpl_tf.config import CONFIG_FILE, Config
from svgpl_tf.serving.export_options import ExportOptions

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir to export.")
_EXPORT_BASE = flags.DEFINE_string(
    "export_base", None, "TF Serving base path; the model goes in <export_base>/<model_name>/."
)
svg_flags.define_option_flags(ExportOptions)  # --model_name, --num_samples, ...


def main(argv):
    options = svg_flags.options_from_flags(ExportOptions)
    # TensorFlow loads only once the flags are good: a bad flag or --help is instant.
    from svgpl_tf import machine
    from svgpl_tf.serving import export_lib

    if options.precision or os.path.isfile(os.path.join(_WORKDIR.value or "", CONFIG_FILE)):
        machine.warn_precision(options.precision or Config.load(_WORKDIR.value).precision)
    result = export_lib.export_savedmodel(_WORKDIR.value, _EXPORT_BASE.value, options)
    print(
        f"Exported step {result.step} to {result.path} (version {result.version}, "
        f"verified) in {result.seconds:.1f} s.",
        flush=True,
    )


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["workdir", "export_base"])


if __name__ == "__main__":
    run()
