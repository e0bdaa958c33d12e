"""Adam with per-variable learning-rate multipliers.

The reference's `torch.nn.LSTMCell` has two bias vectors, `b_ih` and `b_hh`,
that receive the same gradient and so the same Adam step: their sum, the
only thing the cell computes with, moves twice as fast as one bias would.
A Keras LSTM cell has a single bias; giving it a learning-rate multiplier of
2 reproduces the reference's dynamics exactly (each of torch's two biases
has the same moments as the single one).

Example:
    >>> opt = ScaledAdam(learning_rate=2e-3, lr_multipliers={"svg/lstm_cell/bias": 2.0})
"""

from __future__ import annotations

import keras
import tensorflow as tf

from svgpl_tf.models.layer_walk import sublayers


@keras.saving.register_keras_serializable(package="svgpl_tf")
class ScaledAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam` whose step for some variables is scaled.

    Args:
        lr_multipliers: `{variable.path: factor}`; other variables take the
            plain learning rate.
        **kwargs: those of `keras.optimizers.Adam`.
    """

    def __init__(self, lr_multipliers: dict[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.lr_multipliers = {str(k): float(v) for k, v in (lr_multipliers or {}).items()}

    def build(self, var_list):
        """Creates the slots and maps each multiplied variable to its factor.

        `update_step` receives the backend's `tf.Variable` (`variable.value`),
        and under a strategy each replica's copy of it, not the Keras variable
        and its `path`: the factors are keyed by those variables' `ref()`.
        The optimizer is built in its strategy's scope (as Keras requires for
        its slots), where `experimental_local_results` lists the copies.
        """
        super().build(var_list)
        strategy = tf.distribute.get_strategy()
        self._factors = {
            local.ref(): self.lr_multipliers[v.path]
            for v in var_list
            if v.path in self.lr_multipliers
            for local in strategy.experimental_local_results(v.value)
        }

    def update_step(self, gradient, variable, learning_rate):
        backend = variable.value if isinstance(variable, keras.Variable) else variable
        factor = self._factors.get(backend.ref())
        if factor is not None and factor != 1.0:
            learning_rate = learning_rate * factor
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": dict(self.lr_multipliers)}


def lstm_bias_paths(model: keras.layers.Layer) -> list[str]:
    """The paths of every LSTM cell's bias under `model` (built)."""
    return [
        layer.bias.path
        for layer in sublayers(model)
        if isinstance(layer, keras.layers.LSTMCell) and layer.use_bias
    ]
