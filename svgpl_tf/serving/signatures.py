"""The serving object of an exported SVG model: its signatures and input checks.

`SVGServingModule` is a `tf.Module` that wraps a trained `SVGModel`'s
`sample` in one `tf.function` per signature:

- `serving_default(context, seed) -> {"frames"}`: `num_samples` futures of
  `horizon` frames per sequence, both fixed at export. Every input has the
  batch dimension first, so TF Serving's row ("instances") and columnar
  ("inputs") request formats both work.
- `sample(context, seed, num_samples, horizon) -> {"frames"}`: the same with
  the two counts as scalar inputs, bounded by the maxima fixed at export.
  Scalars have no batch dimension, so this one takes columnar requests only.

Noise comes from stateless random ops keyed by `seed`, one per sequence (see
`SVGModel.sample`): a request gives the same frames every time, and the same
frames as `model.sample(context, horizon, num_samples, seed=seed)` in Python.

Inputs are declared with unknown rank and checked inside the graph before any
model op runs, so a malformed request (wrong rank, frame size, channel count,
too few context frames, values outside [0, 1], a seed count that is not the
batch size, counts out of range) fails with an InvalidArgument error whose
message names the first problem.
"""

from __future__ import annotations

import tensorflow as tf

# Names of the signatures, their inputs and their output.
SERVING_DEFAULT = "serving_default"
SAMPLE = "sample"
CONTEXT, SEED, NUM_SAMPLES, HORIZON = "context", "seed", "num_samples", "horizon"
FRAMES = "frames"

# Input specs. Shapes are left open so that bad requests reach the checks.
_CONTEXT_SPEC = tf.TensorSpec(None, tf.float32, name=CONTEXT)  # [batch, time, h, w, c]
_SEED_SPEC = tf.TensorSpec(None, tf.int64, name=SEED)  # [batch]
_NUM_SAMPLES_SPEC = tf.TensorSpec(None, tf.int32, name=NUM_SAMPLES)  # []
_HORIZON_SPEC = tf.TensorSpec(None, tf.int32, name=HORIZON)  # []


def _assert_all(checks):
    """One assert over `(ok, message)` pairs that reports the first failing one.

    Every condition is computed whatever the input (none can fail itself),
    and a single `tf.debugging.Assert` carries the message of the first false
    one, so the error does not depend on the order the runtime runs ops in.
    """
    oks = tf.stack([ok for ok, _ in checks])  # [n]
    messages = tf.stack([message for _, message in checks])  # [n]
    index = tf.range(len(checks))
    first = tf.reduce_min(tf.where(oks, len(checks) - 1, index))  # the last if all pass
    return tf.debugging.Assert(tf.reduce_all(oks), [tf.gather(messages, first)])


def _message(template: str, *values):
    return tf.strings.format(template, values, summarize=8)


