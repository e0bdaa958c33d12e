"""Small file helpers shared by the jobs: writable folders and atomic JSON."""

from __future__ import annotations

import json
import os
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


def write_json(path: str, values: dict[str, Any]) -> None:
    """Writes strict JSON (NaN or Infinity is an error) atomically: temp file, then rename."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(values, f, indent=2, sort_keys=True, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)
