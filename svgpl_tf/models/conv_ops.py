"""The backbones' convolutions, with the cheaper of two ways to compute each.

The functions compute what `keras.ops.conv` and `keras.ops.conv_transpose`
compute, by other kernels where a profile of the training step showed the
usual ones slow on a CPU:

- **Whole-frame convolutions as matrix products.** A `valid` convolution whose
  kernel covers its whole input (the encoders' 4x4 -> 1x1 embedding head) is a
  dense layer on the flattened input, and a `valid` transposed convolution of
  a 1x1 input (the decoders' first layer, 1x1 -> 4x4) a dense layer reshaped.
  Forward and gradients are then matrix products. oneDNN's filter gradients
  of those two layers ran at a few percent of the machine's peak: in bfloat16
  on an Intel Xeon with AMX, 80 ms for the decoder's first layer where its
  matrix product takes about 2 ms.
- **Filter gradients from patches in 16-bit on a CPU.** Where the small side
  of a convolution (its output; a transposed convolution's input) has at most
  `PATCH_GRADIENT_MAX_POSITIONS` positions, as the 8x8 -> 4x4 layers of the
  DCGAN backbone, oneDNN's bfloat16 filter gradient was slower than its
  float32 one (91 ms against 77 ms at batch 240 on the AMX Xeon). The
  gradient is then computed as `patches^T @ dy`, one matrix product on the
  input's patches (`tf.image.extract_patches`): 30 ms. The input gradient
  and the forward pass keep oneDNN's kernels. On larger maps the patches cost
  more than they save, so the rule stops at 4x4.
- **Transposed convolutions by forward convolutions where oneDNN is off.**
  On Linux, TensorFlow turns oneDNN on by default only on CPUs with
  AVX512-VNNI, AVX512-BF16, AVX-VNNI or AMX (`machine.onednn_enabled`);
  elsewhere (an AVX2-only AMD EPYC, say) its own `Conv2DBackpropInput`, the
  kernel of a transposed convolution and of every convolution's input
  gradient, ran 2-9x slower than a forward convolution of the same FLOPs on
  the decoder's wide layers (`experiments/transpose_kernels.py`). There,
  layers of at least `PHASES_MIN_CHANNELS` output channels compute it as one
  forward convolution per output phase (`phase_conv`): the SM-MNIST SVG-LP
  step 1.70x faster. The other kernels stay as they are. `transpose_kernels`
  overrides the rule (the benchmark's `native` and `phases` tokens). Setting
  `TF_ENABLE_ONEDNN_OPTS=1` before TensorFlow is imported turns oneDNN on
  instead, which was 1.98x faster still (see `docs/performance.md`).

The results equal the plain ops' up to float rounding (checked in
`tests/test_conv_ops.py`). Kernel layouts are Keras's: `[kh, kw, in, out]`
for a convolution, `[kh, kw, out, in]` for a transposed one.
"""

from __future__ import annotations

import contextlib
import threading

import keras
import tensorflow as tf

from svgpl_tf import machine
from svgpl_tf.choices import TRANSPOSE_KERNELS
from svgpl_tf.models import phase_conv
from svgpl_tf.models.elementwise import sixteen_bit_on_cpu

# The patch filter gradient applies up to this many positions on the small
# side of a convolution (4x4).
PATCH_GRADIENT_MAX_POSITIONS = 16
# The ways a filter gradient can be computed: `auto` picks by the rule above.
FILTER_GRADIENTS = ("auto", "native", "patches")
# Under `auto`, phases replace a transposed convolution (or an input gradient)
# with at least this many output channels: without oneDNN, the decoder's
# 32x32x64 -> 64x64x1 layer ran 7 ms natively and 92 ms as phases, the two
# widest 2.5-6x faster as phases and the 64-channel one about as fast.
PHASES_MIN_CHANNELS = 64
_STATE = threading.local()


@contextlib.contextmanager
def transpose_kernels(kind: str = "auto"):
    """Within it, convolutions traced take `kind`'s transposed-convolution kernels.

    It is read when a function is traced, so wrap the call that traces.

    Args:
        kind: `auto`, `native` or `phases` (see `TRANSPOSE_KERNELS`).

    Example:
        >>> with transpose_kernels("native"):
        ...     y = conv_transpose(tf.ones([1, 2, 2, 1]), tf.ones([4, 4, 1, 1]), 2, "same")
    """
    if kind not in TRANSPOSE_KERNELS:
        raise ValueError(f"kind must be one of {', '.join(TRANSPOSE_KERNELS)}, got {kind!r}.")
    previous = getattr(_STATE, "transpose", "auto")
    _STATE.transpose = kind
    try:
        yield
    finally:
        _STATE.transpose = previous


