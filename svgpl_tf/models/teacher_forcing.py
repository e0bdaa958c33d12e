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
  the global batch;
- `fed_back_encodings` gives the predicted steps the model's own prediction
  of their input frame instead of the ground truth, each with probability
  `SVGModel.feedback_rate` (`feedback_mask`, `fed_back_inputs`).
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


# Added to the model's seed to key `feedback_mask`'s draws: a stream apart
# from the reparameterisation noise's for any seed below 2**32.
FEEDBACK_STREAM = 1 << 32


def feedback_mask(seed: int, optimizer, batch, steps, rate: float):
    """Which fed-back frames replace the ground truth: bool `[batch, steps]`.

    Each entry is True with probability `rate`, drawn like `training_noise`
    (keyed by the seed, the optimizer step and the example's place in the
    global batch) from a stream of its own, so a resumed run draws the same.

    Example:
        >>> feedback_mask(0, None, 2, 3, 1.0).numpy().all()
        True
    """
    u = training_noise(seed + FEEDBACK_STREAM, optimizer, batch, steps, 1)[..., 0]  # [b, s]
    return u < tf.math.ndtri(tf.constant(rate, tf.float32))


def fed_back_inputs(h, skips, h_fed, skips_fed, mask, n_past: int):
    """The input encodings of every step, with fed-back frames spliced in.

    Step j predicts frame j + 1 from frame j. For the frames after the
    context and before the last (n_past .. T-2), the teacher-forced pass's
    prediction of the frame may stand in for the ground truth, as it does
    when the model samples (parallel scheduled sampling, Duckworth et al.,
    2019: one pass of predictions, no gradient through them).

    Args:
        h: encodings of the T true frames `[b, T, g]`.
        skips: their four skip maps `[b, T, ...]`.
        h_fed: encodings of the predictions of frames n_past..T-2 `[b, F, g]`,
            F = T - 1 - n_past.
        skips_fed: their skip maps `[b, F, ...]`.
        mask: bool `[b, F]`, True where the prediction replaces the truth.
        n_past: context frames.

    Returns:
        `(h_in, skips_in)`: `[b, T, g]` and `[b, T, ...]`, the true frames'
        where the mask is False (and for the context and the last frame).

    Example:
        >>> h = tf.zeros([1, 4, 2])
        >>> h_in, _ = fed_back_inputs(h, [], tf.ones([1, 1, 2]), [], tf.constant([[True]]), 2)
        >>> h_in[0, :, 0].numpy().tolist()
        [0.0, 0.0, 1.0, 0.0]
    """
    frames = tf.shape(h_fed)[1]

    def splice(true, fed):  # [b, T, ...] with frames n_past..T-2 chosen by the mask
        sizes = tf.stack([n_past, frames, 1])
        before, middle, last = tf.split(true, sizes, axis=1)
        rank = len(true.shape)
        chosen = tf.reshape(mask, tf.concat([tf.shape(mask), tf.ones([rank - 2], tf.int32)], 0))
        return tf.concat([before, tf.where(chosen, tf.cast(fed, true.dtype), middle), last], 1)

    return splice(h, h_fed), [splice(s, f) for s, f in zip(skips, skips_fed)]


def fed_back_encodings(model, x, eps, optimizer, training):
    """The encodings of a clip's frames, some inputs replaced by predictions.

    A first pass in inference mode (the BatchNorm moving statistics, as the
    model samples; no gradient) predicts frames 2..T teacher-forced, with z
    from the posterior, or from the learned prior as when the model samples
    (`model.feedback_z`). The predictions of frames n_past..T-2 are encoded
    with the true frames in one call, and each replaces its true frame as a
    step's input with probability `model.feedback_rate` (`feedback_mask`).
    The posterior still reads the true frames.

    Args:
        model: an `SVGModel`.
        x: frames `[b, T, h, w, c]` with T known statically.
        eps: the step's reparameterisation noise `[b, T-1, z]`, shared by
            both passes.
        optimizer: the model's optimizer, or None (keys the mask's draws).
        training: the second pass's BatchNorm mode.

    Returns:
        `(h_in, h, skips_in)` for `SVGModel.predict_encoded`: the input
        encodings `[b, T, g]`, the true frames' `[b, T, g]` and the input
        skip maps `[b, T, ...]`.
    """
    if x.shape[1] is None:
        raise ValueError("feedback_rate > 0 needs clips whose length is known statically.")
    steps, n_past = x.shape[1] - 1, model.n_past
    if steps - n_past <= 0:  # no predicted frame is ever an input
        h, skips = model.encode_frames(x, training=training)
        return h, h, skips
    h, skips = model.encode_frames(x, training=False)
    first = model.predict_encoded(h, h, skips, eps, False, model.feedback_z)[0]  # frames 2..T
    fed = tf.cast(tf.stop_gradient(first[:, n_past - 1 : -1]), x.dtype)  # frames n_past..T-2
    h_all, skips_all = model.encode_frames(tf.concat([x, fed], 1), training=training)
    t = steps + 1
    h, h_fed = h_all[:, :t], h_all[:, t:]  # [b, T, g], [b, F, g]
    skips, skips_fed = [s[:, :t] for s in skips_all], [s[:, t:] for s in skips_all]
    mask = feedback_mask(model.seed, optimizer, tf.shape(x)[0], steps - n_past, model.feedback_rate)
    h_in, skips_in = fed_back_inputs(h, skips, h_fed, skips_fed, mask, n_past)
    return h_in, h, skips_in
