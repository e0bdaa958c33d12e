"""Fits a mixture-of-Gaussians prior to a trained SVG-LP model, the rest frozen.

`prior_gap.py` found that the samples of the shipped models beat the
all-black frame when the steps after a bounce get the posterior's latent,
even with the prior's draws everywhere else. At a bounce the data draws a new
speed; the posterior codes each outcome somewhere in z, and one Gaussian
that covers them all puts little mass on any. This script replaces the
learned prior by a mixture of K diagonal Gaussians over z_t, with the
trained prior's embedding and LSTM and its heads repeated K times (each
component's mean offset by a seeded draw), and trains it alone on the
cross-entropy E_q[-log p(z_t | x_1:t-1)] against the frozen posterior of the
true clip (Eq. 1's KL term less q's entropy, which does not depend on p).

Every `PROBE_EVERY` steps it prints the KL (a Monte Carlo estimate) on 256
test clips and the best of 20 rollouts with the mixture's draws, uniform SSIM
per predicted frame on `prior_gap.py`'s 64 test sequences, beside the same
rollouts with the trained Gaussian prior and the all-black frame.

    PYTHONPATH=. python experiments/mixture_prior.py pretrained/smmnist5k_svglp 8 3000
"""

import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from keras import layers

sys.path.insert(0, os.path.dirname(__file__))
import prior_gap  # noqa: E402

from svgpl_tf.evaluation import metrics  # noqa: E402
from svgpl_tf.models.recurrent import _LSTMStack  # noqa: E402

tfd = tfp.distributions
LEARNING_RATE, BATCH, SEED, PROBE_EVERY, Q_DRAWS, SPREAD = 5e-4, 32, 0, 500, 4, 0.5


class MixturePrior(_LSTMStack):
    """LSTM whose heads give a mixture of `components` diagonal Gaussians over z_t."""

    def __init__(self, input_dim, z_dim, components, units, num_layers=1, seed=0, **kwargs):
        super().__init__(input_dim, units, num_layers, seed, **kwargs)
        self.z_dim, self.components = z_dim, components
        self.mu_net = self._make(layers.Dense, z_dim * components, name="mu")
        self.logvar_net = self._make(layers.Dense, z_dim * components, name="logvar")
        self.logit_net = self._make(layers.Dense, components, name="logits")

    def build(self, input_shape):
        super().build(input_shape)
        for head in (self.mu_net, self.logvar_net, self.logit_net):
            head.build((None, self.units))

    def heads(self, h):
        """`h [..., units]` -> (mu, logvar `[..., K, z]`, logits `[..., K]`)."""
        shape = tf.concat([tf.shape(h)[:-1], [self.components, self.z_dim]], 0)
        mu = tf.reshape(self.mu_net(h), shape)
        return mu, tf.reshape(self.logvar_net(h), shape), self.logit_net(h)

    @staticmethod
    def distribution(mu, logvar, logits):
        return tfd.MixtureSameFamily(
            tfd.Categorical(logits=logits),
            tfd.Independent(tfd.Normal(mu, tf.exp(0.5 * logvar)), 1),
        )

    def call(self, x_seq, state=None):
        h, state = self._body_sequence(x_seq, state)
        return self.distribution(*self.heads(h)), state

    def step(self, x, state=None):
        h, state = self._body_step(x, state)
        return self.heads(h), state


def from_gaussian(prior, components: int, seed: int) -> MixturePrior:
    """A mixture prior that starts as `prior` (a `GaussianLSTM`) repeated, each
    component's mean bias moved by `SPREAD` standard normal draws."""
    mixture = MixturePrior(
        prior.input_dim, prior.z_dim, components, prior.units, prior.num_layers, seed
    )
    mixture.build((None, None, prior.input_dim))
    mixture.embed.set_weights(prior.embed.get_weights())
    for ours, theirs in zip(mixture.lstms, prior.lstms):
        ours.set_weights(theirs.get_weights())
    offsets = SPREAD * np.random.default_rng(seed).standard_normal(components * prior.z_dim)
    for ours, theirs, shift in (
        (mixture.mu_net, prior.mu_net, offsets),
        (mixture.logvar_net, prior.logvar_net, 0),
    ):
        kernel, bias = theirs.get_weights()
        ours.set_weights([np.tile(kernel, [1, components]), np.tile(bias, components) + shift])
    return mixture


