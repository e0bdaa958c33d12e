"""SVG-LP's training step in JAX, weight for weight the `svgpl_tf` model's.

A mirror of `svgpl_tf.models.svg.SVGModel.compute_loss_terms` and its Adam
step for the DCGAN backbone, so that the model can be trained on a machine
where JAX runs and TensorFlow does not (a GPU machine without TensorFlow's
CUDA build). The parameters are a flat dict keyed by the Keras variable paths
of the `svgpl_tf` model (`svg_model/encoder/c1/conv/kernel`, ...), in Keras's
layouts, so trained weights load into `svgpl_tf` unchanged
(`weights_bridge.py`). `tests/test_jax_mirror.py` checks the loss and its
gradients against `svgpl_tf`'s on the same weights and noise.

What is mirrored: pixel MSE + beta * KL (Eq. 1 of the SVG-PL paper without
its perceptual term), the learned or the fixed prior, BatchNorm over all
frames of a call (`batchnorm_stats="pooled"`) with Keras's moving averages,
skips from the last context frame or from the previous frame, Keras's
initializers and Keras's Adam. Not mirrored: the VGG16 perceptual term, the
VGG backbone, per-step BatchNorm.

Example:
    >>> spec = ModelSpec(g_dim=8, nf=4, rnn_size=8, z_dim=2)
    >>> params, stats = init_params(0, spec)
    >>> x = jnp.zeros([2, 4, 64, 64, 1])
    >>> eps = jnp.zeros([2, 3, 2])
    >>> loss, aux = loss_fn(params, stats, x, eps, spec)
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

PREFIX = "svg_model"
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
LEAKY_SLOPE = 0.2


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """The `svgpl_tf.config.Config` fields the mirror reads (DCGAN backbone)."""

    g_dim: int = 128
    nf: int = 64
    z_dim: int = 10
    rnn_size: int = 256
    channels: int = 1
    predictor_rnn_layers: int = 2
    posterior_rnn_layers: int = 1
    prior_rnn_layers: int = 1
    prior: str = "learned"
    last_frame_skip: bool = False
    n_past: int = 5
    beta: float = 1e-4

    @classmethod
    def from_config(cls, config: dict) -> ModelSpec:
        """The spec of a `config.json` dict; raises ValueError on what is not mirrored."""
        if config.get("backbone", "dcgan") != "dcgan":
            raise ValueError("the JAX mirror has the dcgan backbone only")
        if (
            config.get("perceptual_weight", 0.0)
            or config.get("ssim_weight", 0.0)
            or config.get("pixel_loss", "mse") != "mse"
        ):
            raise ValueError(
                "the JAX mirror trains pixel MSE + KL only (no perceptual or SSIM term)"
            )
        if config.get("batchnorm_stats", "pooled") != "pooled":
            raise ValueError("the JAX mirror has pooled BatchNorm statistics only")
        if config.get("lstm_bias", "single") != "single" or config.get("lr_warmup_steps", 0):
            raise ValueError("the JAX mirror has plain Adam (no --lstm_bias=double, no warm-up)")
        if config.get("feedback_rate", 0.0):
            raise ValueError("the JAX mirror trains teacher-forced only (no --feedback_rate)")
        if config.get("image_size", 64) != 64 or config.get("dataset", "smmnist") != "smmnist":
            raise ValueError("the JAX mirror trains on 64x64 SM-MNIST only")
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: config[n] for n in names if n in config})


# ------------------------------------------------------------------ layouts


def _conv_shapes(spec: ModelSpec) -> dict[str, tuple[int, ...]]:
    """Kernel shapes of the backbones, Keras layouts: conv `[kh, kw, in, out]`,
    transposed conv `[kh, kw, out, in]`."""
    nf, g, c = spec.nf, spec.g_dim, spec.channels
    enc = [(c, nf), (nf, 2 * nf), (2 * nf, 4 * nf), (4 * nf, 8 * nf), (8 * nf, g)]
    shapes = {f"encoder/c{i + 1}/conv": (4, 4, a, b) for i, (a, b) in enumerate(enc)}
    dec = [(g, 8 * nf), (16 * nf, 4 * nf), (8 * nf, 2 * nf), (4 * nf, nf)]
    for i, (a, b) in enumerate(dec):
        shapes[f"decoder/upc{i + 1}/deconv"] = (4, 4, b, a)
    shapes["decoder/upc5"] = (4, 4, c, 2 * nf)
    return shapes


def _rnn_modules(spec: ModelSpec) -> dict[str, tuple[int, int, list[tuple[str, int]]]]:
    """name -> (input size, layers, heads [(name, size)]) of each recurrent module."""
    mods = {
        "frame_predictor": (
            spec.g_dim + spec.z_dim,
            spec.predictor_rnn_layers,
            [("output", spec.g_dim)],
        ),
        "posterior": (
            spec.g_dim,
            spec.posterior_rnn_layers,
            [("mu", spec.z_dim), ("logvar", spec.z_dim)],
        ),
    }
    if spec.prior == "learned":
        mods["prior"] = (
            spec.g_dim,
            spec.prior_rnn_layers,
            [("mu", spec.z_dim), ("logvar", spec.z_dim)],
        )
    return mods


def _glorot(rng, shape, fan_in, fan_out):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, shape).astype(np.float32)


def _orthogonal(rng, shape):
    """Keras's `Orthogonal` initializer for a 2-D shape (QR of a normal draw)."""
    rows, cols = shape
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))
    return (q.T if rows < cols else q).astype(np.float32)


