"""Exports a trained SVG model for TensorFlow Serving. Usage:

    svgpl-export --workdir=workdirs/quickstart --export_base=/tmp/serving

(or `python -m svgpl_tf.export`) writes `/tmp/serving/svg/<next version>/`,
reloads it and checks it against the model (see
`svgpl_tf/serving/export_lib.py` and `export/README.md`).
"""

from absl import app, flags

from svgpl_tf import entry
from svgpl_tf.config import PRECISIONS
from svgpl_tf.serving import export_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir to export.")
_EXPORT_BASE = flags.DEFINE_string(
    "export_base", None, "TF Serving base path; the model goes in <export_base>/<model_name>/."
)
_MODEL_NAME = flags.DEFINE_string(
    "model_name", export_lib.DEFAULT_MODEL_NAME, "Model name: folder and serving name."
)
_VERSION = flags.DEFINE_integer("version", None, "Version folder (default: the next integer).")
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step to export (default: the latest).")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", export_lib.DEFAULT_NUM_SAMPLES, "Samples per sequence of serving_default."
)
_HORIZON = flags.DEFINE_integer(
    "horizon", None, "Predicted frames of serving_default (default: the run's --n_future)."
)
_MAX_HORIZON = flags.DEFINE_integer(
    "max_horizon", export_lib.DEFAULT_MAX_HORIZON, "Largest horizon of the 'sample' signature."
)
_MAX_NUM_SAMPLES = flags.DEFINE_integer(
    "max_num_samples",
    export_lib.DEFAULT_MAX_NUM_SAMPLES,
    "Largest num_samples of the 'sample' signature.",
)


_PRECISION = flags.DEFINE_enum(
    "precision",
    None,
    list(PRECISIONS),
    "Precision the exported graphs compute in (default: the training run's).",
)
_JIT_COMPILE = flags.DEFINE_bool(
    "jit_compile",
    False,
    "Compile serving_default's sampling with XLA (the server must support XLA; "
    "see export/README.md).",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        result = export_lib.export_savedmodel(
            _WORKDIR.value,
            _EXPORT_BASE.value,
            model_name=_MODEL_NAME.value,
            version=_VERSION.value,
            step=_STEP.value,
            num_samples=_NUM_SAMPLES.value,
            horizon=_HORIZON.value,
            max_num_samples=_MAX_NUM_SAMPLES.value,
            max_horizon=_MAX_HORIZON.value,
            precision=_PRECISION.value,
            jit_compile=_JIT_COMPILE.value,
        )
    except (ValueError, FileNotFoundError, FileExistsError, PermissionError, ImportError) as e:
        raise app.UsageError(str(e)) from e
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
