"""absl flags from option dataclasses; imported by the binaries only.

Each field of an options dataclass declared with `svgpl_tf.choices.option`
(`Config`, `EvalOptions`, `ExportOptions`, `PredictOptions`, the benchmark's
`Variant` and `BenchmarkOptions`) becomes a flag of the same name, type,
default and help text, so an option is added in one place:

    bool, int, float, str fields   DEFINE_bool, _integer, _float, _string
    `int | None` fields            an integer flag with no default (unset)
    str fields with `choices`      an enum flag; a bad value fails at parsing
                                   with the option's own message
    `tuple[str, ...]` fields       a list flag (each item through `parse`)

The flags count as the binary's own (its `--helpshort`), not this module's.

Only public absl API is used. `config_from_flagfile` parses into a fresh
`flags.FlagValues` (exported by `absl.flags`; an instance is called with an
argv to parse it) so the binary's global `FLAGS` stay untouched, and reads
each flag's `.value` and `.present` (documented attributes of `flags.Flag`,
returned by `FlagValues[name]`). `tests/test_options.py` pins these behaviours.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from absl import flags

from svgpl_tf import entry
from svgpl_tf.choices import Option, options_of
from svgpl_tf.config import Config

# The modules that call `define_option_flags` own the flags it defines.
flags.disclaim_key_flags()

_DEFINERS = {
    "bool": flags.DEFINE_bool,
    "int": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "str": flags.DEFINE_string,
    "tuple[str, ...]": flags.DEFINE_list,
}


class _ChoiceParser(flags.EnumParser):
    """An enum parser whose error is the option's own (`Option.error`), so a
    bad value reads the same on the command line and in Python."""

    def __init__(self, name: str, spec: Option):
        super().__init__(list(spec.choices))
        self._name, self._spec = name, spec

    def parse(self, argument: str) -> str:
        error = self._spec.error(self._name, argument)
        if error:
            raise ValueError(error)
        return argument


class _ChoiceFlag(flags.EnumFlag):
    """absl's enum flag (help `<a|b>: ...`) with a `_ChoiceParser`."""

    def __init__(self, name: str, default: str | None, spec: Option):
        super().__init__(name, default, spec.help, list(spec.choices))
        self.parser = _ChoiceParser(name, spec)


def _flag_options(cls) -> dict[str, Option]:
    return {name: spec for name, spec in options_of(cls).items() if spec.flag}


def _kind(cls, name: str) -> str:
    """The type of field `name` of `cls` as written (`"int"`), without `| None`."""
    kind = next(f.type for f in dataclasses.fields(cls) if f.name == name)
    return (kind.__name__ if isinstance(kind, type) else str(kind)).replace(" | None", "")


def define_option_flags(cls, flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one flag per flag field of the option dataclass `cls`.

    Args:
        cls: a dataclass whose fields are declared with `option`.
        flag_values: where to define them (default: the global `FLAGS`).

    Example:
        >>> values = flags.FlagValues()
        >>> define_option_flags(Config, values)
        >>> values["backbone"].flag_type(), values["steps"].default
        ('string enum', 1000)
    """
    for name, spec in _flag_options(cls).items():
        default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
        kind = _kind(cls, name)
        if spec.choices and kind == "str":
            flags.DEFINE_flag(_ChoiceFlag(name, default, spec), flag_values)
        elif kind.startswith("tuple["):
            items = [getattr(v, "name", v) for v in default]  # parsed items: by name
            flags.DEFINE_list(name, items, spec.help, flag_values=flag_values)
        else:
            _DEFINERS[kind](name, default, spec.help, flag_values=flag_values)


def _value(spec: Option, flag: flags.Flag) -> Any:
    if not isinstance(flag.value, list):
        return flag.value
    return tuple(spec.parse(v) if spec.parse else v for v in flag.value)


def options_from_flags(cls, flag_values: flags.FlagValues = flags.FLAGS, **fixed):
    """An instance of `cls` from its flags (see `define_option_flags`).

    Args:
        cls: the option dataclass.
        flag_values: the parsed flags.
        **fixed: the fields that are not flags.

    Returns:
        `cls(**flag values, **fixed)`, not validated.

    Example:
        >>> values = flags.FlagValues()
        >>> define_option_flags(Config, values)
        >>> _ = values(["svgpl", "--steps=7"])
        >>> options_from_flags(Config, values).steps
        7
    """
    values = {n: _value(s, flag_values[n]) for n, s in _flag_options(cls).items()}
    return cls(**values, **fixed)


def define_config_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines one flag per `Config` field in `flag_values`."""
    define_option_flags(Config, flag_values)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> tuple[Config, set[str]]:
    """Returns the validated `Config` and the names of the flags the user set.

    Flags set in a `--flagfile` count as set by the user.

    Args:
        flag_values: the parsed `Config` flags.
    """
    config = options_from_flags(Config, flag_values)
    explicit = {name for name in _flag_options(Config) if flag_values[name].present}
    return config.validate(), explicit


def config_from_flagfile(name: str) -> Config:
    """The validated `Config` of a flagfile (an installed one by name, see
    `svgpl_tf.entry`), parsed as `svgpl-train --flagfile=NAME` parses it, in
    a `FlagValues` of its own (the caller's flags are left alone).

    Args:
        name: an installed flagfile's name, or a path.

    Example:
        >>> config_from_flagfile("quickstart").steps
        2400
    """
    values = flags.FlagValues()
    define_config_flags(values)
    try:
        values(entry.resolve_flagfiles(["svgpl", f"--flagfile={name}"]))
    except flags.Error as e:  # a bad value in the file: one line, not absl's traceback
        raise ValueError(f"flagfile {name}: {e}") from None
    return config_from_flags(values)[0]
