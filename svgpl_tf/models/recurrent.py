"""The recurrent modules of SVG: frame predictor, posterior and learned prior.

Each module is a linear embedding, a stack of Keras LSTM cells and an output
head, as in the reference `lstm` and `gaussian_lstm` modules of Denton & Fergus
(2018). Recurrent state is never kept on a layer: every call takes the state
in and returns the new state, and the zero state is built for whatever batch
size arrives. Two entry points share the same weights:

- `call(x_seq, state)` runs a whole sequence `[batch, time, features]`
  (teacher forcing: the training step and the context warm-up), through
  `keras.layers.LSTM`, which uses the fused kernel where one exists;
- `step(x, state)` advances one time step `[batch, features]` (autoregressive
  sampling), through the same layers' cells.

A state is a tuple with one `(h, c)` pair per LSTM layer.

Parameter counts differ from the PyTorch reference by `4 * units` per LSTM
layer: a Keras LSTM cell has one bias vector where `torch.nn.LSTMCell` has two
(`b_ih` and `b_hh`), which are redundant.
"""

from __future__ import annotations

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

from svgpl_tf.models.init import SeededLayers

tfd = tfp.distributions


class _LSTMStack(layers.Layer):
    """Embedding Dense -> `num_layers` LSTMs; the shared body of both modules."""

    def __init__(
        self, input_dim: int, units: int = 256, num_layers: int = 1, seed: int = 0, **kwargs
    ):
        super().__init__(**kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        self.input_dim = input_dim
        self.units = units
        self.num_layers = num_layers
        self.seed = seed
        # Makes this module's layers, with its dtype policy and seeds; the
        # heads of the subclasses draw after the body.
        self._make = SeededLayers(seed, self.dtype_policy)
        self.embed = self._make(layers.Dense, units, name="embed")
        self.lstms = [
            self._make(
                layers.LSTM, units, return_sequences=True, return_state=True, name=f"lstm_{i}"
            )
            for i in range(num_layers)
        ]

    def build(self, input_shape):
        self.embed.build((None, self.input_dim))
        for lstm in self.lstms:
            lstm.build((None, None, self.units))

    def zero_state(self, batch_size):
        """The initial state for `batch_size` sequences (a tensor or int)."""
        zeros = tf.zeros(tf.stack([batch_size, self.units]), dtype=self.compute_dtype)
        return tuple((zeros, zeros) for _ in range(self.num_layers))

    def _body_sequence(self, x_seq, state):
        if state is None:
            state = self.zero_state(tf.shape(x_seq)[0])
        h = self.embed(x_seq)  # [batch, time, units]
        new_state = []
        for lstm, (h0, c0) in zip(self.lstms, state):
            h, h_last, c_last = lstm(h, initial_state=[h0, c0])
            new_state.append((h_last, c_last))
        return h, tuple(new_state)  # [batch, time, units]

    def _body_step(self, x, state):
        if state is None:
            state = self.zero_state(tf.shape(x)[0])
        h = self.embed(x)  # [batch, units]
        new_state = []
        for lstm, (h0, c0) in zip(self.lstms, state):
            h, (h1, c1) = lstm.cell(h, [h0, c0])
            new_state.append((h1, c1))
        return h, tuple(new_state)  # [batch, units]

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "units": self.units,
            "num_layers": self.num_layers,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="svgpl_tf")
class FramePredictor(_LSTMStack):
    """Deterministic LSTM predictor: `[h_{t-1}, z_t] -> g_t` (tanh output).

    Args:
        input_dim: size of the input vector (g_dim + z_dim).
        output_dim: size of the predicted frame embedding (g_dim).
        units: LSTM width.
        num_layers: number of stacked LSTM layers.
        seed: seed of the initial weights (see `SeededLayers`).

    Example:
        >>> pred = FramePredictor(input_dim=138, output_dim=128, num_layers=2)
        >>> g, state = pred(keras.ops.zeros([4, 7, 138]))
        >>> tuple(g.shape), len(state)
        ((4, 7, 128), 2)
    """

    def __init__(
        self, input_dim: int, output_dim: int, units: int = 256, num_layers=2, seed=0, **kwargs
    ):
        super().__init__(input_dim, units, num_layers, seed, **kwargs)
        self.output_dim = output_dim
        self.head = self._make(layers.Dense, output_dim, activation="tanh", name="output")

    def build(self, input_shape):
        super().build(input_shape)
        self.head.build((None, self.units))

    def call(self, x_seq, state=None):
        """`x_seq` `[batch, time, input_dim]` -> (`[batch, time, output_dim]`, state)."""
        h, state = self._body_sequence(x_seq, state)
        return self.head(h), state

    def step(self, x, state=None):
        """`x` `[batch, input_dim]` -> (`[batch, output_dim]`, state)."""
        h, state = self._body_step(x, state)
        return self.head(h), state

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim}


@keras.saving.register_keras_serializable(package="svgpl_tf")
class GaussianLSTM(_LSTMStack):
    """LSTM whose heads give a diagonal Gaussian over z_t.

    Used for the inference network q(z_t | x_1:t) and the learned prior
    p(z_t | x_1:t-1) of SVG-LP (Sections 2.1 and 2.2 of the SVG-PL paper).

    Args:
        input_dim: size of the input vector (g_dim).
        z_dim: size of the latent variable.
        units: LSTM width.
        num_layers: number of stacked LSTM layers.
        seed: seed of the initial weights (see `SeededLayers`).

    Call returns `(mu, logvar, state)`; `distribution(mu, logvar)` turns the
    first two into a `tfp.distributions.Normal`.

    Example:
        >>> post = GaussianLSTM(input_dim=128, z_dim=10)
        >>> mu, logvar, state = post(keras.ops.zeros([4, 7, 128]))
        >>> tuple(mu.shape)
        (4, 7, 10)
    """

    def __init__(
        self, input_dim: int, z_dim: int, units: int = 256, num_layers=1, seed=0, **kwargs
    ):
        super().__init__(input_dim, units, num_layers, seed, **kwargs)
        self.z_dim = z_dim
        self.mu_net = self._make(layers.Dense, z_dim, name="mu")
        self.logvar_net = self._make(layers.Dense, z_dim, name="logvar")

    def build(self, input_shape):
        super().build(input_shape)
        self.mu_net.build((None, self.units))
        self.logvar_net.build((None, self.units))

    def call(self, x_seq, state=None):
        """`x_seq` `[batch, time, input_dim]` -> (mu, logvar `[batch, time, z]`, state)."""
        h, state = self._body_sequence(x_seq, state)
        return self.mu_net(h), self.logvar_net(h), state

    def step(self, x, state=None):
        """`x` `[batch, input_dim]` -> (mu, logvar `[batch, z]`, state)."""
        h, state = self._body_step(x, state)
        return self.mu_net(h), self.logvar_net(h), state

    @staticmethod
    def reparameterize(mu, logvar, eps):
        """z = mu + exp(logvar / 2) * eps: a draw of `distribution(mu, logvar)`
        from standard normal noise `eps`, differentiable in mu and logvar."""
        return mu + tf.exp(0.5 * logvar) * tf.cast(eps, mu.dtype)

    @staticmethod
    def distribution(mu, logvar):
        """N(mu, exp(logvar / 2)): the Gaussian the heads parameterise."""
        mu = tf.cast(mu, tf.float32)
        return tfd.Normal(loc=mu, scale=tf.exp(0.5 * tf.cast(logvar, tf.float32)))

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim}