def mixture_draw(mixture, seed: int):
    """`prior_gap.rollout`'s `prior_draw` for the mixture: the component from a
    stateless categorical draw keyed by (seed, step), then mu + sigma * eps."""

    def draw(h_prev, state, eps, j):
        (mu, logvar, logits), state = mixture.step(h_prev, state)  # [b, K, z], [b, K]
        k = tf.random.stateless_categorical(logits, 1, [seed, j])[:, 0]  # [b]
        mu, logvar = tf.gather(mu, k, batch_dims=1), tf.gather(logvar, k, batch_dims=1)
        return mu + tf.exp(0.5 * logvar) * eps, state

    return draw


def main(model_dir: str, components: int, steps: int) -> None:
    model, config, train, test = prior_gap.restore_with_data(model_dir, BATCH)
    n_past, horizon = config.n_past, config.eval_n_future
    probe = test[: prior_gap.NUM_SEQUENCES]
    truth = probe[:, n_past:]
    mixture = from_gaussian(model.prior, components, SEED)
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(mixture.trainable_variables)
    noise = tf.random.Generator.from_seed(SEED)

    @tf.function
    def cross_entropy(clips, train_step):
        h, _ = model.encode_frames(clips, training=False)  # [b, T, g]
        mu_q, logvar_q, _ = model.posterior(h[:, 1:])  # [b, T-1, z]
        q = tfd.Independent(tfd.Normal(mu_q, tf.exp(0.5 * logvar_q)), 1)
        z = q.mean() + q.stddev() * noise.normal(tf.concat([[Q_DRAWS], tf.shape(mu_q)], 0))
        with tf.GradientTape() as tape:
            p, _ = mixture(tf.stop_gradient(h[:, :-1]))
            loss = -tf.reduce_mean(tf.reduce_sum(p.log_prob(z), -1))  # [draws, b, T-1] -> nats
        if train_step:
            variables = mixture.trainable_variables
            optimizer.apply(tape.gradient(loss, variables), variables)
        return loss - tf.reduce_mean(tf.reduce_sum(q.entropy(), -1))  # KL(q || p), estimated

    def best_of_20(prior_draw_of):
        return prior_gap.prior_best_of(model, probe, n_past, prior_draw_of)

    blank = metrics.ssim(np.zeros_like(truth), truth).numpy().mean(0)
    gaussian = best_of_20(lambda s: None)
    print("blank     ", " ".join(f"{v:.3f}" for v in blank))
    print("gaussian  ", " ".join(f"{v:.3f}" for v in gaussian), f"| mean {gaussian.mean():.4f}")

    def report(step, seconds):
        kl = np.mean(
            [float(cross_entropy(tf.constant(test[i : i + 64]), False)) for i in range(0, 256, 64)]
        )
        best = best_of_20(lambda s: mixture_draw(mixture, SEED + s))
        print(
            f"step {step} {seconds:.0f}s KL {kl:.1f} | {prior_gap.probe_line(best, blank)}",
            flush=True,
        )

    start = time.time()
    report(0, 0)
    for step in range(1, steps + 1):
        loss = cross_entropy(next(train)[:, : n_past + horizon], True)
        if step % 100 == 0:
            print(
                f"  step {step} train KL {float(loss):.1f} {time.time() - start:.0f}s", flush=True
            )
        if step % PROBE_EVERY == 0:
            report(step, time.time() - start)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: mixture_prior.py MODEL_DIR COMPONENTS STEPS")
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
