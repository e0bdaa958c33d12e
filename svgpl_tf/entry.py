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

from absl import app, flags

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


def _disk_full(error: BaseException) -> bool:
    """Whether `error` (or what caused it) is a full disk: Python's ENOSPC, or
    TensorFlow's error for it, which carries only the message."""
    while error is not None:
        if getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def run(main: Callable[[list[str]], None], required: Sequence[str] = ()) -> None:
    """Marks `required` flags as required and runs `main` with absl's `app.run`.

    A full disk, wherever it strikes, ends the binary with one line naming the
    file and the fix (exit status 1) instead of a traceback; what was written
    before stays (checkpoints are written atomically).
    """
    if required:
        flags.mark_flags_as_required(list(required))
    try:
        app.run(main, argv=resolve_flagfiles(sys.argv))
    except Exception as e:  # noqa: BLE001 (re-raised unless the disk is full)
        if not _disk_full(e):
            raise
        where = f" writing {e.filename}" if getattr(e, "filename", None) else ""
        sys.stderr.write(
            f"Error: no space left on the device{where}. Free space (or use another folder) and "
            "run the command again; completed checkpoints and files are intact.\n"
        )
        sys.exit(1)
