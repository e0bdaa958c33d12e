"""Peak memory of phases of a benchmark run: `MemoryMonitor`."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import tensorflow as tf


def _rss_bytes() -> int:
    """Resident memory of this process now."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MemoryMonitor:
    """Peak memory of phases of the run: device memory on a GPU, else the
    process's resident memory, sampled every `interval_s` by a thread.

    Args:
        interval_s: seconds between two samples of the resident memory.

    Example:
        >>> monitor = MemoryMonitor()
        >>> with monitor.phase() as peak:
        ...     work()
        >>> peak["bytes"]
    """

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self._gpu = bool(tf.config.list_physical_devices("GPU"))
        self.kind = "gpu_peak" if self._gpu else "process_rss_peak"

    @contextlib.contextmanager
    def phase(self) -> Iterator[dict]:
        """Yields a dict whose `bytes` holds the phase's peak when it ends."""
        result = {"bytes": None, "kind": self.kind}
        if self._gpu:
            tf.config.experimental.reset_memory_stats("GPU:0")
            yield result
            result["bytes"] = int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
            return
        peak = [_rss_bytes()]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_bytes())
                stop.wait(self.interval_s)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield result
        finally:
            stop.set()
            thread.join()
            result["bytes"] = max(peak[0], _rss_bytes())