def checked_inputs(
    context,
    seed,
    num_samples,
    horizon,
    *,
    n_past: int,
    image_size: int,
    channels: int,
    max_num_samples: int,
    max_horizon: int,
):
    """Validates a request and returns its inputs with static shapes.

    Args:
        context: float32 frames `[batch, time, h, w, c]`, any shape accepted.
        seed: int64 `[batch]`, one seed per sequence.
        num_samples: int32 scalar tensor, or a Python int checked at export.
        horizon: int32 scalar tensor, or a Python int checked at export.
        n_past: context frames the model uses; the last `n_past` of `time`.
        image_size: frame height and width.
        channels: frame channels.
        max_num_samples: largest accepted `num_samples`.
        max_horizon: largest accepted `horizon`.

    Returns:
        `(context, seed, num_samples, horizon)`: context `[batch, n_past, h,
        w, c]` (its last `n_past` frames), seed `[batch]`, the two counts as
        scalars; all computed only once every check has passed.

    Raises:
        tf.errors.InvalidArgumentError: at run time, naming the first problem.

    Example:
        >>> ctx, seed, s, t = checked_inputs(tf.zeros([1, 3, 64, 64, 1]),
        ...     tf.constant([0], tf.int64), 2, 4, n_past=2, image_size=64,
        ...     channels=1, max_num_samples=10, max_horizon=10)
        >>> ctx.shape.as_list()
        [1, 2, 64, 64, 1]
    """
    size, c = image_size, channels
    shape = tf.shape(context)
    # The first five dimensions, -1 where the rank is lower: safe to index.
    dims = tf.concat([shape, tf.fill([5], -1)], 0)[:5]
    checks = [
        (
            tf.equal(tf.rank(context), 5),
            _message(
                f"context must be float32 [batch, time, {size}, {size}, {c}] frames; "
                "got shape {}",
                shape,
            ),
        ),
        (
            tf.logical_and(tf.equal(dims[2], size), tf.equal(dims[3], size)),
            _message(
                f"context frames must be {size}x{size} pixels; got {{}}x{{}}", dims[2], dims[3]
            ),
        ),
        (
            tf.equal(dims[4], c),
            _message(f"context frames must have {c} channel(s); got {{}}", dims[4]),
        ),
        (
            tf.greater_equal(dims[1], n_past),
            _message(
                f"context needs at least {n_past} frames per sequence (the model's n_past); "
                "got {}",
                dims[1],
            ),
        ),
        (tf.greater(dims[0], 0), _message("context holds no sequence (batch size 0)")),
        (
            tf.reduce_all(tf.logical_and(context >= 0.0, context <= 1.0)),
            _message(
                "context values must be in [0, 1] (divide 8-bit pixels by 255; no NaN); "
                "got min {} max {}",
                tf.reduce_min(context),
                tf.reduce_max(context),
            ),
        ),
        (
            tf.equal(tf.rank(seed), 1),
            _message(
                "seed must be int64 [batch], one seed per context sequence; got shape {}",
                tf.shape(seed),
            ),
        ),
        (
            tf.equal(tf.size(seed), dims[0]),
            _message(
                "seed must hold one value per context sequence; got {} seeds for {} sequences",
                tf.size(seed),
                dims[0],
            ),
        ),
    ]
    for name, value, limit in (
        (NUM_SAMPLES, num_samples, max_num_samples),
        (HORIZON, horizon, max_horizon),
    ):
        if isinstance(value, int):  # fixed at export, checked there
            continue
        checks += [
            (
                tf.equal(tf.rank(value), 0),
                _message(f"{name} must be an int32 scalar; got shape {{}}", tf.shape(value)),
            ),
            (tf.reduce_all(value >= 1), _message(f"{name} must be >= 1; got {{}}", value)),
            (
                tf.reduce_all(value <= limit),
                _message(f"{name} must be <= {limit}, the maximum of this export; got {{}}", value),
            ),
        ]
    with tf.control_dependencies([_assert_all(checks)]):
        context, seed = tf.identity(context), tf.identity(seed)
        counts = [n if isinstance(n, int) else tf.identity(n) for n in (num_samples, horizon)]
    # Static shapes come from reshapes, which constrain their output only:
    # `tf.ensure_shape` or a scalar-only consumer would let Grappler refine the
    # request's own shape and fold the checks above away.
    context = tf.reshape(context[:, -n_past:], [-1, n_past, size, size, c])
    seed = tf.reshape(seed, [-1])
    counts = [n if isinstance(n, int) else tf.reshape(n, []) for n in counts]
    return context, seed, counts[0], counts[1]


def check_export_counts(
    num_samples: int, horizon: int, max_num_samples: int, max_horizon: int
) -> None:
    """Raises ValueError naming the flag when the export's counts are out of range."""
    errors = []
    for name, value in (
        ("num_samples", num_samples),
        ("horizon", horizon),
        ("max_num_samples", max_num_samples),
        ("max_horizon", max_horizon),
    ):
        if not isinstance(value, int) or value < 1:
            errors.append(f"--{name}={value!r}: must be an integer >= 1.")
    if not errors:
        if num_samples > max_num_samples:
            errors.append(
                f"--num_samples={num_samples} is over --max_num_samples={max_num_samples}."
            )
        if horizon > max_horizon:
            errors.append(f"--horizon={horizon} is over --max_horizon={max_horizon}.")
    if errors:
        raise ValueError("Invalid export settings:\n  " + "\n  ".join(errors))


