"""What machine this is: CPU model and ISA flags, accelerators, library versions.

Benchmarks and time-to-quality reports record it, so that a speed is always
read with the machine it was measured on.
"""

from __future__ import annotations

import functools
import os
import platform
import statistics
import time

import keras
import tensorflow as tf
from absl import logging


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
    wanted = (
        "avx2",
        "fma",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "avx_vnni",
        "amx_bf16",
        "amx_tile",
    )
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    have = set(line.split(":", 1)[1].split())
                    return [w for w in wanted if w in have]
    except OSError:
        pass
    return []


@functools.cache
def onednn_enabled() -> bool:
    """Whether TensorFlow runs oneDNN's CPU kernels in this process.

    `TF_ENABLE_ONEDNN_OPTS`, read when TensorFlow is imported, decides; unset,
    TensorFlow turns oneDNN on for Linux only on CPUs with AVX512-VNNI,
    AVX512-BF16, AVX-VNNI or AMX, and runs its own kernels elsewhere (an
    AVX2-only CPU, say), with which a training step took twice as long (see
    `docs/performance.md`).

    Example:
        >>> onednn_enabled()  # doctest: +SKIP
        True
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a build without the query: assume TensorFlow's default kernels
        return True
    return bool(_pywrap_util_port.IsMklEnabled())


def onednn_hint() -> str | None:
    """One line for users whose TensorFlow runs without oneDNN on a CPU, else None."""
    if onednn_enabled() or tf.config.list_physical_devices("GPU"):
        return None
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0":
        return None  # turned off on purpose
    return (
        "TensorFlow runs without oneDNN on this CPU (its default without AVX512-VNNI, "
        "AVX512-BF16, AVX-VNNI or AMX); a training step ran 2x faster with it: "
        "export TF_ENABLE_ONEDNN_OPTS=1 before starting (docs/performance.md)."
    )


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
        "onednn": onednn_enabled(),
        "onednn_setting": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
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


# bfloat16 matrix products must run this many times faster than float32 ones
# for `--precision=auto` to pick mixed_bfloat16 on a CPU.
AUTO_BFLOAT16_MIN_SPEEDUP = 1.2


def matmul_speedup(size: int = 1024, repeats: int = 5) -> float:
    """bfloat16 over float32 matrix-product throughput here, median of `repeats`.

    Takes well under a second on a CPU with native bfloat16.
    """

    def seconds(dtype):
        a = tf.cast(tf.random.stateless_uniform([size, size], [0, 1]), dtype)
        product = tf.function(lambda: tf.reduce_sum(tf.cast(tf.matmul(a, a)[:1, :1], tf.float32)))
        product().numpy()  # traces
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            product().numpy()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return seconds(tf.float32) / seconds(tf.bfloat16)


def resolve_precision(precision: str) -> tuple[str, str]:
    """The precision policy `precision` names here, and why.

    `auto` picks `mixed_bfloat16` where bfloat16 is native and measured
    faster: a GPU of compute capability 8.0 or later, or a CPU with AVX512-BF16
    or AMX whose bfloat16 matrix products run at least
    `AUTO_BFLOAT16_MIN_SPEEDUP` times faster than float32 ones
    (`matmul_speedup`); `float32` elsewhere. Any other value is returned as is.

    Args:
        precision: `auto` or a policy of `svgpl_tf.choices.PRECISIONS`.

    Returns:
        `(policy, reason)`, the reason one line for logs and run_info.json.

    Example:
        >>> resolve_precision("float32")
        ('float32', 'asked for')
    """
    if precision != "auto":
        return precision, "asked for"
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return "mixed_bfloat16", f"GPU of compute capability {capability[0]}.{capability[1]}"
        return "float32", f"GPU without native bfloat16 (compute capability {capability})"
    native = sorted(set(cpu_flags()) & {"avx512_bf16", "amx_bf16"})
    if not native:
        return "float32", "no native bfloat16 on this CPU (no AVX512-BF16 or AMX)"
    speedup = matmul_speedup()
    which = ", ".join(native)
    if speedup >= AUTO_BFLOAT16_MIN_SPEEDUP:
        return "mixed_bfloat16", f"{which}: bfloat16 matmul {speedup:.2f}x float32 here"
    return "float32", f"{which}, but bfloat16 matmul only {speedup:.2f}x float32 here"


def precision_warning(precision: str) -> str | None:
    """One line saying that `precision` will be slow on this machine, and what
    to use instead; None when it suits the machine. It never refuses: the user
    may know better.

    Example:
        >>> precision_warning("float32") is None
        True
    """
    gpu = bool(tf.config.list_physical_devices("GPU"))
    if precision == "mixed_bfloat16" and not bfloat16_hardware():
        return (
            "--precision=mixed_bfloat16: this machine has no native bfloat16 (no GPU, "
            "AVX512-BF16 or AMX), so bfloat16 products are emulated; a training step was 5x "
            "slower than float32 on such a CPU. Use --precision=float32 here."
        )
    if precision == "mixed_float16" and not gpu:
        return (
            "--precision=mixed_float16 on a CPU: float16 products are emulated and Keras adds "
            "loss scaling; it is meant for GPUs. Use --precision=float32 here."
        )
    return None


def warn_precision(precision: str) -> str | None:
    """Logs `precision_warning(precision)` as a warning, if any; returns it."""
    message = precision_warning(precision)
    if message:
        logging.warning(message)
    return message
