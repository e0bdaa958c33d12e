"""What several test modules share: the repository's path, running the binaries
in a subprocess, and the tiny model sizes.

`conftest.py` builds its fixtures from these; tests import them with
`from helpers import ...` (pytest puts `tests/` on the path).
"""

from __future__ import annotations

import os
import subprocess
import sys

# The repository's root folder.
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A model small enough for a training step in well under a second.
TINY_MODEL = dict(g_dim=16, nf=8, z_dim=4, rnn_size=16)
# The same sizes, and a short tiny run, as training flags.
TINY_FLAGS = [
    "--g_dim=16", "--nf=8", "--z_dim=4", "--rnn_size=16", "--n_past=2", "--n_future=2",
    "--batch_size=2", "--num_test_sequences=4", "--log_every=5", "--sample_every=0",
    "--checkpoint_every=5",
]  # fmt: skip


def binary_env(**extra: str) -> dict[str, str]:
    """The environment of a binary run by a test: the checkout's package, quiet TF."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": REPO, **extra}


def run_module(
    module: str, *args: str, timeout: float = 300, **popen
) -> subprocess.CompletedProcess:
    """Runs `python -m module args...` from the repository; returns its result (text)."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=popen.pop("cwd", REPO),
        env=popen.pop("env", binary_env()),
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def start_module(module: str, *args: str, **popen) -> subprocess.Popen:
    """Starts `python -m module args...` from the repository, with pipes (text)."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=popen.pop("cwd", REPO),
        env=popen.pop("env", binary_env()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
