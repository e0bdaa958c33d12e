"""Small file helpers shared by the jobs: writable folders and atomic writes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any


def ensure_writable_dir(path: str, flag: str, purpose: str) -> None:
    """Creates `path` and checks that it is writable, before any work.

    Args:
        path: the folder.
        flag: the flag that named it, for the error message (e.g. `--workdir`).
        purpose: what the folder is for, for the error message.

    Raises:
        ValueError: `path` is empty.
        PermissionError: the folder cannot be created or written.
    """
    if not path:
        raise ValueError(f"{flag} is required: the folder for {purpose}.")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise PermissionError(
            f"{flag} {path!r} is not writable ({e.strerror}); choose another {flag}."
        ) from e


def write_atomically(path: str, write: Callable[[str], Any], suffix: str = "") -> str:
    """Writes `path` through `write(tmp)`, a temporary file, then a rename.

    Readers see the old file or the new one, never a part of it; a write that
    fails leaves the old file as it was and removes the temporary one. The
    folder is created if need be.

    Args:
        path: the file to write.
        write: writes the whole content to the path it is given.
        suffix: ending of the temporary name, for writers that add one (numpy's
            `savez` appends `.npz` to a name without it).

    Returns:
        `path`.

    Example:
        >>> write_atomically("/tmp/a.txt", lambda tmp: open(tmp, "w").write("hi"))
        '/tmp/a.txt'
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{suffix}"
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_json(path: str, values: dict[str, Any], allow_nan: bool = False) -> str:
    """Writes JSON atomically (`write_atomically`), sorted and indented.

    NaN or Infinity is an error unless `allow_nan`: the files are strict JSON.
    """

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(values, f, indent=2, sort_keys=True, allow_nan=allow_nan)
            f.write("\n")

    return write_atomically(path, write)