def init_params(seed: int, spec: ModelSpec) -> tuple[dict, dict]:
    """Keras's initial values, drawn by NumPy from `seed` (not Keras's streams).

    Kernels Glorot-uniform, recurrent kernels orthogonal, biases zero but the
    LSTM forget gates' (one), BatchNorm gamma one and beta zero.

    Returns:
        `(params, stats)`: trainable weights and BatchNorm moving averages,
        flat dicts of float32 arrays keyed by Keras variable path.
    """
    rng = np.random.default_rng(seed)
    params, stats = {}, {}
    for name, shape in _conv_shapes(spec).items():
        kh, kw, a, b = shape
        path = f"{PREFIX}/{name}"
        params[f"{path}/kernel"] = _glorot(rng, shape, kh * kw * a, kh * kw * b)
        params[f"{path}/bias"] = np.zeros([b if "encoder" in name else a], np.float32)
        if name != "decoder/upc5":
            block = path.rsplit("/", 1)[0]
            width = b if "encoder" in name else a
            params[f"{block}/bn/gamma"] = np.ones([width], np.float32)
            params[f"{block}/bn/beta"] = np.zeros([width], np.float32)
            stats[f"{block}/bn/moving_mean"] = np.zeros([width], np.float32)
            stats[f"{block}/bn/moving_variance"] = np.ones([width], np.float32)
    u = spec.rnn_size
    for mod, (n_in, layers, heads) in _rnn_modules(spec).items():
        path = f"{PREFIX}/{mod}"
        params[f"{path}/embed/kernel"] = _glorot(rng, (n_in, u), n_in, u)
        params[f"{path}/embed/bias"] = np.zeros([u], np.float32)
        for i in range(layers):
            cell = f"{path}/lstm_{i}/lstm_cell"
            params[f"{cell}/kernel"] = _glorot(rng, (u, 4 * u), u, 4 * u)
            params[f"{cell}/recurrent_kernel"] = _orthogonal(rng, (u, 4 * u))
            bias = np.zeros([4 * u], np.float32)
            bias[u : 2 * u] = 1.0  # the forget gate's
            params[f"{cell}/bias"] = bias
        for head, size in heads:
            params[f"{path}/{head}/kernel"] = _glorot(rng, (u, size), u, size)
            params[f"{path}/{head}/bias"] = np.zeros([size], np.float32)
    return params, stats


# ------------------------------------------------------------------ layers

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x, kernel, bias, stride, padding):
    """Keras `Conv2D`: x `[n, h, w, in]`, kernel `[kh, kw, in, out]`."""
    y = jax.lax.conv_general_dilated(x, kernel, (stride, stride), padding, dimension_numbers=_DN)
    return y + bias


def _conv_transpose(x, kernel, bias, stride, padding):
    """Keras `Conv2DTranspose`: x `[n, h, w, in]`, kernel `[kh, kw, out, in]`.

    Computed as TensorFlow defines it: the input gradient of the convolution
    from the output's shape with this kernel.
    """
    kh, _, out, _ = kernel.shape
    n, h, w, _ = x.shape
    size = (h * stride, w * stride) if padding == "SAME" else ((h - 1) * stride + kh,) * 2
    y_shape = (n, *size, out)
    fwd = lambda y: jax.lax.conv_general_dilated(  # noqa: E731
        y, kernel, (stride, stride), padding, dimension_numbers=_DN
    )
    _, vjp = jax.vjp(fwd, jnp.zeros(y_shape, x.dtype))
    return vjp(x)[0] + bias


