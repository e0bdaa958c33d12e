"""Frame encoders and decoders: DCGAN-64 and VGG-64 (Denton & Fergus, 2018).

Both pairs follow the published SVG architectures layer for layer (kernel
sizes, strides, channel counts, biases and BatchNorm), so at `g_dim=128` their
parameter counts equal those of the reference implementation. The encoder
returns the frame embedding and its four intermediate feature maps, which the
decoder takes as skip connections (the U-Net-like links of SVG).

Shapes below are for 64x64 frames; 128x128 frames add one more stride-2 stage
in neither backbone, so only 64x64 is supported (see `SUPPORTED_IMAGE_SIZES`).

Shared skips. Each decoder stage convolves the concatenation `[d, s]` of the
previous stage's output `d` and a skip map `s`. A convolution is linear, so
`conv([d, s]) = conv_d(d) + conv_s(s) + bias`, where `conv_d` and `conv_s` use
the two halves of the kernel along its input channels. Both decoders expose
the two halves: `skip_terms(skips)` computes the `conv_s(s)` of the four skip
maps and `decode(g, terms)` the rest, adding each term to every row that
shares it. When many decoded frames take the skips of one frame (every step
after the context in training, every sample and step in sampling), the skip
half is computed once per source frame instead of once per decoded frame.
`call(g, skips)` is the plain concatenation path, kept as the reference;
`decode(g, skip_terms(skips))` computes the same function.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
from keras import layers

from svgpl_tf.choices import BACKBONES
from svgpl_tf.models import conv_ops

# Base channel count of both backbones in the published architectures.
DEFAULT_NF = 64


@dataclasses.dataclass(frozen=True)
class InferenceGroups:
    """BatchNorm from batch statistics at inference, one set per group of rows.

    Passed as `groups` to the encoders, decoders and `FastBatchNormalization`.
    The rows `[n, ...]` are `[outer, inner]` folded (row `o * inner + i`).
    With `by="inner"` each inner index is a group, normalised over the rows of
    every outer index; with `by="outer"` each outer index is a group. The
    moving averages are neither used nor updated.

    Args:
        inner: rows per outer index (an int or a scalar int tensor).
        by: `"inner"` or `"outer"`.

    Example:
        >>> # 4 sequences x 3 samples, statistics over the sequences of each sample
        >>> groups = InferenceGroups(inner=3, by="inner")
    """

    inner: int | tf.Tensor
    by: str = "inner"

    def __post_init__(self):
        if self.by not in ("inner", "outer"):
            raise ValueError(f"InferenceGroups.by must be 'inner' or 'outer', got {self.by!r}.")


@keras.saving.register_keras_serializable(package="svgpl_tf")
class FastBatchNormalization(layers.BatchNormalization):
    """Keras's `BatchNormalization` with cheaper statistics, or a fused kernel.

    By default it computes exactly what Keras's synchronised BatchNormalization
    computes, with the same ops and so the same numbers (sum and sum of
    squares, all-reduced over the replicas, mean and E[x^2] - mean^2), less
    one full-size tensor: Keras counts the elements by summing a tensor of
    ones as large as the input; here the count comes from the shape.

    With `fused=True`, 4-D channels-last maps go through `FusedBatchNormV3`
    instead, whose forward pass and gradient are each one kernel (oneDNN on
    CPU) and which normalises 16-bit inputs without casting them to float32
    and back. It normalises by the same batch mean and biased variance and
    keeps the same moving averages, but computes them in another order, so
    results differ by float rounding; it does not apply under a strategy with
    several replicas (the statistics must be those of the global batch),
    where the default path is taken. Since the rounding differs between one
    replica (fused) and several (not), a run is then replica-invariant up to
    rounding only. `SVGModel` turns it on by default (`fused_batchnorm`).

    The variables, and so the checkpoints, are those of the Keras layer.

    Args:
        fused: use `FusedBatchNormV3` where it applies.
        **kwargs: those of `keras.layers.BatchNormalization`.

    Example:
        >>> bn = FastBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True)
        >>> tuple(bn(keras.ops.ones([2, 4, 4, 3]), training=True).shape)
        (2, 4, 4, 3)
    """

    def __init__(self, fused: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.fused = fused

    def _moments(self, inputs, mask):
        replica = tf.distribute.get_replica_context()
        if mask is not None or not self.synchronized or replica is None:
            return super()._moments(inputs, mask)
        # Keras's synchronised moments (keras.src.backend.tensorflow.nn.
        # _compute_moments_sync), with the element count taken from the shape.
        axes = self._reduction_axes
        x = tf.cast(inputs, tf.float32) if inputs.dtype != tf.float32 else inputs
        local_sum = tf.reduce_sum(x, axis=axes, keepdims=True)
        local_squared_sum = tf.reduce_sum(tf.square(x), axis=axes, keepdims=True)
        shape = tf.shape(x)
        local_count = tf.cast(tf.reduce_prod(tf.gather(shape, axes)), tf.float32)
        local_count = tf.fill(tf.shape(local_sum), local_count)
        y_sum = replica.all_reduce(tf.distribute.ReduceOp.SUM, local_sum)
        y_squared_sum = replica.all_reduce(tf.distribute.ReduceOp.SUM, local_squared_sum)
        count = replica.all_reduce(tf.distribute.ReduceOp.SUM, local_count)
        mean = tf.math.divide_no_nan(y_sum, count)
        y_squared_mean = tf.math.divide_no_nan(y_squared_sum, count)
        variance = tf.maximum(y_squared_mean - tf.square(mean), 0.0)
        return tf.squeeze(mean, axes), tf.squeeze(variance, axes)

    def uses_fused_kernel(self, inputs, mask=None) -> bool:
        """Whether a call on `inputs` goes through `FusedBatchNormV3`."""
        if not self.fused or mask is not None or self.renorm:
            return False
        if len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return False
        if not (self.scale and self.center):
            return False
        strategy = tf.distribute.get_strategy()
        return not (self.synchronized and strategy.num_replicas_in_sync > 1)

    def call(self, inputs, training=None, mask=None, groups=None):
        if isinstance(groups, InferenceGroups):
            return self._inference_grouped(inputs, groups)
        if groups is not None and bool(training) and self.trainable and mask is None:
            return self._grouped(inputs, groups)
        if not self.uses_fused_kernel(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = keras.ops.cast(inputs, self.compute_dtype)
        if x.dtype not in (tf.float32, tf.float16, tf.bfloat16):
            x = tf.cast(x, tf.float32)
        train = bool(training) and self.trainable
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x,
            scale=tf.cast(self.gamma, tf.float32),
            offset=tf.cast(self.beta, tf.float32),
            mean=tf.zeros([0]) if train else tf.cast(self.moving_mean, tf.float32),
            variance=tf.zeros([0]) if train else tf.cast(self.moving_variance, tf.float32),
            epsilon=self.epsilon,
            exponential_avg_factor=1.0,
            data_format="NHWC",
            is_training=train,
        )
        if train:
            # The kernel returns the unbiased (Bessel-corrected) batch variance;
            # Keras averages the biased one into the moving variance.
            count = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
            variance = variance * tf.maximum(count - 1.0, 0.0) / count
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        return keras.ops.cast(y, self.compute_dtype)

    def _group_moments(self, xg, axes):
        """Mean and biased variance of `xg` over `axes`, kept as size-1 axes,
        synchronised over the replicas of a strategy with several."""
        replica = tf.distribute.get_replica_context()
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if not (self.synchronized and replica is not None and replicas > 1):
            return tf.nn.moments(xg, axes, keepdims=True)
        total = replica.all_reduce(
            tf.distribute.ReduceOp.SUM, tf.reduce_sum(xg, axes, keepdims=True)
        )
        squares = replica.all_reduce(
            tf.distribute.ReduceOp.SUM, tf.reduce_sum(tf.square(xg), axes, keepdims=True)
        )
        # Elements per statistic on this replica.
        local = tf.cast(tf.size(xg), tf.float32) / tf.cast(tf.size(total), tf.float32)
        count = replica.all_reduce(tf.distribute.ReduceOp.SUM, local)
        mean = total / count
        return mean, tf.maximum(squares / count - tf.square(mean), 0.0)

    def _normalize_groups(self, inputs, inner, by: str = "inner"):
        """Normalises each group of rows by its own batch statistics.

        The rows `[n, ...]` are `[outer, inner]` folded (row `o * inner + i`);
        `by="inner"` makes each inner index a group (statistics over the outer
        rows), `by="outer"` each outer index. Statistics are over the group's
        rows and all other axes but the channels, synchronised over replicas.

        Returns:
            `(y, mean, variance)`: float32 `y` shaped as `inputs`, and the
            statistics with size-1 axes where they were reduced.
        """
        x = tf.cast(inputs, tf.float32)  # [n, ..., c]
        shape = tf.shape(x)
        xg = tf.reshape(x, tf.concat([[-1, inner], shape[1:]], 0))  # [outer, inner, ..., c]
        over = 0 if by == "inner" else 1
        axes = [over] + list(range(2, len(inputs.shape)))  # all but the groups and channels
        mean, variance = self._group_moments(xg, axes)
        y = (xg - mean) * tf.math.rsqrt(variance + self.epsilon)
        y = y * tf.cast(self.gamma, tf.float32) + tf.cast(self.beta, tf.float32)
        return tf.reshape(y, shape), mean, variance

    def _grouped(self, inputs, groups):
        """Training-mode BatchNorm with one set of statistics per group.

        The rows of `inputs` `[n, ...]` are `[outer, groups]` folded (for
        example batch x time): row `o * groups + g` belongs to group `g`
        (`_normalize_groups`). The moving averages take the mean of the
        groups' statistics.
        """
        y, mean, variance = self._normalize_groups(inputs, groups)  # mean [1, groups, 1.., c]
        m = self.momentum
        group_axes = list(range(len(inputs.shape)))  # every axis but the channels
        self.moving_mean.assign(self.moving_mean * m + tf.reduce_mean(mean, group_axes) * (1.0 - m))
        self.moving_variance.assign(
            self.moving_variance * m + tf.reduce_mean(variance, group_axes) * (1.0 - m)
        )
        return keras.ops.cast(y, self.compute_dtype)

    def _inference_grouped(self, inputs, groups: InferenceGroups):
        """Batch statistics per group (see `InferenceGroups`), moving averages untouched."""
        y, _, _ = self._normalize_groups(inputs, groups.inner, groups.by)
        return keras.ops.cast(y, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


def _apply(block: keras.layers.Layer, x, training, groups=None):
    """Runs `block` (a layer, or a Sequential of them, nested) on `x`, passing
    `groups` (see `FastBatchNormalization._grouped`) to its BatchNorm layers."""
    if isinstance(block, keras.Sequential):
        for layer in block.layers:
            x = _apply(layer, x, training, groups)
        return x
    if isinstance(block, FastBatchNormalization):
        return block(x, training=training, groups=groups)
    if type(block) in (layers.Conv2D, layers.Conv2DTranspose):
        return _bias_activation(block, _conv_slice(block, x, 0, x.shape[-1]))
    return block(x, training=training)


def _conv_bn_lrelu(filters, kernel, strides, name):
    """Conv -> BatchNorm -> LeakyReLU(0.2), the basic block of both backbones.

    BatchNorm is `synchronized`: under a tf.distribute strategy its batch
    statistics are those of the global batch, so training does not depend on
    the number of replicas (outside a strategy this changes nothing).
    """
    return keras.Sequential(
        [
            layers.Conv2D(filters, kernel, strides, padding="same", name="conv"),
            FastBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name="bn"),
            layers.LeakyReLU(0.2),
        ],
        name=name,
    )


def _upconv_bn_lrelu(filters, kernel, strides, padding, name):
    """ConvTranspose -> BatchNorm -> LeakyReLU(0.2)."""
    return keras.Sequential(
        [
            layers.Conv2DTranspose(filters, kernel, strides, padding=padding, name="deconv"),
            FastBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name="bn"),
            layers.LeakyReLU(0.2),
        ],
        name=name,
    )


def _embedding_head(g_dim, name):
    """4x4 valid conv to g_dim, BatchNorm, tanh: [n, 4, 4, c] -> [n, 1, 1, g_dim]."""
    return keras.Sequential(
        [
            layers.Conv2D(g_dim, 4, 1, padding="valid", name="conv"),
            FastBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True, name="bn"),
            layers.Activation("tanh"),
        ],
        name=name,
    )


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


def _conv_slice(conv: layers.Layer, x, start: int, stop: int, inference: bool = False):
    """`conv`'s convolution of `x` with input channels [start, stop) of its kernel.

    No bias and no activation: by linearity `conv(concat([a, b], -1))` equals
    `_conv_slice(conv, a, 0, ca) + _conv_slice(conv, b, ca, ca + cb)` plus the
    bias, then the activation (see `_bias_activation`).

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


