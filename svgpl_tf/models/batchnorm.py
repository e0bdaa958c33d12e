"""The backbones' BatchNorm: Keras's layer with per-group statistics, cheaper
statistics, or a fused kernel.

`GroupedBatchNormalization`, given `groups`, keeps one set of batch
statistics per group of rows (per time step in training; per sample or per
sequence while sampling, see `InferenceGroups`). Without groups it computes
what Keras's synchronised `BatchNormalization` computes, with one full-size
tensor less, optionally through `FusedBatchNormV3`. Its variables, and so the
checkpoints, are those of the Keras layer.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
from keras import layers

from svgpl_tf.models.layer_walk import sublayers


@dataclasses.dataclass(frozen=True)
class InferenceGroups:
    """BatchNorm from batch statistics at inference, one set per group of rows.

    Passed as `groups` to the encoders, decoders and `GroupedBatchNormalization`.
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
class GroupedBatchNormalization(layers.BatchNormalization):
    """Keras's `BatchNormalization` with per-group statistics, cheaper ones, or a fused kernel.

    Given `groups` (in `call`), each group of rows is normalised by its own
    batch statistics (one group per time step in training; `InferenceGroups`
    while sampling). Without them, by default it computes exactly what
    Keras's synchronised BatchNormalization computes, with the same ops and
    so the same numbers (sum and sum of squares, all-reduced over the
    replicas, mean and E[x^2] - mean^2), less one full-size tensor: Keras
    counts the elements by summing a tensor of ones as large as the input;
    here the count comes from the shape.

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
        >>> bn = GroupedBatchNormalization(momentum=0.9, epsilon=1e-5, synchronized=True)
        >>> tuple(bn(keras.ops.ones([2, 4, 4, 3]), training=True).shape)
        (2, 4, 4, 3)
    """

    def __init__(self, fused: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.fused = fused

    def _synchronized_moments(self, x, replica):
        """Mean and biased variance of `x` over every axis but the channels.

        Keras's synchronised moments (`keras.ops.moments(synchronized=True)`:
        sum and sum of squares all-reduced over the replicas, then mean and
        E[x^2] - mean^2), with the element count taken from the shape instead
        of from a tensor of ones as large as `x`.
        """
        rank = len(x.shape)
        axes = [i for i in range(rank) if i != self.axis % rank]
        if x.dtype != tf.float32:
            x = tf.cast(x, tf.float32)
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

    def _synchronized(self, inputs, replica):
        """Keras's training-mode `call`, op for op, with `_synchronized_moments`.

        Args:
            inputs: `[n, ..., c]`.
            replica: the current replica context.

        Returns:
            `[n, ..., c]` in the layer's compute dtype; the moving averages
            are updated as Keras updates them.
        """
        x = keras.ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        moving_mean = keras.ops.cast(self.moving_mean, x.dtype)
        moving_variance = keras.ops.cast(self.moving_variance, x.dtype)
        gamma = keras.ops.cast(self.gamma, x.dtype) if self.scale else None
        beta = keras.ops.cast(self.beta, x.dtype) if self.center else None
        mean, variance = self._synchronized_moments(x, replica)
        m = self.momentum
        self.moving_mean.assign(moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(moving_variance * m + variance * (1.0 - m))
        y = keras.ops.batch_normalization(
            x, mean, variance, axis=self.axis, offset=beta, scale=gamma, epsilon=self.epsilon
        )
        return keras.ops.cast(y, self.compute_dtype)

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
        """Normalises `inputs` `[n, ..., c]`.

        Args:
            inputs: the rows to normalise, channels last.
            training: batch statistics and moving-average updates if true.
            mask: as Keras's (it takes Keras's path).
            groups: None for one set of statistics over all rows; an int,
                the number of groups with a set each in training (`_grouped`;
                ignored outside training); or an `InferenceGroups`, batch
                statistics per group with the moving averages untouched.

        Returns:
            `[n, ..., c]` in the layer's compute dtype.
        """
        if isinstance(groups, InferenceGroups):
            return self._inference_grouped(inputs, groups)
        train = bool(training) and self.trainable
        if groups is not None and train and mask is None:
            return self._grouped(inputs, groups)
        if self.uses_fused_kernel(inputs, mask):
            return self._fused(inputs, train)
        replica = tf.distribute.get_replica_context()  # None in a cross-replica context
        if train and self.synchronized and not (self.renorm or mask is not None or replica is None):
            return self._synchronized(inputs, replica)
        return super().call(inputs, training=training, mask=mask)

    def _fused(self, inputs, train: bool):
        """`FusedBatchNormV3` over 4-D channels-last `inputs` (see `uses_fused_kernel`)."""
        x = keras.ops.cast(inputs, self.compute_dtype)
        if x.dtype not in (tf.float32, tf.float16, tf.bfloat16):
            x = tf.cast(x, tf.float32)
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


def batchnorm_layers(layer: keras.layers.Layer) -> list[GroupedBatchNormalization]:
    """Every `GroupedBatchNormalization` inside `layer`, in Keras's order (`sublayers`).

    Example:
        >>> len(batchnorm_layers(model))  # doctest: +SKIP
        14
    """
    return [x for x in sublayers(layer) if isinstance(x, GroupedBatchNormalization)]
