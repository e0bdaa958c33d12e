"""Weight initialisation: Keras's, seeded per module, and the reference's.

`SeededLayers(seed, dtype)` makes the Keras layers of one module: each gets
the module's dtype policy, and each random initializer the next seed of
`random.Random(seed)`. So a module's initial weights are a function of its
seed, and building a model reads and changes no process-wide state (Keras's
global dtype policy, Python's `random`).

The reference SVG code (Denton & Fergus, 2018) initialises differently.
Keras initialises convolutions and Dense layers with Glorot-uniform and zero
biases, LSTMs with an orthogonal recurrent kernel and a forget-gate bias of
1. The reference SVG code instead draws every convolution and linear weight
from N(0, 0.02) with zero biases, every BatchNorm gamma from N(1, 0.02) with
a zero beta, and keeps PyTorch's default for its LSTM cells: every weight and
both bias vectors from U(-1/sqrt(H), 1/sqrt(H)). A Keras LSTM has one bias
vector, the sum of torch's two, so it gets the sum of two such draws.

`reference_init(model, seed)` overwrites a built model's weights that way.
Every draw comes from `numpy.random.default_rng((seed, i))` for the i-th
initialised weight, in the model's fixed layer order (`layer_walk.sublayers`),
so a seed gives the same weights on every machine.

Example:
    >>> model = SVGModel(g_dim=16, z_dim=2, rnn_size=16, n_past=2)
    >>> model.build()
    >>> reference_init(model, seed=0)  # number of weights set
    ...
"""

from __future__ import annotations

import random
from typing import Any

import keras
import numpy as np

from svgpl_tf.models.layer_walk import sublayers

# Standard deviation of the reference's N(0, 0.02) conv/linear and N(1, 0.02) BatchNorm draws.
INIT_STD = 0.02
# Keras layers whose kernel is drawn (Glorot-uniform, Keras's default).
_KERNEL_LAYERS = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)


def module_seeds(seed: int, count: int) -> list[int]:
    """`count` seeds drawn from `seed`, one per module, as `SeededLayers.seed` draws.

    Example:
        >>> make = SeededLayers(0, None)
        >>> module_seeds(0, 2) == [make.seed(), make.seed()]
        True
    """
    rng = random.Random(seed)
    return [rng.randint(1, 10**9) for _ in range(count)]


class SeededLayers:
    """Makes one module's Keras layers with its dtype policy and seeded initializers.

    Convolutions and Dense layers get a Glorot-uniform kernel (Keras's
    default) seeded with the next draw of `random.Random(seed)`; an LSTM gets
    its kernel, its orthogonal recurrent kernel and its own `seed` (Keras's
    dropout seed, unused here) the same way. Every layer gets `dtype`.

    Args:
        seed: the module's seed.
        dtype: the module's dtype policy (a name such as `"mixed_bfloat16"`
            or a `keras.DTypePolicy`).

    Example:
        >>> make = SeededLayers(seed=3, dtype="mixed_bfloat16")
        >>> dense = make(keras.layers.Dense, 4, name="head")
        >>> dense.compute_dtype, dense.kernel_initializer.seed == SeededLayers(3, "float32").seed()
        ('bfloat16', True)
    """

    def __init__(self, seed: int, dtype: Any):
        self._rng = random.Random(seed)
        self.dtype = dtype

    def seed(self) -> int:
        """The next seed, in [1, 1e9] as Keras draws its own."""
        return self._rng.randint(1, 10**9)

    def __call__(self, cls: type, *args, **kwargs) -> keras.layers.Layer:
        """`cls(*args, **kwargs)` with this module's dtype and seeded initializers."""
        if issubclass(cls, _KERNEL_LAYERS):
            kwargs.setdefault("kernel_initializer", keras.initializers.GlorotUniform(self.seed()))
        elif issubclass(cls, keras.layers.LSTM):
            kwargs.setdefault("kernel_initializer", keras.initializers.GlorotUniform(self.seed()))
            kwargs.setdefault(
                "recurrent_initializer", keras.initializers.Orthogonal(seed=self.seed())
            )
            kwargs.setdefault("seed", self.seed())
        return cls(*args, dtype=self.dtype, **kwargs)


def reference_init(model: keras.layers.Layer, seed: int) -> int:
    """Re-initialises the built `model`'s weights as the reference code does.

    Args:
        model: a built layer or model (e.g. an `SVGModel`).
        seed: the seed of every draw.

    Returns:
        The number of weight tensors set.
    """
    count = 0

    def assign(variable, value):
        nonlocal count
        variable.assign(np.asarray(value, np.float32).astype(variable.dtype))
        count += 1

    def rng():
        return np.random.default_rng((seed, count))

    for layer in sublayers(model):  # a fixed order: Keras's (see `layer_walk`)
        if isinstance(
            layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)
        ):
            assign(layer.kernel, rng().normal(0.0, INIT_STD, layer.kernel.shape))
            if layer.bias is not None:
                assign(layer.bias, np.zeros(layer.bias.shape))
        elif isinstance(layer, keras.layers.BatchNormalization):
            if layer.gamma is not None:
                assign(layer.gamma, rng().normal(1.0, INIT_STD, layer.gamma.shape))
            if layer.beta is not None:
                assign(layer.beta, np.zeros(layer.beta.shape))
        elif isinstance(layer, keras.layers.LSTMCell):
            bound = 1.0 / np.sqrt(layer.units)
            assign(layer.kernel, rng().uniform(-bound, bound, layer.kernel.shape))
            assign(
                layer.recurrent_kernel,
                rng().uniform(-bound, bound, layer.recurrent_kernel.shape),
            )
            if layer.use_bias:
                shape = layer.bias.shape
                draws = rng().uniform(-bound, bound, (2, *shape))  # torch's b_ih and b_hh
                assign(layer.bias, draws.sum(axis=0))
    return count
