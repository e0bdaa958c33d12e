"""Refits only the learned prior of a trained SVG-LP model, the rest frozen.

`prior_gap.py` found that the frame model, given the posterior's latents,
beats the all-black frame, and the prior's samples do not. This script
trains the prior p(z_t | x_1:t-1) alone against the frozen posterior
q(z_t | x_1:t) (Eq. 1's KL term; the other terms do not depend on the prior)
and writes its weights with the rest unchanged. Its inputs are:

- `teacher`: the encodings of the true frames, as in training;
- `rollout`: after the context, the encodings of the model's own frames,
  rolled out with posterior samples of the true clip, as the prior sees
  them when sampling.

Every 500 steps it prints the KL on 128 test clips, with either input, and
the best of 20 prior samples' uniform SSIM per predicted frame on the
first 64 test sequences (`prior_gap.py`'s protocol) beside the all-black
frame, and saves the weights. With FRESH_LAYERS, the trained prior is
replaced by a freshly initialised one of that many LSTM layers (the same
width), trained at LEARNING_RATE (5e-4 otherwise).

    PYTHONPATH=. python experiments/prior_refit.py pretrained/smmnist5k_svglp \
        /tmp/refit rollout 4000
    PYTHONPATH=. python experiments/prior_refit.py pretrained/smmnist5k_svglp \
        /tmp/refit3 teacher 4000 3 1e-3
"""

import dataclasses
import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

sys.path.insert(0, os.path.dirname(__file__))
import prior_gap  # noqa: E402

from svgpl_tf import runs  # noqa: E402
from svgpl_tf.data.pipeline import make_datasets  # noqa: E402
from svgpl_tf.evaluation import metrics  # noqa: E402

tfd = tfp.distributions
BATCH, SEED, PROBE_EVERY = 32, 0, 500


def main(
    model_dir: str, out_dir: str, mode: str, steps: int, layers: int = 0, learning_rate=5e-4
) -> None:
    model, config, _ = runs.restore_model(model_dir)
    if layers:  # the same model with a fresh prior of `layers` LSTM layers
        trained = model
        config = dataclasses.replace(config, prior_rnn_layers=layers)
        model = runs.build_model(config, with_losses=False)
        for name, module in trained.modules.items():
            if name != "prior":
                model.modules[name].set_weights(module.get_weights())
    n_past, horizon = config.n_past, config.eval_n_future
    train = iter(make_datasets(dataclasses.replace(config, batch_size=BATCH)).train)
    test = prior_gap.test_clips(config)
    probe = test[: prior_gap.NUM_SEQUENCES]
    optimizer = keras.optimizers.Adam(learning_rate)
    prior_vars = model.prior.trainable_variables
    noise = tf.random.Generator.from_seed(SEED)

    def kl_of(clips, rollout):
        h, skips = model.encode_frames(clips, training=False)  # [b, T, g]
        mu_q, logvar_q, _ = model.posterior(h[:, 1:])
        h_in = h[:, :-1]
        if rollout:
            eps = noise.normal(tf.shape(mu_q))
            posterior_draw = lambda j, mu_q, z_q, z_p: z_q  # noqa: E731
            h_in = prior_gap.rollout(model, clips, n_past, posterior_draw, eps=eps)[1]
        h_in = tf.stop_gradient(h_in)
        q = tfd.Normal(mu_q, tf.exp(0.5 * logvar_q))
        with tf.GradientTape() as tape:
            mu_p, logvar_p, _ = model.prior(h_in)
            p = tfd.Normal(mu_p, tf.exp(0.5 * logvar_p))
            kl = tf.reduce_mean(tf.reduce_sum(tfd.kl_divergence(q, p), [1, 2]))
        return kl, tape

    @tf.function
    def train_step(clips):
        kl, tape = kl_of(clips, mode == "rollout")
        optimizer.apply(tape.gradient(kl, prior_vars), prior_vars)
        return kl

    @tf.function
    def test_kl(clips, rollout):
        return kl_of(clips, rollout)[0]

    def report(step, seconds):
        kls = [
            float(test_kl(tf.constant(test[i : i + 64]), r))
            for r in (False, True)
            for i in (0, 128)
        ]
        samples = prior_gap.prior_samples(model, probe[:, :n_past], horizon)
        scores = metrics.ssim(samples, probe[:, n_past:][:, None]).numpy()
        best = prior_gap.best_of(scores)
        blank = metrics.ssim(np.zeros_like(probe[:, n_past:]), probe[:, n_past:]).numpy().mean(0)
        print(
            f"step {step} {seconds:.0f}s KL teacher {np.mean(kls[:2]):.1f} rollout "
            f"{np.mean(kls[2:]):.1f} | best of 20 "
            + " ".join(f"{v:.3f}" for v in best)
            + f" | mean {best.mean():.4f} | blank f15 {blank[-1]:.3f} margin "
            f"{(best - blank).min():+.3f}",
            flush=True,
        )
        model.save_weights(os.path.join(out_dir, f"step{step}.weights.h5"))

    os.makedirs(out_dir, exist_ok=True)
    start = time.time()
    report(0, 0)
    for step in range(1, steps + 1):
        clips = next(train)[:, : n_past + horizon]
        kl = train_step(clips)
        if step % 100 == 0:
            print(f"  step {step} train KL {float(kl):.1f} {time.time() - start:.0f}s", flush=True)
        if step % PROBE_EVERY == 0:
            report(step, time.time() - start)


if __name__ == "__main__":
    if len(sys.argv) not in (5, 7) or sys.argv[3] not in ("teacher", "rollout"):
        sys.exit(
            "usage: prior_refit.py MODEL_DIR OUT_DIR teacher|rollout STEPS "
            "[FRESH_LAYERS LEARNING_RATE]"
        )
    extra = (int(sys.argv[5]), float(sys.argv[6])) if len(sys.argv) == 7 else ()
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), *extra)
