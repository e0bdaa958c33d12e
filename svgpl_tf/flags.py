"""absl flags from option dataclasses; imported by the binaries only.

Each field of `svgpl_tf.config.Config` becomes a flag of the same name, type,
default and help text, so a new hyperparameter is added in one place; the
evaluation's and the export's options (`EvalOptions`, `ExportOptions`) become
flags the same way. Fields are declared with `svgpl_tf.config.option`.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from svgpl_tf import entry
from svgpl_tf.config import Config

_DEFINERS = {
    "bool": flags.DEFINE_bool,
    "int": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "str": flags.DEFINE_string,
}


def _flag_fields(cls) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flag", True)]


def define_option_flags(cls, flag_values=flags.FLAGS) -> None:
    """Defines one flag per field of the option dataclass `cls` in `flag_values`.

    A field typed `int | None` (unset: the run's value) is an integer flag
    with no default; a string field with `choices` is an enum flag.

    Example:
        >>> define_option_flags(EvalOptions)  # doctest: +SKIP
    """
    for f in _flag_fields(cls):
        kind = str(f.type).replace(" | None", "")
        help_text, choices = f.metadata["help"], f.metadata.get("choices")
        if choices:
            flags.DEFINE_enum(f.name, f.default, list(choices), help_text, flag_values=flag_values)
        else:
            _DEFINERS[kind](f.name, f.default, help_text, flag_values=flag_values)


def options_from_flags(cls, flag_values=flags.FLAGS, **fixed):
    """An instance of `cls` from its flags (see `define_option_flags`), with `fixed`
    setting the fields that are not flags."""
    values = {f.name: flag_values[f.name].value for f in _flag_fields(cls)}
    return cls(**values, **fixed)


def define_config_flags(flag_values=flags.FLAGS) -> None:
    """Defines one flag per `Config` field in `flag_values`."""
    define_option_flags(Config, flag_values)


def config_from_flags(flag_values=flags.FLAGS) -> tuple[Config, set[str]]:
    """Returns the validated `Config` and the names of the flags the user set.

    Flags set in a `--flagfile` count as set by the user.
    """
    config = options_from_flags(Config, flag_values)
    explicit = {f.name for f in dataclasses.fields(Config) if flag_values[f.name].present}
    return config.validate(), explicit


def config_from_flagfile(name: str) -> Config:
    """The validated `Config` of a flagfile (an installed one by name, see
    `svgpl_tf.entry`), parsed as `svgpl-train --flagfile=NAME` parses it.

    Example:
        >>> config_from_flagfile("quickstart").steps
        2400
    """
    values = flags.FlagValues()
    define_config_flags(values)
    values(entry.resolve_flagfiles(["svgpl", f"--flagfile={name}"]))
    return config_from_flags(values)[0]