def _bias_activation(conv: layers.Layer, y):
    """Adds `conv`'s bias to `y` `[n, h, w, filters]` and applies its activation."""
    if conv.use_bias:
        y = y + keras.ops.cast(conv.bias, y.dtype)
    return conv.activation(y) if conv.activation is not None else y


def _add_shared(y, term):
    """`y` `[k * n, ...]` plus `term` `[n, ...]`, term row i added to rows i*k..i*k+k-1.

    With k == 1 it is a plain sum; with k > 1 (samples folded next to their
    sequence) the term is broadcast instead of being repeated in memory.
    """
    if y.shape[0] is not None and y.shape[0] == term.shape[0]:
        return y + term
    shape = tf.shape(y)
    rows = tf.shape(term)[0]
    grouped = tf.reshape(y, tf.concat([[rows, -1], shape[1:]], 0))  # [n, k, ...]
    return tf.reshape(grouped + term[:, None], shape)


def _conv_block_with_term(block: keras.Sequential, x, term, training, groups=None):
    """A conv(-transpose) -> BatchNorm -> LeakyReLU block on `concat([x, s])`,
    given `term`, the skip `s`'s share of the convolution (`_conv_slice`)."""
    conv, *rest = block.layers
    y = _bias_activation(conv, _add_shared(_conv_slice(conv, x, 0, x.shape[-1]), term))
    for layer in rest:
        y = _apply(layer, y, training, groups)
    return y


