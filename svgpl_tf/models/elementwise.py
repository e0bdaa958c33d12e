"""Element-wise work of 16-bit sampling on a CPU, compiled by XLA.

TensorFlow's CPU wheels build their element-wise kernels (Eigen's) for the
wheel's baseline instruction set, without the AVX-512 that converts bfloat16
in bulk, so a bfloat16 LeakyReLU or sum there runs one element at a time
while oneDNN's convolutions dispatch to AVX-512 BF16 or AMX at run time; in
bfloat16 sampling, LeakyReLU and the decoders' sums of skip terms and biases
took longer than in float32. XLA compiles element-wise functions for the
machine it runs on: the same LeakyReLU and sums, compiled, made best-of-100
sampling on an Intel Xeon with AMX 1.26x faster, side by side (16.72 -> 13.23
s; `docs/performance.md`).

So, while `compiled_elementwise(True)` is active and a model computes in 16
bits on a CPU, inference (`training` false) runs the decoders' skip-term sums
and every LeakyReLU as small XLA functions; the convolutions and BatchNorm
keep oneDNN's kernels. `CompiledSampler` turns it on for the graphs it
traces; exported SavedModels never contain it (a TensorFlow Serving build
may not run XLA). Training keeps TensorFlow's kernels: there the compiled
LeakyReLU gained nothing measurable. Results equal TensorFlow's up to
bfloat16 rounding: XLA may keep a sum's intermediate in float32.
"""

from __future__ import annotations

import contextlib
import threading

import keras
import tensorflow as tf

_STATE = threading.local()


@contextlib.contextmanager
def compiled_elementwise(enabled: bool = True):
    """Within it, graphs traced for 16-bit inference on a CPU compile their
    element-wise work with XLA (see the module docstring).

    It is read when a function is traced, so wrap the call that traces.

    Args:
        enabled: turn the compiled path on (or, nested, off).

    Example:
        >>> with compiled_elementwise():
        ...     frames = tf.function(model.sample)(context, 10, 100, 0)
    """
    previous = getattr(_STATE, "enabled", False)
    _STATE.enabled = enabled
    try:
        yield
    finally:
        _STATE.enabled = previous


def sixteen_bit_on_cpu(dtype) -> bool:
    """Whether `dtype` is bfloat16 or float16 and no GPU is visible.

    Args:
        dtype: a compute dtype (a `tf.DType` or its name).
    """
    return tf.as_dtype(dtype) in (tf.bfloat16, tf.float16) and not tf.config.list_logical_devices(
        "GPU"
    )


def use_compiled(dtype, training) -> bool:
    """Whether element-wise work on `dtype` tensors takes the compiled path.

    Args:
        dtype: the tensors' dtype.
        training: the Keras training flag (a tensor counts as training).
    """
    inference = training is None or training is False
    return inference and getattr(_STATE, "enabled", False) and sixteen_bit_on_cpu(dtype)


def leaky_relu(x, negative_slope: float, training=None):
    """`tf.nn.leaky_relu`, compiled where `use_compiled` says.

    Args:
        x: any tensor.
        negative_slope: the slope below zero.
        training: the Keras training flag.
    """
    if use_compiled(x.dtype, training):
        return _leaky_relu(x, float(negative_slope))
    return tf.nn.leaky_relu(x, negative_slope)


def compiled(fn):
    """`fn` as an XLA-compiled function (for `use_compiled` callers).

    Args:
        fn: a function of tensors, traceable without autograph.
    """
    return tf.function(fn, jit_compile=True, autograph=False)


# `negative_slope` is a Python float: an attribute of the op, one trace per value.
_leaky_relu = compiled(lambda x, negative_slope: tf.nn.leaky_relu(x, negative_slope))


@keras.saving.register_keras_serializable(package="svgpl_tf")
class LeakyReLU(keras.layers.LeakyReLU):
    """Keras's `LeakyReLU`, compiled by XLA in 16-bit inference on a CPU
    inside `compiled_elementwise` (the backbones' activation).

    Args:
        negative_slope: the slope below zero (0.2 in SVG).

    Example:
        >>> act = LeakyReLU(0.2)
        >>> act(tf.constant([-1.0, 2.0])).numpy()
        array([-0.2,  2. ], dtype=float32)
    """

    def call(self, inputs, training=None):
        return leaky_relu(inputs, self.negative_slope, training)
