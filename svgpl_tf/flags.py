"""absl flags for every `Config` field; imported by the binaries only.

Each field of `svgpl_tf.config.Config` becomes a flag of the same name, type,
default and help text, so a new hyperparameter is added in one place.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from svgpl_tf.config import Config

_DEFINERS = {
    "bool": flags.DEFINE_bool,
    "int": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "str": flags.DEFINE_string,
}


def define_config_flags(flag_values=flags.FLAGS) -> None:
    """Defines one flag per `Config` field in `flag_values`."""
    for f in dataclasses.fields(Config):
        _DEFINERS[f.type](f.name, f.default, f.metadata["help"], flag_values=flag_values)


def config_from_flags(flag_values=flags.FLAGS) -> tuple[Config, set[str]]:
    """Returns the validated `Config` and the names of the flags the user set.

    Flags set in a `--flagfile` count as set by the user.
    """
    values = {f.name: flag_values[f.name].value for f in dataclasses.fields(Config)}
    explicit = {f.name for f in dataclasses.fields(Config) if flag_values[f.name].present}
    return Config(**values).validate(), explicit
