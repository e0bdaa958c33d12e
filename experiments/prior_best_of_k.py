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

Every `PROBE_EVERY` steps it prints the best of 20 rollouts' uniform SSIM
per predicted frame on `prior_gap.py`'s 64 test sequences beside the
all-black frame, and writes the model, its prior trained, to
`OUT_DIR/stepN` (a folder `svgpl-evaluate --workdir` reads).

    PYTHONPATH=. python experiments/prior_best_of_k.py pretrained/smmnist5k_svglp \
        /tmp/best_of_4 4 2000
"""

import os
import sys
import time

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
import prior_gap  # noqa: E402

from svgpl_tf import runs  # noqa: E402
from svgpl_tf.evaluation import metrics  # noqa: E402

LEARNING_RATE, BATCH, SEED, PROBE_EVERY = 1e-4, 16, 0, 250


def main(model_dir: str, out_dir: str, k: int, steps: int) -> None:
    model, config, train, test = prior_gap.restore_with_data(model_dir, BATCH)
    n_past, horizon = config.n_past, config.eval_n_future
    probe = test[: prior_gap.NUM_SEQUENCES]
    truth = probe[:, n_past:]
    variables = model.prior.trainable_variables
    optimizer = keras.optimizers.Adam(LEARNING_RATE)
    optimizer.build(variables)
    noise = tf.random.Generator.from_seed(SEED)

    z_at = prior_gap.sampling_latents(n_past)

    @tf.function
    def train_step(clips):  # [b, T, h, w, c]
        tiled = tf.tile(clips, [k, 1, 1, 1, 1])  # [k * b, T, ...], rollout i of clip c at i * b + c
        with tf.GradientTape() as tape:
            frames, _ = prior_gap.rollout(
                model, tiled, n_past, z_at, noise=noise
            )  # [k * b, t, ...]
            mse = tf.reduce_mean(tf.square(frames - tiled[:, n_past:]), [1, 2, 3, 4])
            best = tf.reduce_min(tf.reshape(mse, [k, -1]), 0)  # [b]
            loss = tf.reduce_mean(best)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss, tf.reduce_mean(mse)

    blank = metrics.ssim(np.zeros_like(truth), truth).numpy().mean(0)
    print("blank     ", " ".join(f"{v:.3f}" for v in blank), flush=True)

    def report(step, seconds):
        best = prior_gap.prior_best_of(model, probe, n_past)
        print(f"step {step} {seconds:.0f}s | {prior_gap.probe_line(best, blank)}", flush=True)
        if step:  # the whole model, its prior trained: a folder `restore_model` reads
            runs.save_weights_only(model, config, os.path.join(out_dir, f"step{step}"), step)

    start = time.time()
    report(0, 0)
    for step in range(1, steps + 1):
        best, mean = train_step(tf.constant(next(train)[:, : n_past + horizon]))
        if step % 25 == 0:
            print(
                f"  step {step} best-of-{k} MSE {float(best):.4f}, mean {float(mean):.4f}, "
                f"{time.time() - start:.0f}s",
                flush=True,
            )
        if step % PROBE_EVERY == 0:
            report(step, time.time() - start)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: prior_best_of_k.py MODEL_DIR OUT_DIR K STEPS")
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
