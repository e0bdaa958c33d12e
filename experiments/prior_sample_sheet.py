"""A sheet of two models' best rollouts beside the truth, frames 6-15.

For each of the first 8 test sequences: the true predicted frames, then the
best of 20 rollouts (by mean uniform SSIM, `prior_gap.prior_best_of`'s
sampling and seeds) of each model, one row each, white lines between the
sequences.

    PYTHONPATH=. python experiments/prior_sample_sheet.py pretrained/smmnist5k_svglp \
        OTHER_MODEL_DIR sheet.png
"""

import os
import sys

import numpy as np
import PIL.Image
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
import prior_gap  # noqa: E402

from svgpl_tf import runs  # noqa: E402
from svgpl_tf.evaluation import metrics  # noqa: E402

NUM_SEQUENCES = 8


def best_rollouts(model_dir: str) -> tuple[np.ndarray, np.ndarray]:
    """`(truth, best)`, each `[NUM_SEQUENCES, t, h, w, c]`."""
    model, config, _ = runs.restore_model(model_dir)
    n_past = config.n_past
    clips = prior_gap.test_clips(config, NUM_SEQUENCES)
    z_at = prior_gap.sampling_latents(n_past)
    frames = np.stack(
        [
            prior_gap.rollout(model, tf.constant(clips), n_past, z_at, prior_gap.SEED + s)[0]
            for s in range(prior_gap.NUM_SAMPLES)
        ],
        1,
    )  # [b, s, t, h, w, c]
    best, _ = metrics.rank_samples(metrics.ssim(frames, clips[:, n_past:][:, None]).numpy())
    return clips[:, n_past:], frames[np.arange(len(clips)), best.numpy()]


def main(first: str, second: str, output: str) -> None:
    truth, a = best_rollouts(first)
    _, b = best_rollouts(second)
    rows = []
    for i in range(NUM_SEQUENCES):
        rows += [np.concatenate(list(r[i]), 1) for r in (truth, a, b)]
        rows.append(np.ones_like(rows[-1][:4]))
    sheet = np.concatenate(rows, 0)[..., 0]  # [rows * h, t * w]
    PIL.Image.fromarray((sheet * 255).clip(0, 255).astype(np.uint8)).save(output)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: prior_sample_sheet.py MODEL_DIR OTHER_MODEL_DIR OUTPUT_PNG")
    main(*sys.argv[1:])