@keras.saving.register_keras_serializable(package="svgpl_tf")
class DCGANEncoder(layers.Layer):
    """DCGAN-64 frame encoder.

    Args:
        g_dim: size of the frame embedding.
        channels: number of channels of the input frames.
        nf: base channel width (64 in the published architecture).

    Call returns `(h, skips)`: `h` is `[n, g_dim]` and `skips` the four
    feature maps `[n, 32, 32, 64]`, `[n, 16, 16, 128]`, `[n, 8, 8, 256]`,
    `[n, 4, 4, 512]`.

    Example:
        >>> enc = DCGANEncoder(g_dim=128, channels=1)
        >>> h, skips = enc(keras.ops.zeros([2, 64, 64, 1]))
        >>> tuple(h.shape)
        (2, 128)
    """

    def __init__(self, g_dim: int = 128, channels: int = 1, nf: int = DEFAULT_NF, **kwargs):
        super().__init__(**kwargs)
        self.g_dim = g_dim
        self.channels = channels
        self.nf = nf
        self.c1 = _conv_bn_lrelu(nf, 4, 2, "c1")  # 64 -> 32
        self.c2 = _conv_bn_lrelu(nf * 2, 4, 2, "c2")  # 32 -> 16
        self.c3 = _conv_bn_lrelu(nf * 4, 4, 2, "c3")  # 16 -> 8
        self.c4 = _conv_bn_lrelu(nf * 8, 4, 2, "c4")  # 8 -> 4
        self.c5 = _embedding_head(g_dim, "c5")  # 4 -> 1

    def build(self, input_shape):
        shape = tuple(input_shape)
        for block in (self.c1, self.c2, self.c3, self.c4, self.c5):
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, x, training=None, groups=None):
        h1 = _apply(self.c1, x, training, groups)  # [n, 32, 32, 64]
        h2 = _apply(self.c2, h1, training, groups)  # [n, 16, 16, 128]
        h3 = _apply(self.c3, h2, training, groups)  # [n, 8, 8, 256]
        h4 = _apply(self.c4, h3, training, groups)  # [n, 4, 4, 512]
        h5 = _apply(self.c5, h4, training, groups)  # [n, 1, 1, g_dim]
        return keras.ops.reshape(h5, [-1, self.g_dim]), [h1, h2, h3, h4]

    def get_config(self):
        return {
            **super().get_config(),
            "g_dim": self.g_dim,
            "channels": self.channels,
            "nf": self.nf,
        }


