"""Adam with per-variable learning-rate multipliers, and a linear warm-up.

The reference's `torch.nn.LSTMCell` has two bias vectors, `b_ih` and `b_hh`,
that receive the same gradient and so the same Adam step: their sum, the
only thing the cell computes with, moves twice as fast as one bias would.
A Keras LSTM cell has a single bias; giving it a learning-rate multiplier of
2 reproduces the reference's dynamics exactly (each of torch's two biases
has the same moments as the single one).

`LinearWarmup` raises the learning rate from 0 over the first steps. A warm
start (`--init_from`) restores weights but not Adam's moments; without a
warm-up, Adam's first bias-corrected steps move every weight by about the
full learning rate, whatever its gradient's size.

Example:
    >>> opt = ScaledAdam(learning_rate=2e-3, lr_multipliers={"svg/lstm_cell/bias": 2.0})
    >>> round(float(LinearWarmup(2e-3, warmup_steps=4)(1)), 6)
    0.001
"""

from __future__ import annotations

import keras
import tensorflow as tf

from svgpl_tf.models.layer_walk import sublayers


@keras.saving.register_keras_serializable(package="svgpl_tf")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """`peak * min(1, (step + 1) / warmup_steps)`: the learning rate of the
    optimizer's step `step` (0-based), full from step `warmup_steps - 1` on.

    Args:
        peak: the learning rate after the warm-up.
        warmup_steps: the number of steps of the rise, >= 1.
    """

    def __init__(self, peak: float, warmup_steps: int):
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}.")
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        fraction = (tf.cast(step, tf.float32) + 1.0) / float(self.warmup_steps)
        return self.peak * tf.minimum(1.0, fraction)

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


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
