"""The decoders' shared skip terms, and the block runner of both backbones.

Each decoder stage convolves the concatenation `[d, s]` of the previous
stage's output `d` and a skip map `s`. A convolution is linear, so
`conv([d, s]) = conv_d(d) + conv_s(s) + bias`, where `conv_d` and `conv_s` use
the two halves of the kernel along its input channels. Both decoders expose
the two halves: `skip_terms(skips)` computes the `conv_s(s)` of the four skip
maps and `decode(g, terms)` the rest, adding each term to every row that
shares it. When many decoded frames take the skips of one frame (every step
after the context in training, every sample and step in sampling), the skip
half is computed once per source frame instead of once per decoded frame.
`call(g, skips)` is the plain concatenation path, kept as the reference;
`decode(g, skip_terms(skips))` computes the same function.

The helpers here compute those halves: `conv_slice` convolves with a slice of
a kernel's input channels, `bias_activation` finishes the convolution,
`add_shared` adds a term to the rows that share it and
`conv_block_with_term` runs a whole conv -> BatchNorm -> LeakyReLU block that
way (its sums compiled by XLA in 16-bit inference on a CPU, see
`svgpl_tf.models.elementwise`). `apply_block` runs any block of the
backbones, its convolutions through `conv_ops` and its BatchNorm layers with
their `groups`.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from svgpl_tf.models import conv_ops, elementwise
from svgpl_tf.models.batchnorm import GroupedBatchNormalization


def apply_block(block: keras.layers.Layer, x, training, groups=None):
    """Runs `block` (a layer, or a Sequential of them, nested) on `x`.

    Plain convolutions run through `conv_ops` (`conv_slice` over all input
    channels, then `bias_activation`); BatchNorm layers get `groups`.

    Args:
        block: a backbone layer or block.
        x: its input, `[n, h, w, c]`.
        training: the Keras training flag.
        groups: per-group BatchNorm statistics: the number of groups in
            training (see `GroupedBatchNormalization._grouped`), or an
            `InferenceGroups`; None for plain batch statistics.

    Returns:
        The block's output, `[n, h_out, w_out, c_out]`.
    """
    if isinstance(block, keras.Sequential):
        for layer in block.layers:
            x = apply_block(layer, x, training, groups)
        return x
    if isinstance(block, GroupedBatchNormalization):
        return block(x, training=training, groups=groups)
    if type(block) in (layers.Conv2D, layers.Conv2DTranspose):
        return bias_activation(block, conv_slice(block, x, 0, x.shape[-1]))
    return block(x, training=training)


# For out[2m + a] of a 4x4 stride-2 "same" transposed convolution: the
# (input offset di, kernel tap p) pairs that reach it, for a = 0 and a = 1.
_S2K4_TAPS = (((0, 1), (-1, 3)), ((0, 2), (1, 0)))


def _upsample_by_overlap(x, kernel):
    """A 4x4 stride-2 "same" transposed convolution as a matmul and an overlap-add.

    With few output channels (the decoders' last layer: 1 or 3) oneDNN's
    transposed convolution runs at a few percent of peak. This computes the
    same sums another way: one matrix product gives every input pixel's 4x4
    patch of contributions, then each output pixel adds the 4 patches that
    overlap it (the taps of `_S2K4_TAPS`). It is about 3x faster forward;
    its gradient (16 strided slices) is slower than the convolution's, so it
    serves inference only.

    Args:
        x: `[n, h, w, c_in]`.
        kernel: `[4, 4, c_out, c_in]`, a `Conv2DTranspose` kernel.

    Returns:
        `[n, 2h, 2w, c_out]`.
    """
    c_out, c_in = kernel.shape[2], kernel.shape[3]
    shape = tf.shape(x)
    n, h, w = shape[0], shape[1], shape[2]
    taps = tf.reshape(tf.transpose(kernel, [3, 0, 1, 2]), [c_in, 16 * c_out])  # [in, p*q*out]
    patches = tf.matmul(tf.reshape(x, [-1, c_in]), taps)  # [n*h*w, 16*out]
    patches = tf.reshape(patches, tf.stack([n, h, w, 4, 4, c_out]))
    patches = tf.pad(patches, [[0, 0], [1, 1], [1, 1], [0, 0], [0, 0], [0, 0]])
    rows = []
    for row_taps in _S2K4_TAPS:
        phase = []
        for col_taps in _S2K4_TAPS:
            acc = 0.0
            for di, p in row_taps:
                for dj, q in col_taps:
                    acc += patches[:, 1 + di : 1 + di + h, 1 + dj : 1 + dj + w, p, q]
            phase.append(acc)  # [n, h, w, out]
        rows.append(tf.stack(phase, axis=3))  # [n, h, w, 2, out]
    out = tf.stack(rows, axis=2)  # [n, h, 2, w, 2, out]
    return tf.reshape(out, tf.stack([n, 2 * h, 2 * w, c_out]))


def conv_slice(conv: layers.Layer, x, start: int, stop: int, inference: bool = False):
    """`conv`'s convolution of `x` with input channels [start, stop) of its kernel.

    No bias and no activation: by linearity `conv(concat([a, b], -1))` equals
    `conv_slice(conv, a, 0, ca) + conv_slice(conv, b, ca, ca + cb)` plus the
    bias, then the activation (see `bias_activation`).

    Args:
        conv: a built `Conv2D` or `Conv2DTranspose` (channels last).
        x: `[n, h, w, stop - start]`.
        start: first input channel of the kernel slice.
        stop: one past the last input channel of the kernel slice.
        inference: no gradient is needed; a 4x4 stride-2 transposed
            convolution to at most 4 channels then runs as
            `_upsample_by_overlap`.

    Returns:
        `[n, h_out, w_out, conv.filters]` in `conv`'s compute dtype.
    """
    dtype = conv.compute_dtype
    transpose = isinstance(conv, layers.Conv2DTranspose)
    # kernel: [kh, kw, filters, in] transposed, [kh, kw, in, filters] otherwise.
    axis = 3 if transpose else 2
    kernel = keras.ops.cast(conv.kernel, dtype)
    if (start, stop) != (0, kernel.shape[axis]):
        # tf.split, not a slice: its gradient is a concatenation, not a
        # strided-slice gradient.
        sizes = [start, stop - start, kernel.shape[axis] - stop]
        kernel = tf.split(kernel, sizes, axis=axis)[1]
    x = keras.ops.cast(x, dtype)
    if (
        inference
        and transpose
        and conv.filters <= 4
        and tuple(conv.kernel_size) == (4, 4)
        and tuple(conv.strides) == (2, 2)
        and conv.padding == "same"
        and tuple(conv.dilation_rate) == (1, 1)
        and conv.output_padding is None
    ):
        return _upsample_by_overlap(x, kernel)
    _check_plain_conv(conv)
    if transpose:
        return conv_ops.conv_transpose(x, kernel, tuple(conv.strides), conv.padding)
    return conv_ops.conv(x, kernel, tuple(conv.strides), conv.padding)


def _check_plain_conv(conv: layers.Layer) -> None:
    """`conv_ops` computes channels-last convolutions without dilation, groups
    or output padding, the only kind the backbones build."""
    if (
        conv.data_format != "channels_last"
        or tuple(conv.dilation_rate) != (1, 1)
        or getattr(conv, "groups", 1) != 1
        or getattr(conv, "output_padding", None) is not None
    ):
        raise ValueError(f"{conv.name}: only plain channels-last convolutions are supported.")


def bias_activation(conv: layers.Layer, y):
    """Adds `conv`'s bias to `y` and applies its activation.

    Args:
        conv: the built convolution whose bias and activation finish `y`.
        y: a sum of `conv_slice` terms, `[n, h, w, filters]`.

    Returns:
        `[n, h, w, filters]`, as `conv` returns it.
    """
    if conv.use_bias:
        y = y + keras.ops.cast(conv.bias, y.dtype)
    return conv.activation(y) if conv.activation is not None else y


def add_shared(y, term):
    """`y` `[k * n, ...]` plus `term` `[n, ...]`, term row i added to rows i*k..i*k+k-1.

    With k == 1 it is a plain sum; with k > 1 (samples folded next to their
    sequence) the term is broadcast instead of being repeated in memory.

    Args:
        y: `[k * n, h, w, c]`, rows folded as `[n, k]`.
        term: `[n, h, w, c]`.

    Returns:
        `[k * n, h, w, c]`.
    """
    if y.shape[0] is not None and y.shape[0] == term.shape[0]:
        return y + term
    shape = tf.shape(y)
    rows = tf.shape(term)[0]
    grouped = tf.reshape(y, tf.concat([[rows, -1], shape[1:]], 0))  # [n, k, ...]
    return tf.reshape(grouped + term[:, None], shape)


# `add_shared(y, term) + bias` in one pass (see `svgpl_tf.models.elementwise`).
_add_shared_bias = elementwise.compiled(lambda y, term, bias: add_shared(y, term) + bias)


def conv_block_with_term(block: keras.Sequential, x, term, training, groups=None):
    """A conv(-transpose) -> BatchNorm -> LeakyReLU block on `concat([x, s])`,
    given `term`, the skip `s`'s share of the convolution (`conv_slice`).

    Args:
        block: a Sequential whose first layer is the convolution.
        x: the previous stage's output, `[k * n, h, w, c_x]`.
        term: the skip's share, `[n, h_out, w_out, filters]`, each row
            serving k consecutive rows of `x` (see `add_shared`).
        training: the Keras training flag.
        groups: per-group BatchNorm statistics (see `apply_block`).

    Returns:
        `[k * n, h_out, w_out, c_out]`.
    """
    conv, *rest = block.layers
    y = conv_slice(conv, x, 0, x.shape[-1])  # [k * n, h_out, w_out, filters]
    if conv.use_bias and elementwise.use_compiled(y.dtype, training):
        y = _add_shared_bias(y, term, keras.ops.cast(conv.bias, y.dtype))
        y = conv.activation(y) if conv.activation is not None else y
    else:
        y = bias_activation(conv, add_shared(y, term))
    for layer in rest:
        y = apply_block(layer, y, training, groups)
    return y
