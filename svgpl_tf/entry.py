"""How the absl binaries start: required flags, flagfiles by name, then `app.run`.

Every binary ends in `entry.run(main, required=[...])`, which is also its
console script's entry point (`svgpl-train`, ...; see `pyproject.toml`). This
module imports neither TensorFlow nor the rest of the package, so the serving
client starts without them.

The experiment flagfiles are installed with the package, in
`svgpl_tf/flagfiles/`. `--flagfile=NAME` (or `NAME.flags`, or any path ending
in it, such as `experiments/NAME.flags`) that is not a file where it is
given names the installed one, so `svgpl-train --flagfile=quickstart` works
from any folder. A path that exists is always taken as it is.

Example:
    >>> resolve_flagfiles(["svgpl-train", "--flagfile=quickstart"])[1].endswith(
    ...     "flagfiles/quickstart.flags")
    True
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from absl import app, flags

T = TypeVar("T")

# The folder of the installed experiment flagfiles.
FLAGFILE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flagfiles")


def flagfile_names() -> list[str]:
    """The installed flagfiles, by name (without `.flags`)."""
    return sorted(f[: -len(".flags")] for f in os.listdir(FLAGFILE_DIR) if f.endswith(".flags"))


def resolve_flagfile(path: str) -> str:
    """`path` if it is a file, else the installed flagfile it names (else `path`)."""
    if os.path.isfile(path):
        return path
    name = os.path.basename(path)
    name = name[: -len(".flags")] if name.endswith(".flags") else name
    installed = os.path.join(FLAGFILE_DIR, name + ".flags")
    return installed if os.path.isfile(installed) else path


def _flagfile_value(arg: str) -> str | None:
    """The path of a `--flagfile=X` argument, else None."""
    for key in ("--flagfile=", "-flagfile="):
        if arg.startswith(key):
            return arg[len(key) :]
    return None


def _expand(path: str) -> list[str]:
    """The arguments of the flagfile `path`, with its own `--flagfile` lines
    resolved and expanded in place (absl would resolve them from the working
    directory instead of the file's)."""
    with open(path) as f:
        lines = [line.strip() for line in f]
    out = []
    for line in lines:
        if not line or line.startswith(("#", "//")):
            continue
        nested = _flagfile_value(line)
        out.extend(_expand(resolve_flagfile(nested)) if nested is not None else [line])
    return out


def _flagfile_args(path: str) -> list[str]:
    resolved = resolve_flagfile(path)
    if not os.path.isfile(resolved):
        return [f"--flagfile={path}"]  # for absl to report
    with open(resolved) as f:
        nested = any(_flagfile_value(line.strip()) is not None for line in f)
    return _expand(resolved) if nested else [f"--flagfile={resolved}"]


def resolve_flagfiles(argv: Sequence[str]) -> list[str]:
    """`argv` with each `--flagfile=X` (or `--flagfile X`) resolved by
    `resolve_flagfile`; a flagfile that includes others is expanded in place
    into its arguments, in order, so the included ones resolve the same way."""
    out, take_next = [], False
    for arg in argv:
        value = arg if take_next else _flagfile_value(arg)
        if value is not None:
            out.extend(_flagfile_args(value))
            take_next = False
        elif arg in ("--flagfile", "-flagfile"):
            take_next = True
        else:
            out.append(arg)
    return out


# What a binary expects from its input and its machine: a bad flag value or
# file, a missing package, a refused or unreachable server. Each ends the
# binary with one line and exit status 1; any other exception is a bug and
# keeps its traceback.
EXPECTED_ERRORS = (ValueError, OSError, ImportError, RuntimeError)
# Subclasses of the expected ones that are bugs.
_BUGS = (RecursionError, NotImplementedError, UnicodeError)


def _disk_full(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a full disk: Python's ENOSPC, or
    TensorFlow's error for it, which carries only the message."""
    while error is not None:
        if getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _exit_with(error: BaseException) -> NoReturn:
    """Writes `error` as one line on stderr and exits with status 1."""
    if _disk_full(error):
        where = f" writing {error.filename}" if getattr(error, "filename", None) else ""
        message = (
            f"no space left on the device{where}. Free space (or use another folder) and "
            "run the command again; completed checkpoints and files are intact."
        )
    else:
        message = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
        message = message or type(error).__name__
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(1)


def guarded(main: Callable[..., T], *args) -> T:
    """`main(*args)`, with the expected errors and a full disk ending the
    process as one line on stderr (exit status 1) instead of a traceback.

    What was written before stays: checkpoints and reports are written
    atomically.

    Args:
        main: the binary's main function.
        *args: its arguments.

    Returns:
        What `main` returns.

    Example:
        >>> guarded(int, "7")
        7
    """
    try:
        return main(*args)
    except Exception as e:  # noqa: BLE001 (re-raised unless expected)
        if _disk_full(e) or (isinstance(e, EXPECTED_ERRORS) and not isinstance(e, _BUGS)):
            _exit_with(e)
        raise


def run(main: Callable[[list[str]], None], required: Sequence[str] = ()) -> None:
    """Runs the absl binary `main` with `app.run`: `required` flags marked as
    required, flagfiles resolved by name, positional arguments refused, and
    every expected error (`EXPECTED_ERRORS`, a full disk) one line on stderr
    with exit status 1 (`guarded`). Usage errors (`app.UsageError`) print
    absl's usage as before.

    Args:
        main: takes absl's remaining argv (the program name alone).
        required: names of the flags the binary cannot run without.
    """
    if required:
        flags.mark_flags_as_required(list(required))

    def checked(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
        guarded(main, argv)

    guarded(app.run, checked, resolve_flagfiles(sys.argv))
