"""What machine this is: CPU model and ISA flags, accelerators, library versions.

Benchmarks and time-to-quality reports record it, so that a speed is always
read with the machine it was measured on.
"""

from __future__ import annotations

import os
import platform

import keras
import tensorflow as tf


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or `platform`)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The CPU's vector and matrix ISA flags that matter for FLOP/s."""
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


def machine_info() -> dict:
    """CPU, cores, accelerators, library versions and the load right now."""
    gpus = tf.config.list_physical_devices("GPU")
    details = [
        tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
    ]
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "cpu_flags": cpu_flags(),
        "gpus": details,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on for x86 Linux)"),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def bfloat16_hardware() -> bool:
    """Whether bfloat16 products run natively (a GPU, AVX512-BF16 or AMX)."""
    flags_ = set(cpu_flags())
    return bool(tf.config.list_physical_devices("GPU")) or bool(
        flags_ & {"avx512_bf16", "amx_bf16"}
    )
