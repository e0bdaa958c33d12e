"""Trains only the learned prior for the best of K of its own rollouts.

`prior_refit.py` fitted the prior to the posterior (Eq. 1's KL) and the
samples did not improve: the posterior's latents steer a rollout back onto
the true clip at every step, which no prior can. This script asks the prior
for what the evaluation scores instead. For each training clip it rolls the
frozen frame model out K times on its own frames with the prior's draws
(the context's latents from the posterior, as sampling does), and
minimises the pixel MSE of the best of the K rollouts (the best-of-many-
samples objective of Bhattacharyya et al., CVPR 2018), backpropagated
through the frozen frame predictor, decoder and encoder into the prior
alone. The prior then no longer approximates the posterior (Eq. 1's KL is
not its objective): it proposes the latents that the model's own rollouts
need, from training clips only.

Every 250 steps (`prior_gap.PROBE_EVERY`) it prints the best of 20
rollouts' uniform SSIM per predicted frame on `prior_gap.py`'s 64 test
sequences beside the all-black frame, and writes the model, its prior trained, to
`OUT_DIR/stepN` (a folder `svgpl-evaluate --workdir` reads).

    PYTHONPATH=. python experiments/prior_best_of_k.py pretrained/smmnist5k_svglp \
        /tmp/best_of_4 4 2000
"""

import os
import sys

import keras
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
import prior_gap  # noqa: E402

LEARNING_RATE, BATCH, SEED = 1e-4, 16, 0


def main(model_dir: str, out_dir: str, k: int, steps: int) -> None:
    model, config, train, test = prior_gap.restore_with_data(model_dir, BATCH)
    n_past, horizon = config.n_past, config.eval_n_future
    probe = test[: prior_gap.NUM_SEQUENCES]
    variables = model.prior.trainable_variables
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(variables)
    noise = tf.random.Generator.from_seed(SEED)

    z_at = prior_gap.sampling_latents(n_past)

    @tf.function
    def train_step(clips):  # [b, T, h, w, c]
        truth = tf.tile(clips[:, n_past:], [k, 1, 1, 1, 1])  # rollout i of clip c: i * b + c
        with tf.GradientTape() as tape:
            frames, _ = prior_gap.rollout(
                model, clips, n_past, z_at, noise=noise, repeats=k
            )  # [k * b, t, h, w, c]
            mse = tf.reduce_mean(tf.square(frames - truth), [1, 2, 3, 4])
            best = tf.reduce_min(tf.reshape(mse, [k, -1]), 0)  # [b]
            loss = tf.reduce_mean(best)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss, tf.reduce_mean(mse)

    def step_fn():
        return train_step(tf.constant(next(train)[:, : n_past + horizon]))

    def describe(outputs):
        best, mean = outputs
        return f"best-of-{k} MSE {float(best):.4f}, mean {float(mean):.4f}"

    prior_gap.train_with_probes(model, config, probe, out_dir, steps, step_fn, describe)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: prior_best_of_k.py MODEL_DIR OUT_DIR K STEPS")
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