class SVGServingModule(tf.Module):
    """A trained `SVGModel` behind the `serving_default` and `sample` signatures.

    The module traces both signatures when built and tracks the TF variables
    they read, not the Keras model: a Keras 3 model tracked by a `tf.Module`
    exports its Keras variable wrappers as a second set of variables, which
    `tf.saved_model.load` restores but TF1-style loaders (TF Serving,
    `saved_model_cli run`) leave uninitialised ("Could not find variable").
    So the SavedModel holds exactly the weights sampling uses: no optimizer
    slots, no perceptual-loss VGG16, no training-only state.

    Args:
        model: a built `SVGModel` (BatchNorm runs on its moving statistics).
        num_samples: samples per sequence of `serving_default`.
        horizon: predicted frames per sample of `serving_default`.
        max_num_samples: largest `num_samples` the `sample` signature accepts.
        max_horizon: largest `horizon` the `sample` signature accepts.
        jit_compile: compile `serving_default`'s sampling (its counts are fixed,
            as XLA needs) with XLA; the input checks stay outside. `sample`,
            whose counts are inputs, is never compiled. The server must then
            run XLA-compiled functions (TensorFlow's Python runtime does).
            XLA draws other futures than the plain graph for a seed.

    Example:
        >>> module = SVGServingModule(model, num_samples=3, horizon=10,
        ...                           max_num_samples=100, max_horizon=100)
        >>> tf.saved_model.save(module, "/tmp/svg/1", signatures=module.signatures())
    """

    def __init__(
        self,
        model,
        num_samples: int,
        horizon: int,
        max_num_samples: int,
        max_horizon: int,
        jit_compile: bool = False,
        name: str | None = None,
    ):
        super().__init__(name=name)
        check_export_counts(num_samples, horizon, max_num_samples, max_horizon)
        # A bound method is not trackable, so the Keras model stays out of the
        # SavedModel's object graph (see the class docstring).
        self._model_sample = model.sample
        self.jit_compile = jit_compile
        if jit_compile:
            compiled = tf.function(model.sample, jit_compile=True, autograph=False)
            # A closure, not the tf.function itself: a function attribute would be
            # tracked and saved as an object of its own.
            self._model_sample_xla = lambda *args: compiled(*args)
        self.n_past = model.n_past
        self.image_size = model.image_size
        self.channels = model.channels
        self.num_samples = num_samples
        self.horizon = horizon
        self.max_num_samples = max_num_samples
        self.max_horizon = max_horizon
        used = {}
        for fn in self.signatures().values():
            used.update((id(v), v) for v in fn.variables)
        self.exported_variables = list(used.values())

    def _frames(self, context, seed, num_samples, horizon):
        context, seed, num_samples, horizon = checked_inputs(
            context,
            seed,
            num_samples,
            horizon,
            n_past=self.n_past,
            image_size=self.image_size,
            channels=self.channels,
            max_num_samples=self.max_num_samples,
            max_horizon=self.max_horizon,
        )
        static = isinstance(num_samples, int) and isinstance(horizon, int)
        if self.jit_compile and static:
            frames = self._model_sample_xla(context, horizon, num_samples, seed)
        else:
            frames = self._model_sample(context, horizon, num_samples, seed=seed)
        size, c = self.image_size, self.channels
        static = [n if isinstance(n, int) else None for n in (num_samples, horizon)]
        frames.set_shape([None, *static, size, size, c])
        return frames  # [batch, num_samples, horizon, h, w, c]

    # No autograph: every loop is a tf.while_loop or a static Python loop, and
    # converting `model.sample` again for each export gains nothing.
    @tf.function(input_signature=[_CONTEXT_SPEC, _SEED_SPEC], autograph=False)
    def serving_default(self, context, seed):
        """`context` [b, >= n_past, h, w, c], `seed` [b] -> frames [b, s, t, h, w, c]."""
        return {FRAMES: self._frames(context, seed, self.num_samples, self.horizon)}

    @tf.function(
        input_signature=[_CONTEXT_SPEC, _SEED_SPEC, _NUM_SAMPLES_SPEC, _HORIZON_SPEC],
        autograph=False,
    )
    def sample(self, context, seed, num_samples, horizon):
        """As `serving_default`, with scalar `num_samples` and `horizon` inputs."""
        return {FRAMES: self._frames(context, seed, num_samples, horizon)}

    def signatures(self) -> dict:
        """The concrete functions to export, by signature name."""
        return {
            SERVING_DEFAULT: self.serving_default.get_concrete_function(),
            SAMPLE: self.sample.get_concrete_function(),
        }