def transposes_by_phases(channels: int | None = None) -> bool:
    """Whether a transposed convolution (or an input gradient) with `channels`
    output channels runs as phases: `transpose_kernels`'s choice, or under
    `auto` oneDNN off, no GPU visible and at least `PHASES_MIN_CHANNELS`
    channels (None: the rule without the channel count)."""
    kind = getattr(_STATE, "transpose", "auto")
    if kind != "auto":
        return kind == "phases"
    if channels is not None and channels < PHASES_MIN_CHANNELS:
        return False
    return not machine.onednn_enabled() and not tf.config.list_logical_devices("GPU")


def conv(x, kernel, strides, padding: str, filter_gradient: str = "auto"):
    """`keras.ops.conv(x, kernel, strides, padding)` for 2-D channels-last maps.

    Args:
        x: `[n, h, w, in]`.
        kernel: `[kh, kw, in, out]`, of `x`'s dtype.
        strides: an int or a pair.
        padding: `"same"` or `"valid"`.
        filter_gradient: `auto`, `native` (oneDNN's) or `patches`.

    Returns:
        `[n, h_out, w_out, out]`.

    Example:
        >>> y = conv(tf.ones([2, 4, 4, 3]), tf.ones([4, 4, 3, 5]), 1, "valid")
        >>> tuple(y.shape), float(y[0, 0, 0, 0])
        ((2, 1, 1, 5), 48.0)
    """
    strides = _pair(strides)
    kh, kw, c_in, c_out = kernel.shape
    if padding == "valid" and tuple(x.shape[1:3]) == (kh, kw):
        flat = tf.reshape(x, [-1, kh * kw * c_in])  # [n, kh*kw*in]
        y = tf.matmul(flat, tf.reshape(kernel, [kh * kw * c_in, c_out]))  # [n, out]
        return tf.reshape(y, [-1, 1, 1, c_out])
    patches = _use_patches(
        filter_gradient, x.dtype, _out_positions(x.shape, kernel.shape, strides, padding)
    )
    phases = transposes_by_phases(c_in) and phase_conv.supported(
        x.shape, kernel.shape, strides, x.shape
    )
    if phases or patches:
        return _conv_with_gradients(x, kernel, strides, padding, phases, patches)
    return keras.ops.conv(x, kernel, strides=list(strides), padding=padding)


def conv_transpose(x, kernel, strides, padding: str, filter_gradient: str = "auto"):
    """`keras.ops.conv_transpose(x, kernel, strides, padding)`, channels last.

    Args:
        x, strides, padding, filter_gradient: as in `conv`.
        kernel: `[kh, kw, out, in]` (Keras's transposed layout), of `x`'s dtype.

    Returns:
        `[n, h_out, w_out, out]`.

    Example:
        >>> y = conv_transpose(tf.ones([2, 1, 1, 3]), tf.ones([4, 4, 5, 3]), 1, "valid")
        >>> tuple(y.shape), float(y[0, 3, 3, 4])
        ((2, 4, 4, 5), 3.0)
    """
    strides = _pair(strides)
    kh, kw, c_out, c_in = kernel.shape
    if padding == "valid" and tuple(x.shape[1:3]) == (1, 1):
        taps = tf.reshape(tf.transpose(kernel, [3, 0, 1, 2]), [c_in, kh * kw * c_out])
        y = tf.matmul(tf.reshape(x, [-1, c_in]), taps)  # [n, kh*kw*out]
        return tf.reshape(y, [-1, kh, kw, c_out])
    positions = None if None in x.shape[1:3] else x.shape[1] * x.shape[2]
    patches = _use_patches(filter_gradient, x.dtype, positions)
    out_shape = _transpose_out_shape(x.shape, kernel.shape, strides, padding)
    phases = transposes_by_phases(c_out) and phase_conv.supported(
        x.shape, kernel.shape, strides, out_shape
    )
    if phases or patches:
        return _conv_transpose_with_gradients(
            x, kernel, strides, padding, out_shape[1:3], phases, patches
        )
    return keras.ops.conv_transpose(x, kernel, strides=list(strides), padding=padding)


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _transpose_out_shape(x_shape, kernel_shape, strides, padding: str):
    """`conv_transpose`'s output shape `[n, h_out, w_out, out]` (None where not static)."""
    sides = []
    for n, k, st in zip(x_shape[1:3], kernel_shape[:2], strides):
        sides.append(None if n is None else n * st + (max(k - st, 0) if padding == "valid" else 0))
    return [x_shape[0], *sides, kernel_shape[2]]


