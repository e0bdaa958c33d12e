"""Generation's parts: `SVGModel.sample`'s warm-up and loop, what it decides
before the loop, and the compiled sampler.

Generation (`SVGModel.sample`) warms up the LSTMs on the context frames
(`warm_up`), then loops over the predicted frames (`future_frames`).
Everything that does not change from one step to the next is chosen once, up
front:

- `sample_keys`: each sequence's stateless random key, and `keyed_normal`
  its noise at a time step;
- `sampling_groups`: the BatchNorm statistics of the encoder and decoder
  (moving averages, or batch statistics over one set of rows or another);
- `step_decoder`: how a step's frame is decoded: by the plain concatenation
  of skip maps or by their precomputed share of the decoder (see
  `svgpl_tf.models.skip_terms`), with the skips of the last context frame or
  of the previous frame.

`CompiledSampler` wraps `SVGModel.sample` in graphs traced once. The noise
comes in as a function of the time step (`noise(t)`, `[b * s, z]`), the same
stateless draws whatever the batch, horizon or compilation (see
`svgpl_tf.models.svg`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import tensorflow as tf

from svgpl_tf.choices import SAMPLING_BATCHNORM
from svgpl_tf.models import elementwise
from svgpl_tf.models.batchnorm import InferenceGroups
from svgpl_tf.models.recurrent import GaussianLSTM

if TYPE_CHECKING:
    from svgpl_tf.models.svg import SVGModel


def sample_keys(seed, batch_size):
    """Per-sequence stateless keys `[batch, 2]` int64 from a seed.

    A scalar seed `s` gives sequence `b` the key `(s, b)`; a vector of seeds
    `[batch]` gives sequence `b` the key `(seed[b], 0)`. So a sequence's
    samples depend only on its own key, never on the rest of the batch, and
    a scalar seed with batch size 1 equals the vector `[seed]`.
    """
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank == 0:
        first = tf.fill([batch_size], seed)
        second = tf.range(batch_size, dtype=tf.int64)
    else:
        first = seed
        second = tf.zeros_like(seed)
    return tf.stack([first, second], axis=1)


def keyed_normal(keys, step, num_samples, z_dim):
    """Standard normal noise `[batch * num_samples, z_dim]` for one time step.

    Row b's noise is drawn from the stateless key `fold_in(keys[b], step)`, so
    it does not depend on the horizon or on other rows. The algorithm is
    pinned to Philox ("auto_select" may pick another on other devices), so a
    seed gives the same noise on CPU and GPU, except under XLA (see
    `CompiledSampler`).

    The model looks it up here at every trace (`sampling.keyed_normal`), so
    replacing this attribute (`monkeypatch.setattr(sampling, "keyed_normal",
    fn)`) gives every model another noise of the same signature: the tests
    use one that XLA draws as a plain graph does.

    Args:
        keys: int64 `[batch, 2]`, one stateless key per row (`sample_keys`).
        step: the time step, an int or scalar int tensor.
        num_samples: samples per row.
        z_dim: the latent size.

    Example:
        >>> keyed_normal(sample_keys(0, 2), 3, 4, 10).shape
        TensorShape([8, 10])
    """

    def one(key):
        k = tf.random.experimental.stateless_fold_in(key, step, alg="philox")
        return tf.random.stateless_normal([num_samples, z_dim], seed=k, alg="philox")

    eps = tf.map_fn(one, keys, fn_output_signature=tf.float32)  # [b, s, z]
    return tf.reshape(eps, [-1, z_dim])


def check_sampling_batchnorm(batchnorm: str) -> None:
    """Raises a ValueError unless `batchnorm` is one of `SAMPLING_BATCHNORM`."""
    if batchnorm not in SAMPLING_BATCHNORM:
        raise ValueError(
            f"Unknown sampling batchnorm {batchnorm!r}: choose one of {SAMPLING_BATCHNORM}."
        )


def checked_context(context, horizon, num_samples, batchnorm: str) -> tf.Tensor:
    """`SVGModel.sample`'s arguments checked; returns the context as float32.

    Raises:
        ValueError: an unknown `batchnorm`, a Python `horizon` or
            `num_samples` below 1, or a context that is not `[b, t, h, w, c]`
            with a known t.
    """
    check_sampling_batchnorm(batchnorm)
    for name, value in (("horizon", horizon), ("num_samples", num_samples)):
        if isinstance(value, int) and value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
    context = tf.convert_to_tensor(context, tf.float32)
    if context.shape.rank != 5 or context.shape[1] is None:
        raise ValueError(
            f"context must be [batch, time, h, w, c] with a known time, got {context.shape}."
        )
    return context


def sampling_groups(batchnorm: str, n_ctx: int, num_samples) -> tuple:
    """The BatchNorm groups of sampling (see `SVGModel.sample`'s `batchnorm`).

    Args:
        batchnorm: one of `SAMPLING_BATCHNORM`.
        n_ctx: number of context frames.
        num_samples: samples per sequence (an int or a scalar int tensor).

    Returns:
        `(context, rows)`: the groups of the context's encoding, whose rows
        are `[b, n_ctx]` folded, and of the loop's encoder and decoder, whose
        rows are `[b, num_samples]` folded. Both None for `"moving"`.
    """
    if batchnorm == "moving":
        return None, None
    by = "inner" if batchnorm == "batch" else "outer"
    return InferenceGroups(n_ctx, by), InferenceGroups(num_samples, by)


@dataclasses.dataclass(frozen=True)
class StepDecoder:
    """How each step of `SVGModel.sample`'s loop decodes its frame.

    Attributes:
        carry: what the loop carries for the decoder from step to step: the
            skip maps or skip terms that decode the next frame, `[b * s, ...]`
            each (empty when the decoder needs nothing that changes).
        decode: `(g [b * s, g_dim], carry) -> frames [b * s, h, w, c]`.
        next_carry: `(skip maps of the frame just generated, carry) -> carry`
            of the next step.
    """

    carry: list
    decode: Callable
    next_carry: Callable


def _keep(skips, carry):
    """`next_carry` of skips that come from the last context frame: unchanged."""
    return carry


def step_decoder(
    model: SVGModel, last_skips: list, num_samples, groups: InferenceGroups | None
) -> StepDecoder:
    """The decoding strategy of sampling's loop, one of four, as the model's
    `precompute_skips` and `last_frame_skip` say.

    - concatenation, skips of the last context frame: its maps, repeated over
      the samples, serve every step;
    - concatenation, skips of the previous frame (`last_frame_skip`): each
      generated frame's maps serve the next step;
    - shared terms (`precompute_skips`), last context frame: its maps' share
      of the decoder (`decoder.skip_terms`) is computed once per sequence and
      broadcast over its samples and steps (`decoder.decode`); nothing is
      carried;
    - shared terms, previous frame: each generated frame's terms serve the
      next step.

    All four compute the same frames, up to float rounding.

    Args:
        model: the `SVGModel`.
        last_skips: the encoder's four skip maps of the last context frame,
            `[b, ...]` each.
        num_samples: samples per sequence (an int or a scalar int tensor).
        groups: the decoder's BatchNorm groups (`sampling_groups`' rows).
    """
    decoder = model.decoder

    def rep(t):  # [b, ...] -> [b * s, ...], each sequence's samples adjacent
        return tf.repeat(t, num_samples, axis=0)

    if model.precompute_skips:

        def decode(g, terms):
            return decoder.decode(g, terms, training=False, groups=groups)

        terms = decoder.skip_terms(last_skips)  # [b, ...]
        if model.last_frame_skip:
            return StepDecoder(
                [rep(t) for t in terms], decode, lambda skips, _: decoder.skip_terms(skips)
            )
        return StepDecoder([], lambda g, _: decode(g, terms), _keep)

    def concatenate(g, skips):
        return decoder(g, skips, training=False, groups=groups)

    carry = [rep(s) for s in last_skips]  # [b * s, ...]
    if model.last_frame_skip:
        return StepDecoder(carry, concatenate, lambda skips, _: list(skips))
    return StepDecoder(carry, concatenate, _keep)


def warm_up(model: SVGModel, h_ctx, n_ctx: int, noise, num_samples):
    """The LSTMs over the context frames, z_t from the posterior (t = 2..n).

    The posterior and the prior read the context once per sequence; the
    samples of a sequence differ by their noise only.

    Args:
        model: the `SVGModel`.
        h_ctx: the context's embeddings `[b, n, g]`.
        n_ctx: n, the number of context frames (a Python int).
        noise: time step t -> eps `[b * s, z]`.
        num_samples: samples per sequence.

    Returns:
        `(h, (predictor_state, prior_state))`: the last context frame's
        embedding `[b * s, g]` and the states after the context, one row per
        sample.
    """

    def rep(t):  # [b, ...] -> [b * s, ...], each sequence's samples adjacent
        return tf.repeat(t, num_samples, axis=0)

    h = rep(h_ctx)  # [b*s, n, g]
    rows = tf.shape(h)[0]
    pred_state = model.frame_predictor.zero_state(rows)
    prior_state = model.prior.zero_state(rows) if model.prior is not None else ()
    if n_ctx > 1:
        mu, logvar, _ = model.posterior(h_ctx[:, 1:], training=False)  # [b, n-1, z]
        eps = tf.stack([noise(t) for t in range(1, n_ctx)], axis=1)  # [b*s, n-1, z]
        z = GaussianLSTM.reparameterize(rep(mu), rep(logvar), eps)
        if model.prior is not None:
            _, _, prior_state = model.prior(h_ctx[:, :-1])
            prior_state = tf.nest.map_structure(rep, prior_state)  # [b*s, units]
        _, pred_state = model.frame_predictor(tf.concat([h[:, :-1], z], -1), pred_state)
    return h[:, -1], (pred_state, prior_state)


def _prior_step(model: SVGModel, h, state):
    """Prior parameters of one step, `h` `[rows, g]` -> mu, logvar `[rows, z]`, state."""
    if model.prior is None:
        zeros = tf.zeros([tf.shape(h)[0], model.z_dim], h.dtype)
        return zeros, zeros, state
    return model.prior.step(h, state)


def future_frames(model: SVGModel, h, states, decoder: StepDecoder, noise, n_ctx, horizon, groups):
    """The predicted frames, one loop step each: z_t from the prior, g_t from
    the frame predictor, the frame decoded, and encoded again as the next
    step's input.

    Args:
        model: the `SVGModel`.
        h: the last context frame's embedding `[b * s, g]`.
        states: `(predictor_state, prior_state)` after the context (`warm_up`).
        decoder: the `StepDecoder` of every step.
        noise: time step t -> eps `[b * s, z]`.
        n_ctx: number of context frames.
        horizon: number of frames to predict (an int or a scalar tensor).
        groups: the encoder's BatchNorm groups (`sampling_groups`' rows).

    Returns:
        float32 frames `[b * s, horizon, h, w, c]`.
    """

    def step(t, h, carry, pred_state, prior_state, frames):
        mu_p, logvar_p, prior_state = _prior_step(model, h, prior_state)
        z = GaussianLSTM.reparameterize(mu_p, logvar_p, noise(n_ctx + t))  # [b*s, z]
        g, pred_state = model.frame_predictor.step(tf.concat([h, z], -1), pred_state)
        x_hat = decoder.decode(g, carry)  # [b*s, h, w, c]
        frames = frames.write(t, tf.cast(x_hat, tf.float32))

        def encode():  # the next step's input; skipped after the last step
            h_next, skips = model.encoder(x_hat, training=False, groups=groups)
            return h_next, decoder.next_carry(skips, carry)

        h, carry = tf.cond(t + 1 < horizon, encode, lambda: (h, carry))
        return t + 1, h, carry, pred_state, prior_state, frames

    frames = tf.TensorArray(tf.float32, size=horizon)
    loop_vars = (tf.constant(0), h, decoder.carry, *states, frames)
    *_, frames = tf.while_loop(lambda t, *_: t < horizon, step, loop_vars)
    return tf.transpose(frames.stack(), [1, 0, 2, 3, 4])  # [b*s, horizon, h, w, c]


class CompiledSampler:
    """`model.sample` as graphs: traced once per context length and seed rank.

    `sample` in eager mode runs its time loop op by op from Python; this
    wraps it in `tf.function`s with relaxed input signatures (any batch,
    horizon, number of samples and seeds), so repeated calls never retrace.
    With `jit_compile` the graph is compiled by XLA; XLA needs the horizon and
    the number of samples as compile-time constants, so it compiles once per
    distinct pair instead. Under XLA, TensorFlow 2.21's stateless random ops
    draw other numbers than a plain graph does for the same seed
    (tensorflow/tensorflow#121243): XLA's futures are as random and as
    reproducible per seed, but not the same as the plain sampler's.

    With `compiled_elementwise` (the default) and a 16-bit model on a CPU,
    the graphs compile their element-wise work with XLA, the rest staying on
    TensorFlow's kernels (see `svgpl_tf.models.elementwise`): faster, and
    equal to the plain graph's frames up to bfloat16 rounding. Elsewhere it
    changes nothing.

    Args:
        model: a built `SVGModel`.
        jit_compile: compile with XLA.
        batchnorm: BatchNorm statistics while sampling (see `SVGModel.sample`).
        compiled_elementwise: see above.

    Example:
        >>> sampler = CompiledSampler(model)
        >>> frames = sampler(context, horizon=10, num_samples=100, seed=0)
        >>> sampler.tracing_count()  # the same for any batch, horizon or seed
        1
    """

    def __init__(
        self,
        model: SVGModel,
        jit_compile: bool = False,
        batchnorm: str = "moving",
        compiled_elementwise: bool = True,
    ):
        check_sampling_batchnorm(batchnorm)
        self.model = model
        self.jit_compile = jit_compile
        self.compiled_elementwise = compiled_elementwise
        self.batchnorm = batchnorm
        self._functions: dict[tuple[int, int], tf.types.experimental.PolymorphicFunction] = {}

    def _function(self, n_ctx: int, seed_rank: int):
        key = (n_ctx, seed_rank)
        if key not in self._functions:
            s, c = self.model.image_size, self.model.channels
            context = tf.TensorSpec([None, n_ctx, s, s, c], tf.float32)
            seed = tf.TensorSpec([None] * seed_rank, tf.int64)
            if self.jit_compile:
                signature = None  # horizon and num_samples stay Python ints
            else:
                count = tf.TensorSpec([], tf.int32)
                signature = [context, count, count, seed]
            self._functions[key] = tf.function(
                functools.partial(self.model.sample, batchnorm=self.batchnorm),
                input_signature=signature,
                jit_compile=self.jit_compile,
                autograph=False,
            )
        return self._functions[key]

    def __call__(self, context, horizon: int, num_samples: int = 1, seed=0) -> tf.Tensor:
        """As `SVGModel.sample`; returns `[batch, num_samples, horizon, h, w, c]`."""
        context = tf.convert_to_tensor(context, tf.float32)
        seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
        fn = self._function(int(context.shape[1]), seed.shape.rank)
        with elementwise.compiled_elementwise(self.compiled_elementwise and not self.jit_compile):
            if self.jit_compile:
                return fn(context, int(horizon), int(num_samples), seed)
            horizon, num_samples = (tf.constant(v, tf.int32) for v in (horizon, num_samples))
            return fn(context, horizon, num_samples, seed)

    def tracing_count(self) -> int:
        """Traces so far, over every context length and seed rank."""
        return sum(f.experimental_get_tracing_count() for f in self._functions.values())