@keras.saving.register_keras_serializable(package="svgpl_tf")
class DCGANDecoder(layers.Layer):
    """DCGAN-64 frame decoder with skip connections, sigmoid output.

    Args:
        g_dim: size of the frame embedding it decodes.
        channels: number of channels of the output frames.
        nf: base channel width (64 in the published architecture).

    Call takes `(g, skips)` with `g` `[n, g_dim]` and the encoder's four skip
    maps, and returns frames `[n, 64, 64, channels]` in (0, 1).

    Example:
        >>> enc, dec = DCGANEncoder(128, 1), DCGANDecoder(128, 1)
        >>> h, skips = enc(keras.ops.zeros([2, 64, 64, 1]))
        >>> tuple(dec(h, skips).shape)
        (2, 64, 64, 1)
    """

    def __init__(self, g_dim: int = 128, channels: int = 1, nf: int = DEFAULT_NF, **kwargs):
        super().__init__(**kwargs)
        self.g_dim = g_dim
        self.channels = channels
        self.nf = nf
        self.upc1 = _upconv_bn_lrelu(nf * 8, 4, 1, "valid", "upc1")  # 1 -> 4
        self.upc2 = _upconv_bn_lrelu(nf * 4, 4, 2, "same", "upc2")  # 4 -> 8
        self.upc3 = _upconv_bn_lrelu(nf * 2, 4, 2, "same", "upc3")  # 8 -> 16
        self.upc4 = _upconv_bn_lrelu(nf, 4, 2, "same", "upc4")  # 16 -> 32
        self.upc5 = layers.Conv2DTranspose(
            channels, 4, 2, padding="same", activation="sigmoid", name="upc5"
        )  # 32 -> 64

    def build(self, g_shape, skips_shape=None):
        n, nf = g_shape[0], self.nf
        self.upc1.build((n, 1, 1, self.g_dim))
        self.upc2.build((n, 4, 4, nf * 8 * 2))
        self.upc3.build((n, 8, 8, nf * 4 * 2))
        self.upc4.build((n, 16, 16, nf * 2 * 2))
        self.upc5.build((n, 32, 32, nf * 2))

    def call(self, g, skips, training=None, groups=None):
        s1, s2, s3, s4 = skips
        d1 = _apply(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        d2 = _apply(
            self.upc2, keras.ops.concatenate([d1, s4], -1), training, groups
        )  # [n, 8, 8, 256]
        d3 = _apply(
            self.upc3, keras.ops.concatenate([d2, s3], -1), training, groups
        )  # [n, 16, 16, 128]
        d4 = _apply(
            self.upc4, keras.ops.concatenate([d3, s2], -1), training, groups
        )  # [n, 32, 32, 64]
        return self.upc5(keras.ops.concatenate([d4, s1], -1))  # [n, 64, 64, c]

    def skip_terms(self, skips):
        """The skip maps' share of the decoder (see the module docstring).

        Args:
            skips: the encoder's four maps `[n, 32, 32, nf]` ... `[n, 4, 4, 8nf]`.

        Returns:
            Four terms for `decode`: `[n, 8, 8, 4nf]`, `[n, 16, 16, 2nf]`,
            `[n, 32, 32, nf]`, `[n, 64, 64, c]`.
        """
        s1, s2, s3, s4 = skips
        nf = self.nf
        return [
            _conv_slice(self.upc2.layers[0], s4, nf * 8, nf * 16),  # [n, 8, 8, 4nf]
            _conv_slice(self.upc3.layers[0], s3, nf * 4, nf * 8),  # [n, 16, 16, 2nf]
            _conv_slice(self.upc4.layers[0], s2, nf * 2, nf * 4),  # [n, 32, 32, nf]
            _conv_slice(self.upc5, s1, nf, nf * 2),  # [n, 64, 64, c]
        ]

    def decode(self, g, terms, training=None, groups=None):
        """Frames from `g` `[k * n, g_dim]` and `skip_terms` `[n, ...]`.

        Equals `call(g, skips)` when `terms = skip_terms(skips)`; each term row
        serves k consecutive rows of `g` (k = 1: one term row per frame).
        """
        t2, t3, t4, t5 = terms
        d1 = _apply(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        d2 = _conv_block_with_term(self.upc2, d1, t2, training, groups)  # [kn, 8, 8, 4nf]
        d3 = _conv_block_with_term(self.upc3, d2, t3, training, groups)  # [kn, 16, 16, 2nf]
        d4 = _conv_block_with_term(self.upc4, d3, t4, training, groups)  # [kn, 32, 32, nf]
        out = _conv_slice(self.upc5, d4, 0, self.nf, inference=not training)
        out = _add_shared(out, t5)
        return _bias_activation(self.upc5, out)  # [kn, 64, 64, c]

    def get_config(self):
        return {
            **super().get_config(),
            "g_dim": self.g_dim,
            "channels": self.channels,
            "nf": self.nf,
        }


@keras.saving.register_keras_serializable(package="svgpl_tf")
class VGGEncoder(layers.Layer):
    """VGG-64 frame encoder: 2-2-3-3 blocks of 3x3 convs with max-pooling.

    Args:
        g_dim: size of the frame embedding.
        channels: number of channels of the input frames.
        nf: base channel width (64 in the published architecture).

    Call returns `(h, skips)`: `h` is `[n, g_dim]` and `skips` the four
    feature maps `[n, 64, 64, 64]`, `[n, 32, 32, 128]`, `[n, 16, 16, 256]`,
    `[n, 8, 8, 512]` (before each max-pooling).

    Example:
        >>> h, skips = VGGEncoder(128, 3)(keras.ops.zeros([2, 64, 64, 3]))
        >>> [tuple(s.shape[1:]) for s in skips][0]
        (64, 64, 64)
    """

    def __init__(self, g_dim: int = 128, channels: int = 1, nf: int = DEFAULT_NF, **kwargs):
        super().__init__(**kwargs)
        self.g_dim = g_dim
        self.channels = channels
        self.nf = nf

        def block(widths, name):
            return keras.Sequential(
                [_conv_bn_lrelu(w, 3, 1, f"{name}_{i}") for i, w in enumerate(widths)],
                name=name,
            )

        self.c1 = block([nf, nf], "c1")  # 64 x 64
        self.c2 = block([nf * 2, nf * 2], "c2")  # 32 x 32
        self.c3 = block([nf * 4] * 3, "c3")  # 16 x 16
        self.c4 = block([nf * 8] * 3, "c4")  # 8 x 8
        self.c5 = _embedding_head(g_dim, "c5")  # 4 -> 1
        self.pool = layers.MaxPooling2D(2, 2)

    def build(self, input_shape):
        n, h, w, c = tuple(input_shape)
        shape = (n, h, w, c)
        for block in (self.c1, self.c2, self.c3, self.c4):
            block.build(shape)
            shape = block.compute_output_shape(shape)
            shape = (shape[0], shape[1] // 2, shape[2] // 2, shape[3])
        self.c5.build(shape)

    def call(self, x, training=None, groups=None):
        h1 = _apply(self.c1, x, training, groups)  # [n, 64, 64, 64]
        h2 = _apply(self.c2, self.pool(h1), training, groups)  # [n, 32, 32, 128]
        h3 = _apply(self.c3, self.pool(h2), training, groups)  # [n, 16, 16, 256]
        h4 = _apply(self.c4, self.pool(h3), training, groups)  # [n, 8, 8, 512]
        h5 = _apply(self.c5, self.pool(h4), training, groups)  # [n, 1, 1, g_dim]
        return keras.ops.reshape(h5, [-1, self.g_dim]), [h1, h2, h3, h4]

    def get_config(self):
        return {
            **super().get_config(),
            "g_dim": self.g_dim,
            "channels": self.channels,
            "nf": self.nf,
        }


@keras.saving.register_keras_serializable(package="svgpl_tf")
class VGGDecoder(layers.Layer):
    """VGG-64 frame decoder: mirrors `VGGEncoder` with nearest upsampling.

    Args:
        g_dim: size of the frame embedding it decodes.
        channels: number of channels of the output frames.
        nf: base channel width (64 in the published architecture).

    Example:
        >>> enc, dec = VGGEncoder(128, 3), VGGDecoder(128, 3)
        >>> h, skips = enc(keras.ops.zeros([1, 64, 64, 3]))
        >>> tuple(dec(h, skips).shape)
        (1, 64, 64, 3)
    """

    def __init__(self, g_dim: int = 128, channels: int = 1, nf: int = DEFAULT_NF, **kwargs):
        super().__init__(**kwargs)
        self.g_dim = g_dim
        self.channels = channels
        self.nf = nf

        def block(widths, name):
            return keras.Sequential(
                [_conv_bn_lrelu(w, 3, 1, f"{name}_{i}") for i, w in enumerate(widths)],
                name=name,
            )

        self.upc1 = _upconv_bn_lrelu(nf * 8, 4, 1, "valid", "upc1")  # 1 -> 4
        self.upc2 = block([nf * 8, nf * 8, nf * 4], "upc2")  # 8 x 8
        self.upc3 = block([nf * 4, nf * 4, nf * 2], "upc3")  # 16 x 16
        self.upc4 = block([nf * 2, nf], "upc4")  # 32 x 32
        self.upc5 = block([nf], "upc5")  # 64 x 64
        self.out = layers.Conv2DTranspose(
            channels, 3, 1, padding="same", activation="sigmoid", name="out"
        )
        self.up = layers.UpSampling2D(2, interpolation="nearest")

    def build(self, g_shape, skips_shape=None):
        n, nf = g_shape[0], self.nf
        self.upc1.build((n, 1, 1, self.g_dim))
        self.upc2.build((n, 8, 8, nf * 8 * 2))
        self.upc3.build((n, 16, 16, nf * 4 * 2))
        self.upc4.build((n, 32, 32, nf * 2 * 2))
        self.upc5.build((n, 64, 64, nf * 2))
        self.out.build((n, 64, 64, nf))

    def call(self, g, skips, training=None, groups=None):
        s1, s2, s3, s4 = skips
        d1 = _apply(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        d2 = _apply(self.upc2, keras.ops.concatenate([self.up(d1), s4], -1), training, groups)
        d3 = _apply(self.upc3, keras.ops.concatenate([self.up(d2), s3], -1), training, groups)
        d4 = _apply(self.upc4, keras.ops.concatenate([self.up(d3), s2], -1), training, groups)
        d5 = _apply(self.upc5, keras.ops.concatenate([self.up(d4), s1], -1), training, groups)
        return self.out(d5)  # [n, 64, 64, c]

    def skip_terms(self, skips):
        """The skip maps' share of the decoder (see the module docstring).

        Args:
            skips: the encoder's four maps `[n, 64, 64, nf]` ... `[n, 8, 8, 8nf]`.

        Returns:
            Four terms for `decode`: `[n, 8, 8, 8nf]`, `[n, 16, 16, 4nf]`,
            `[n, 32, 32, 2nf]`, `[n, 64, 64, nf]`.
        """
        s1, s2, s3, s4 = skips
        nf = self.nf
        blocks = (self.upc2, self.upc3, self.upc4, self.upc5)
        first = [block.layers[0].layers[0] for block in blocks]  # each block's first conv
        return [
            _conv_slice(first[0], s4, nf * 8, nf * 16),  # [n, 8, 8, 8nf]
            _conv_slice(first[1], s3, nf * 4, nf * 8),  # [n, 16, 16, 4nf]
            _conv_slice(first[2], s2, nf * 2, nf * 4),  # [n, 32, 32, 2nf]
            _conv_slice(first[3], s1, nf, nf * 2),  # [n, 64, 64, nf]
        ]

    def decode(self, g, terms, training=None, groups=None):
        """Frames from `g` `[k * n, g_dim]` and `skip_terms` `[n, ...]`.

        Equals `call(g, skips)` when `terms = skip_terms(skips)`; each term row
        serves k consecutive rows of `g` (k = 1: one term row per frame).
        """
        d = _apply(self.upc1, keras.ops.reshape(g, [-1, 1, 1, self.g_dim]), training, groups)
        for block, term in zip((self.upc2, self.upc3, self.upc4, self.upc5), terms):
            first, *rest = block.layers
            d = _conv_block_with_term(first, self.up(d), term, training, groups)
            for layer in rest:
                d = _apply(layer, d, training, groups)
        return self.out(d)  # [kn, 64, 64, c]

    def get_config(self):
        return {
            **super().get_config(),
            "g_dim": self.g_dim,
            "channels": self.channels,
            "nf": self.nf,
        }


_REGISTRY = {"dcgan": (DCGANEncoder, DCGANDecoder), "vgg": (VGGEncoder, VGGDecoder)}


def make_backbone(name: str, g_dim: int, channels: int, nf: int = DEFAULT_NF):
    """Returns a new `(encoder, decoder)` pair for the backbone `name`.

    Args:
        name: one of `BACKBONES`.
        g_dim: size of the frame embedding.
        channels: number of frame channels.
        nf: base channel width; 64 is the published architecture, smaller
            values give fast models for tests and CPU demos.
    """
    if name not in _REGISTRY:
        raise ValueError(f"Unknown backbone {name!r}: choose one of {', '.join(BACKBONES)}.")
    enc_cls, dec_cls = _REGISTRY[name]
    return (
        enc_cls(g_dim, channels, nf, name="encoder"),
        dec_cls(g_dim, channels, nf, name="decoder"),
    )
