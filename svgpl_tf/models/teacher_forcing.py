"""The batched pieces of `SVGModel`'s teacher-forced pass (training).

In training every input of every step is known up front, so the model runs
each network once over batch x time instead of frame by frame:

- `fold_time` / `unfold_time` move time into the batch and back, for the
  encoder and decoder, which see frames;
- `skip_sources` says which frame's skips decode each predicted step;
- `decode_shared` decodes every predicted step with each source frame's skip
  terms computed once (see `svgpl_tf.models.skip_terms`);
- `training_noise` draws the reparameterisation noise of a step from keys
  that depend only on the seed, the optimizer step and the example's place in
  the global batch.
"""

from __future__ import annotations

import tensorflow as tf

from svgpl_tf.models import sampling


def fold_time(x):
    """`[batch, time, ...]` -> `[batch * time, ...]`.

    Example:
        >>> tuple(fold_time(tf.zeros([2, 3, 4])).shape)
        (6, 4)
    """
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([[shape[0] * shape[1]], shape[2:]], 0))


def unfold_time(x, batch):
    """`[batch * time, ...]` -> `[batch, time, ...]`, the inverse of `fold_time`.

    Example:
        >>> tuple(unfold_time(tf.zeros([6, 4]), 2).shape)
        (2, 3, 4)
    """
    shape = tf.shape(x)
    return tf.reshape(x, tf.concat([[batch, shape[0] // batch], shape[1:]], 0))


def skip_sources(num_steps, n_past: int, last_frame_skip: bool):
    """Index of the frame whose skips decode predicted step j (frame j + 1).

    Args:
        num_steps: predicted steps, T - 1.
        n_past: context frames: without `last_frame_skip` every step after
            the context takes the last context frame's skips.
        last_frame_skip: every step takes the previous frame's skips.

    Returns:
        int32 `[num_steps]`.

    Example:
        >>> skip_sources(5, 2, False).numpy().tolist()
        [0, 1, 1, 1, 1]
    """
    steps = tf.range(num_steps)
    if last_frame_skip:
        return steps
    return tf.minimum(steps, n_past - 1)


def decode_shared(decoder, g_pred, skips, n_past: int, last_frame_skip: bool, training, groups):
    """Decodes every predicted step with each source frame's skip terms computed once.

    The source frames are 0..n_past-1 (0..T-2 with `last_frame_skip`), so the
    skip half of the decoder's convolutions runs n_past times per sequence
    instead of T - 1.

    Args:
        decoder: a backbone decoder with `skip_terms` and `decode`.
        g_pred: the frame predictor's outputs `[b, T-1, g]`.
        skips: the encoder's four skip maps of all T frames, `[b, T, ...]`.
        n_past, last_frame_skip: as in `skip_sources`.
        training: the BatchNorm mode.
        groups: the BatchNorm groups of the folded `[b, T-1]` rows, or None.

    Returns:
        frames `[b, T-1, h, w, c]`.
    """
    batch, steps = tf.shape(g_pred)[0], tf.shape(g_pred)[1]
    sources = steps if last_frame_skip else tf.minimum(steps, n_past)
    # tf.split, not a slice: its gradient is a concatenation with zeros,
    # much cheaper than a strided-slice gradient on these large maps.
    sizes = tf.stack([sources, steps + 1 - sources])  # of the T frames
    used = [tf.split(s, sizes, axis=1)[0] for s in skips]  # [b, U, ...]
    terms = decoder.skip_terms([fold_time(s) for s in used])  # [b*U, ...]
    terms = [unfold_time(t, batch) for t in terms]  # [b, U, ...]
    if not last_frame_skip:
        idx = skip_sources(steps, n_past, last_frame_skip)
        terms = [tf.gather(t, idx, axis=1) for t in terms]  # [b, T-1, ...]
    x = decoder.decode(
        fold_time(g_pred), [fold_time(t) for t in terms], training=training, groups=groups
    )
    return unfold_time(x, batch)  # [b, T-1, h, w, c]


def training_noise(seed: int, optimizer, batch, steps, z_dim: int):
    """Reparameterisation noise `[batch, steps, z_dim]` of a training step.

    Example i of the global batch at optimizer step k gets the noise of the
    stateless key `fold_in((seed, i), k)`. So the noise depends only on the
    seed, the step and the example's place in the global batch: it is the
    same on one replica or several (each replica knows its offset), and a
    resumed run draws what an uninterrupted run would have drawn. A step
    compiled with XLA (`jit_compile`) draws another stream from the same keys
    (tensorflow/tensorflow#121243), equally reproducible.

    Args:
        seed: the model's seed.
        optimizer: the model's optimizer (its `iterations` is the step), or
            None before one is attached (step 0).
        batch: examples in this replica's batch.
        steps: time steps, T - 1.
        z_dim: size of z_t.

    Returns:
        float32 `[batch, steps, z_dim]`.

    Example:
        >>> tuple(training_noise(0, None, 2, 3, 4).shape)
        (2, 3, 4)
    """
    step = tf.cast(optimizer.iterations, tf.int64) if optimizer is not None else 0
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    first = tf.cast(replica, tf.int64) * tf.cast(batch, tf.int64)
    index = first + tf.range(tf.cast(batch, tf.int64))
    keys = tf.stack([tf.fill([batch], tf.constant(seed, tf.int64)), index], axis=1)
    # Looked up at every trace, so a test may replace `sampling.keyed_normal`.
    eps = sampling.keyed_normal(keys, step, steps, z_dim)  # [batch * steps, z]
    return tf.reshape(eps, [batch, steps, z_dim])