def _batchnorm(params, stats, block, x, train):
    """Keras `BatchNormalization(momentum=0.9, epsilon=1e-5)` over all rows.

    Returns `(y, new_stats)`; the moving averages take the biased variance.
    """
    gamma, beta = params[f"{block}/bn/gamma"], params[f"{block}/bn/beta"]
    mm, mv = f"{block}/bn/moving_mean", f"{block}/bn/moving_variance"
    if train:
        axes = tuple(range(x.ndim - 1))
        mean = jnp.mean(x, axes)
        var = jnp.maximum(jnp.mean(jnp.square(x), axes) - jnp.square(mean), 0.0)
        new = {
            mm: stats[mm] * BN_MOMENTUM + jax.lax.stop_gradient(mean) * (1 - BN_MOMENTUM),
            mv: stats[mv] * BN_MOMENTUM + jax.lax.stop_gradient(var) * (1 - BN_MOMENTUM),
        }
    else:
        mean, var, new = stats[mm], stats[mv], {}
    y = (x - mean) * jax.lax.rsqrt(var + BN_EPSILON) * gamma + beta
    return y, new


def _leaky(x):
    return jnp.where(x >= 0, x, LEAKY_SLOPE * x)


def encode(params, stats, x, train):
    """DCGAN encoder: x `[n, 64, 64, c]` -> (h `[n, g]`, four skips, new stats)."""
    p = f"{PREFIX}/encoder"
    new, skips, h = {}, [], x
    for i in range(1, 5):
        h = _conv(h, params[f"{p}/c{i}/conv/kernel"], params[f"{p}/c{i}/conv/bias"], 2, "SAME")
        h, s = _batchnorm(params, stats, f"{p}/c{i}", h, train)
        h = _leaky(h)
        new.update(s)
        skips.append(h)  # [n, 32, 32, nf] ... [n, 4, 4, 8nf]
    h = _conv(h, params[f"{p}/c5/conv/kernel"], params[f"{p}/c5/conv/bias"], 1, "VALID")
    h, s = _batchnorm(params, stats, f"{p}/c5", h, train)
    new.update(s)
    return jnp.tanh(h).reshape(h.shape[0], -1), skips, new  # [n, g]


def decode(params, stats, g, skips, train):
    """DCGAN decoder with skips: g `[n, g]` -> (frames `[n, 64, 64, c]`, new stats)."""
    p = f"{PREFIX}/decoder"
    new = {}
    d = g.reshape(g.shape[0], 1, 1, -1)
    for i, skip in zip(range(1, 5), [None, *skips[::-1][:3]]):
        if skip is not None:
            d = jnp.concatenate([d, skip], -1)
        k, b = params[f"{p}/upc{i}/deconv/kernel"], params[f"{p}/upc{i}/deconv/bias"]
        d = _conv_transpose(d, k, b, 1 if i == 1 else 2, "VALID" if i == 1 else "SAME")
        d, s = _batchnorm(params, stats, f"{p}/upc{i}", d, train)
        d = _leaky(d)
        new.update(s)
    d = jnp.concatenate([d, skips[0]], -1)
    d = _conv_transpose(d, params[f"{p}/upc5/kernel"], params[f"{p}/upc5/bias"], 2, "SAME")
    return jax.nn.sigmoid(d), new


def _dense(params, path, x):
    return x @ params[f"{path}/kernel"] + params[f"{path}/bias"]


def _lstm_sequence(params, cell, x_seq, units):
    """Keras `LSTM` (gates i, f, c, o) over x_seq `[b, t, u]` from the zero state."""
    kernel, recurrent, bias = (
        params[f"{cell}/{n}"] for n in ("kernel", "recurrent_kernel", "bias")
    )
    xw = x_seq @ kernel + bias  # [b, t, 4u]

    def step(carry, z_x):
        h, c = carry
        z = z_x + h @ recurrent
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), h

    zeros = jnp.zeros((x_seq.shape[0], units), x_seq.dtype)
    _, hs = jax.lax.scan(step, (zeros, zeros), jnp.swapaxes(xw, 0, 1))
    return jnp.swapaxes(hs, 0, 1)  # [b, t, u]


def _rnn_body(params, spec, module, x_seq):
    path = f"{PREFIX}/{module}"
    _, layers, _ = _rnn_modules(spec)[module]
    h = _dense(params, f"{path}/embed", x_seq)
    for i in range(layers):
        h = _lstm_sequence(params, f"{path}/lstm_{i}/lstm_cell", h, spec.rnn_size)
    return h, path


