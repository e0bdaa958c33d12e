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
        super().build(var_list)
        # update_step may receive the backend's variable, not the Keras one:
        # key the factors the way the optimizer keys its slots.
        self._factors = {
            self._var_key(v): self.lr_multipliers[v.path]
            for v in var_list
            if v.path in self.lr_multipliers
        }

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factors.get(self._var_key(variable))
        if factor is not None and factor != 1.0:
            learning_rate = learning_rate * factor
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        return {**super().get_config(), "lr_multipliers": dict(self.lr_multipliers)}


def lstm_bias_paths(model: keras.layers.Layer) -> list[str]:
    """The paths of every LSTM cell's bias under `model` (built)."""
    cells = model._flatten_layers(include_self=False, recursive=True)
    return [
        layer.bias.path
        for layer in cells
        if isinstance(layer, keras.layers.LSTMCell) and layer.use_bias
    ]