def _filter_gradient(x, dy, kernel_shape, strides, padding: str, patches: bool):
    """The filter gradient of `tf.nn.conv2d(x, k, strides, PADDING)` for output gradient `dy`."""
    if patches:
        return tf.reshape(_patches_gram(x, dy, kernel_shape[:2], strides, padding), kernel_shape)
    return tf.raw_ops.Conv2DBackpropFilter(
        input=x,
        filter_sizes=list(kernel_shape),
        out_backprop=dy,
        strides=[1, *strides, 1],
        padding=padding,
    )


def _conv_with_gradients(x, kernel, strides, padding: str, phases: bool, patches: bool):
    """`keras.ops.conv` whose input gradient is `phase_conv`'s transposed
    convolution (`phases`, else TensorFlow's) and whose filter gradient is
    `_patches_gram` (`patches`, else TensorFlow's)."""
    pad = padding.upper()

    @tf.custom_gradient
    def forward(x, kernel):
        y = tf.nn.conv2d(x, kernel, strides, pad)  # [n, h_out, w_out, out]

        def grad(dy):
            if phases:
                # [kh, kw, in, out] is the transposed layout of the map back to `x`.
                dx = phase_conv.conv_transpose_by_phases(dy, kernel, strides, padding, x.shape[1:3])
            else:
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x),
                    filter=kernel,
                    out_backprop=dy,
                    strides=[1, *strides, 1],
                    padding=pad,
                )
            return dx, _filter_gradient(x, dy, kernel.shape, strides, pad, patches)

        return y, grad

    return forward(x, kernel)


def _conv_transpose_with_gradients(
    x, kernel, strides, padding: str, out_hw, phases: bool, patches: bool
):
    """`keras.ops.conv_transpose`, by `phase_conv` (`phases`) or TensorFlow's
    kernel, with the gradients of a transposed convolution: a forward
    convolution, and `_patches_gram` (`patches`) or TensorFlow's filter gradient."""

    @tf.custom_gradient
    def forward(x, kernel):
        if phases:
            y = phase_conv.conv_transpose_by_phases(x, kernel, strides, padding, out_hw)
        else:
            y = keras.ops.conv_transpose(x, kernel, strides=list(strides), padding=padding)

        def grad(dy):
            # A transposed convolution is the input gradient of a convolution
            # of `y`'s shape; its input gradient is that convolution.
            dx = tf.nn.conv2d(dy, kernel, strides, padding.upper())  # [n, h, w, in]
            dk = _filter_gradient(dy, x, kernel.shape, strides, padding.upper(), patches)
            return dx, dk

        return y, grad

    return forward(x, kernel)


def _out_positions(x_shape, kernel_shape, strides, padding: str) -> int | None:
    """Output positions (h_out * w_out) of a convolution, None if not static."""
    if None in x_shape[1:3]:
        return None
    size = 1
    for n, k, s in zip(x_shape[1:3], kernel_shape[:2], strides):
        size *= -(-n // s) if padding == "same" else (n - k) // s + 1
    return size


def _use_patches(filter_gradient: str, dtype, positions: int | None) -> bool:
    if filter_gradient not in FILTER_GRADIENTS:
        raise ValueError(
            f"filter_gradient must be one of {', '.join(FILTER_GRADIENTS)}, "
            f"got {filter_gradient!r}."
        )
    if filter_gradient != "auto":
        return filter_gradient == "patches"
    return (
        positions is not None
        and positions <= PATCH_GRADIENT_MAX_POSITIONS
        and sixteen_bit_on_cpu(dtype)
    )


def _patches_gram(maps, other, ksize, strides, padding: str):
    """`patches(maps)^T @ other`: `maps` `[n, h, w, c]`'s `ksize` patches at
    `strides` against `other` `[n, h', w', d]` (one row per patch) -> `[kh*kw*c, d]`."""
    kh, kw = ksize
    patches = tf.image.extract_patches(
        maps, [1, kh, kw, 1], [1, *strides, 1], [1, 1, 1, 1], padding
    )  # [n, h', w', kh*kw*c]
    rows = tf.reshape(patches, [-1, kh * kw * maps.shape[-1]])
    return tf.matmul(rows, tf.reshape(other, [-1, other.shape[-1]]), transpose_a=True)
