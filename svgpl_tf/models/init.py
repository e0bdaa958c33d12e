"""The reference implementation's weight initialisation (Denton & Fergus, 2018).

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

import keras
import numpy as np

from svgpl_tf.models.layer_walk import sublayers

# Standard deviation of the reference's N(0, 0.02) conv/linear and N(1, 0.02) BatchNorm draws.
INIT_STD = 0.02


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
