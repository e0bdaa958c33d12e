"""Transposed convolutions computed by forward convolutions, one per output phase.

A transposed convolution of stride `s` writes each output position from the
kernel taps of one residue class: the outputs `o` with `o % s == q` (the
phase `q`) read only the taps `t` with `(t - q - pad) % s == 0`. Each phase is
then an ordinary stride-1 correlation of the input with those taps, reversed,
and the output interleaves the `s * s` phases (`tf.nn.depth_to_space`). The
products are the same; only the kernels that compute them change.

This matters where TensorFlow runs its own CPU kernels instead of oneDNN's
(on Linux, by default, every CPU without AVX512-VNNI, AVX512-BF16, AVX-VNNI
or AMX). There, `Conv2DBackpropInput` (the kernel of `conv_transpose`, and of
every convolution's input gradient) ran 2.5-6x slower than these phases on the
DCGAN decoder's two widest layers: 4x4x512 -> 8x8x256 at batch 160, 495 ms
against 81 ms, on an AMD EPYC (Zen 4) with `TF_ENABLE_ONEDNN_OPTS=0`. With
oneDNN on, even capped at AVX2, TensorFlow's own kernel was the faster one
(50 ms against 61 ms; `experiments/transpose_kernels.py`). `conv_ops`
decides where it is used.

Kernels are in Keras's transposed layout `[kh, kw, out, in]`, which is also
the layout of the convolution whose input gradient this computes.
"""

from __future__ import annotations

import tensorflow as tf


def transpose_padding(size: int, kernel: int, stride: int, padding: str, out_size: int) -> int:
    """The padding before the input of the convolution `conv_transpose` inverts.

    Args:
        size: the transposed convolution's input side (the convolution's output).
        kernel, stride: the kernel side and stride.
        padding: `"same"` or `"valid"` (TensorFlow's rules).
        out_size: the transposed convolution's output side.

    Returns:
        The zeros before the first input position.
    """
    if padding == "valid":
        return 0
    return max((size - 1) * stride + kernel - out_size, 0) // 2


def supported(x_shape, kernel_shape, strides, out_shape) -> bool:
    """Whether `conv_transpose_by_phases` computes this transposed convolution:
    static spatial sizes, equal strides on both sides, and output sides that
    are multiples of the stride (so the phases are of equal size)."""
    if None in tuple(x_shape[1:3]) or None in tuple(out_shape[1:3]):
        return False
    sh, sw = strides
    return sh == sw and out_shape[1] % sh == 0 and out_shape[2] % sw == 0


def conv_transpose_by_phases(x, kernel, strides, padding: str, out_hw):
    """`tf.nn.conv2d_transpose(x, kernel, [n, *out_hw, out], strides, padding)`
    computed with `s * s` forward convolutions.

    Args:
        x: `[n, h, w, in]`.
        kernel: `[kh, kw, out, in]`, of `x`'s dtype.
        strides: a pair of equal strides `(s, s)`.
        padding: `"same"` or `"valid"`.
        out_hw: the output's `(h_out, w_out)`, multiples of `s`.

    Returns:
        `[n, h_out, w_out, out]`.

    Example:
        >>> x, k = tf.ones([1, 2, 2, 1]), tf.ones([4, 4, 1, 1])
        >>> y = conv_transpose_by_phases(x, k, (2, 2), "same", (4, 4))
        >>> y[0, :, :, 0].numpy().astype(int).tolist()
        [[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]
    """
    s = strides[0]
    kh, kw = kernel.shape[:2]
    h, w = x.shape[1:3]
    pad_h = transpose_padding(h, kh, s, padding, out_hw[0])
    pad_w = transpose_padding(w, kw, s, padding, out_hw[1])
    rows = [_phase_taps(q, pad_h, kh, s, h, out_hw[0] // s) for q in range(s)]
    cols = [_phase_taps(q, pad_w, kw, s, w, out_hw[1] // s) for q in range(s)]
    # Pad once for every phase: the most any phase reads before and after the input.
    before_h = max(r[2] for r in rows)
    after_h = max(r[3] for r in rows)
    before_w = max(c[2] for c in cols)
    after_w = max(c[3] for c in cols)
    padded = tf.pad(x, [[0, 0], [before_h, after_h], [before_w, after_w], [0, 0]])
    outs = []
    for taps_h, start_h, _, _ in rows:
        for taps_w, start_w, _, _ in cols:
            # The phase's taps, reversed: a correlation. [th, tw, in, out]
            sub = tf.gather(tf.gather(kernel, taps_h, axis=0), taps_w, axis=1)
            sub = tf.transpose(sub, [0, 1, 3, 2])
            top = before_h + start_h
            left = before_w + start_w
            window = padded[
                :,
                top : top + out_hw[0] // s + len(taps_h) - 1,
                left : left + out_hw[1] // s + len(taps_w) - 1,
            ]
            outs.append(tf.nn.conv2d(window, sub, 1, "VALID"))  # [n, h_out/s, w_out/s, out]
    if s == 1:
        return outs[0]
    return tf.nn.depth_to_space(tf.concat(outs, axis=-1), s)  # [n, h_out, w_out, out]


def _phase_taps(q: int, pad: int, kernel: int, stride: int, size: int, count: int):
    """The taps and input window of the outputs `o = m * stride + q`.

    `y[m*s + q] = sum_j x[m + c1 - j] * k[j*s + c0]` with `c = q + pad`,
    `c0 = c % s`, `c1 = c // s`: as a correlation, the taps `k[j*s + c0]` in
    reverse order slide over `x[m + c1 - J + 1 ...]`.

    Returns:
        `(taps, start, lead, trail)`: the kernel indices in correlation order,
        the input index the first output's window starts at, and the zeros it
        needs before the input and after it.
    """
    c = q + pad
    c0, c1 = c % stride, c // stride
    taps = list(range(c0, kernel, stride))[::-1]  # k[(J-1)*s + c0], ..., k[c0]
    start = c1 - len(taps) + 1
    end = start + count + len(taps) - 1  # one past the last input index read
    return taps, start, max(-start, 0), max(end - size, 0)
