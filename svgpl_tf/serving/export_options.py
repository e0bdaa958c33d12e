"""The settings of an export (`ExportOptions`), without TensorFlow.

`svgpl-export` defines its flags from these before TensorFlow loads, so that
a bad flag or --help answers at once; `export_lib` does the export.
"""

from __future__ import annotations

import dataclasses

from svgpl_tf.choices import PRECISIONS, option, validate_options

# Defaults of the export settings.
DEFAULT_MODEL_NAME = "svg"
DEFAULT_NUM_SAMPLES = 10
DEFAULT_MAX_NUM_SAMPLES = 100
DEFAULT_MAX_HORIZON = 100


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What to export and how: each field is declared once, with its help, and
    is a flag of `svgpl-export` unless `flag=False`.

    Example:
        >>> ExportOptions(num_samples=5).max_horizon
        100
    """

    model_name: str = option(DEFAULT_MODEL_NAME, "Model name: folder and serving name.")
    version: int | None = option(
        None,
        "Version folder (default: the next integer).",
        min=1,
        message="must be >= 1 (TF Serving loads integer folders)",
    )
    step: int | None = option(None, "Checkpoint step to export (default: the latest).")
    num_samples: int = option(
        DEFAULT_NUM_SAMPLES, "Samples per sequence of serving_default.", min=1
    )
    horizon: int | None = option(
        None, "Predicted frames of serving_default (default: the run's --n_future).", min=1
    )
    max_num_samples: int = option(
        DEFAULT_MAX_NUM_SAMPLES, "Largest num_samples of the 'sample' signature.", min=1
    )
    max_horizon: int = option(
        DEFAULT_MAX_HORIZON, "Largest horizon of the 'sample' signature.", min=1
    )
    # The weights are stored in float32 whatever the precision of the graphs.
    precision: str | None = option(
        None,
        "Precision the exported graphs compute in (default: the training run's).",
        choices=PRECISIONS,
    )
    # See `SVGServingModule`.
    jit_compile: bool = option(
        False,
        "Compile serving_default's sampling with XLA (the server must support XLA; "
        "see export/README.md).",
    )
    verify: bool = option(True, "Reload the SavedModel and compare it.", flag=False)

    def validate(self) -> ExportOptions:
        """Raises ValueError naming each bad option and the fix; returns self.

        The counts' relations (`num_samples <= max_num_samples`, ...) are
        `signatures.check_export_counts`'s.
        """
        return validate_options(self, "Invalid export settings")