def _gaussian(params, spec, module, x_seq):
    h, path = _rnn_body(params, spec, module, x_seq)
    return _dense(params, f"{path}/mu", h), _dense(params, f"{path}/logvar", h)


def _fold(x):
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def _unfold(x, batch):
    return x.reshape(batch, -1, *x.shape[1:])


def loss_fn(params, stats, x, eps, spec: ModelSpec):
    """`compute_loss_terms(x, training=True)` of `svgpl_tf`'s SVG-LP (or SVG-FP).

    Args:
        params, stats: from `init_params` (or trained).
        x: frames `[b, T, 64, 64, c]` in [0, 1].
        eps: reparameterisation noise `[b, T-1, z_dim]`.
        spec: the model.

    Returns:
        `(loss, (terms, new_stats))`: the total (Eq. 1: MSE + beta * KL),
        the terms `{"mse", "kl", "loss"}`, and the BatchNorm moving averages
        after the step's encoder and decoder calls.
    """
    b, t = x.shape[:2]
    h, skips, new_enc = encode(params, stats, _fold(x), True)
    h = _unfold(h, b)  # [b, T, g]
    skips = [_unfold(s, b) for s in skips]  # [b, T, ...]
    h_prev, h_target = h[:, :-1], h[:, 1:]  # [b, T-1, g]
    mu_q, logvar_q = _gaussian(params, spec, "posterior", h_target)
    if spec.prior == "learned":
        mu_p, logvar_p = _gaussian(params, spec, "prior", h_prev)
    else:
        mu_p = logvar_p = jnp.zeros_like(mu_q)
    z = mu_q + jnp.exp(0.5 * logvar_q) * eps  # [b, T-1, z]
    body, path = _rnn_body(params, spec, "frame_predictor", jnp.concatenate([h_prev, z], -1))
    g_pred = jnp.tanh(_dense(params, f"{path}/output", body))  # [b, T-1, g]
    steps = np.arange(t - 1)
    src = steps if spec.last_frame_skip else np.minimum(steps, spec.n_past - 1)
    step_skips = [_fold(s[:, src]) for s in skips]  # [b*(T-1), ...]
    x_pred, new_dec = decode(params, stats, _fold(g_pred), step_skips, True)
    x_pred = _unfold(x_pred, b)  # [b, T-1, 64, 64, c]
    mse = jnp.sum(jnp.mean(jnp.square(x[:, 1:] - x_pred), axis=(0, 2, 3, 4)))
    var_q, var_p = jnp.exp(logvar_q), jnp.exp(logvar_p)
    kl = 0.5 * (logvar_p - logvar_q) + (var_q + jnp.square(mu_q - mu_p)) / (2 * var_p) - 0.5
    kl = jnp.mean(jnp.sum(kl, axis=(1, 2)))
    loss = mse + spec.beta * kl
    return loss, ({"mse": mse, "kl": kl, "loss": loss}, {**new_enc, **new_dec})


# ------------------------------------------------------------------ optimizer


def adam_init(params):
    zeros = {k: jnp.zeros_like(v) for k, v in params.items()}
    return {"m": zeros, "v": dict(zeros), "t": jnp.zeros([], jnp.int32)}


def adam_update(params, grads, state, lr, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras 3's `Adam` step (`alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)`)."""
    t = state["t"] + 1
    tf_ = t.astype(jnp.float32)
    alpha = lr * jnp.sqrt(1 - beta_2**tf_) / (1 - beta_1**tf_)
    m, v, new = {}, {}, {}
    for k, p in params.items():
        m[k] = state["m"][k] + (grads[k] - state["m"][k]) * (1 - beta_1)
        v[k] = state["v"][k] + (jnp.square(grads[k]) - state["v"][k]) * (1 - beta_2)
        new[k] = p - m[k] * alpha / (jnp.sqrt(v[k]) + epsilon)
    return new, {"m": m, "v": v, "t": t}


@functools.cache
def make_train_step(spec: ModelSpec, lr: float, beta_1: float = 0.9, epsilon: float = 1e-7):
    """A jitted `(params, stats, opt, x, eps) -> (params, stats, opt, terms)`,
    one per model and optimizer settings (so its compilations are kept)."""

    @jax.jit
    def train_step(params, stats, opt, x, eps):
        grads, (terms, new_stats) = jax.grad(loss_fn, has_aux=True)(params, stats, x, eps, spec)
        params, opt = adam_update(params, grads, opt, lr, beta_1=beta_1, epsilon=epsilon)
        return params, {**stats, **new_stats}, opt, terms

    return train_step
