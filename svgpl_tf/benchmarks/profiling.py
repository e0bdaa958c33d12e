"""Where a training step's time goes: a `tf.profiler` trace summarised by op type."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import tensorflow as tf

# First characters of op types in a trace (oneDNN kernels start with "_Mkl").
_OP_TYPE_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")
# Op types of convolution kernels (TF's and oneDNN's names) in a trace.
CONV_OP_TYPES = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter", "FusedConv2D")


def trace_op_seconds(logdir: str) -> dict[str, float]:
    """Seconds per op type of the TensorFlow ops in the traces under `logdir`.

    Args:
        logdir: a `tf.profiler` log folder (its `*.xplane.pb` files are read).
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    seconds: dict[str, float] = {}
    for root, _, files in os.walk(logdir):
        for name in files:
            if not name.endswith(".xplane.pb"):
                continue
            space = xplane_pb2.XSpace()
            with open(os.path.join(root, name), "rb") as f:
                space.ParseFromString(f.read())
            for plane in space.planes:
                for line in plane.lines:
                    for event in line.events:
                        label = plane.event_metadata[event.metadata_id].name
                        if ":" not in label:
                            continue
                        op_type = label.rsplit(":", 1)[1]
                        if (
                            not op_type
                            or op_type[0] not in _OP_TYPE_START
                            or op_type.startswith("__")
                            or op_type in ("Run", "Process")
                        ):
                            continue  # function and executor events, not ops
                        seconds[op_type] = seconds.get(op_type, 0.0) + event.duration_ps * 1e-12
    return seconds


def profile_ops(run_step: Callable[[], object], steps: int, logdir: str) -> dict:
    """Op-level time of `steps` calls of `run_step`, from a `tf.profiler` trace.

    Args:
        run_step: runs one step and waits for its result.
        steps: traced calls.
        logdir: where the trace is written.

    Returns:
        `{"wall_s", "ops_s", "convolution_s", "convolution_share", "by_op_type"}`
        per step; oneDNN's kernel names (`_MklNative...`) are mapped back to
        TF's op types. Ops may overlap on several threads, so `ops_s` can
        exceed `wall_s`.
    """
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(steps):
        run_step()
    wall = (time.perf_counter() - start) / steps
    tf.profiler.experimental.stop()
    by_type: dict[str, float] = {}
    for op_type, secs in trace_op_seconds(logdir).items():
        op_type = op_type.removeprefix("_MklNative").removeprefix("_Mkl")
        by_type[op_type] = by_type.get(op_type, 0.0) + secs / steps
    total = sum(by_type.values())
    conv = sum(v for k, v in by_type.items() if k.startswith(CONV_OP_TYPES))
    top = dict(sorted(by_type.items(), key=lambda kv: -kv[1])[:30])
    return {
        "wall_s": wall,
        "ops_s": total,
        "convolution_s": conv,
        "convolution_share": conv / total if total else None,
        "by_op_type": top,
    }
