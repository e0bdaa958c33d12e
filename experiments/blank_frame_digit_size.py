"""The all-black frame at SRVP's SM-MNIST protocol, with our digits and with 28x28 ones.

SRVP's and SLAMP's SM-MNIST tables (5 context -> 20 predicted frames, best of
100, Gaussian SSIM) render MNIST digits at their 28x28 size; this package, as
the reference SVG code, scales them to 32x32 sprites. Bigger digits put more
ink in a frame, and an all-black frame scores lower on them. This script
scores the blank frame on both renderings of the same 256 test sequences
(the mnist5k test digits, the evaluation's fixed split: seed 1234), so that
the published figures can be read against it:

    pip install --no-deps -r requirements-mnist5k.txt   # the digits
    PYTHONPATH=. python experiments/blank_frame_digit_size.py \
        experiments/results/smmnist5k_5to10/blank_frame_digit_size.json

The 28x28 rendering pads each raw digit with 2 black pixels to the 32x32
sprite the renderer moves, so the trajectories are those of the 32x32 split
and only the ink differs. It approximates SRVP's own renderer (whose digits
move in a 36-pixel range, not 32), not a copy of it.
"""

import json
import sys

import numpy as np
import tensorflow as tf

from svgpl_tf.choices import SPRITE_SIZE
from svgpl_tf.data import digits, mnist, moving_sprites
from svgpl_tf.evaluation import metrics

N_PAST, N_FUTURE, NUM_SEQUENCES = 5, 20, 256


def blank_scores(sprites: np.ndarray) -> dict[str, float]:
    """Blank-frame SSIM (both windows) and PSNR over the predicted frames.

    Args:
        sprites: `[N, 32, 32]` test sprites in [0, 1].

    Returns:
        Means over 256 sequences x 20 predicted frames, and the frames' ink
        (mean pixel value).
    """
    clips = moving_sprites.test_dataset(
        sprites, num_sequences=NUM_SEQUENCES, seq_len=N_PAST + N_FUTURE, batch_size=32
    )
    truth = tf.concat([c[:, N_PAST:] for c in clips], 0)  # [n, T, h, w, 1]
    frames = tf.reshape(truth, [-1, *truth.shape[2:]])  # [n * T, h, w, 1]
    blank = tf.zeros_like(frames)
    return {
        "ssim_uniform": float(tf.reduce_mean(metrics.ssim(blank, frames, mode="uniform"))),
        "ssim_gaussian": float(tf.reduce_mean(metrics.ssim(blank, frames, mode="gaussian"))),
        "psnr": float(tf.reduce_mean(metrics.psnr(blank, frames))),
        "ink": float(tf.reduce_mean(frames)),
    }


def main(output: str) -> None:
    images, _ = mnist.load_mnist5k("test", path=mnist.mnist5k_path())  # [1000, 28, 28]
    raw = images.astype(np.float32) / (255.0 if images.max() > 1 else 1.0)
    pad = (SPRITE_SIZE - raw.shape[1]) // 2
    renderings = {
        "32x32 sprites (this package, the reference SVG code)": digits.load_sprites(
            "mnist5k", "test"
        ),
        "28x28 digits (SRVP, SLAMP)": np.pad(raw, ((0, 0), (pad, pad), (pad, pad))),
    }
    report = {
        "protocol": {
            "n_past": N_PAST,
            "n_future": N_FUTURE,
            "num_sequences": NUM_SEQUENCES,
            "test_split_seed": 1234,
            "digits": "mnist5k test (1,000)",
        },
        "blank_frame": {name: blank_scores(s) for name, s in renderings.items()},
    }
    for name, scores in report["blank_frame"].items():
        print(
            f"{name}: SSIM {scores['ssim_gaussian']:.4f} (Gaussian), "
            f"{scores['ssim_uniform']:.4f} (uniform), PSNR {scores['psnr']:.2f} dB, "
            f"ink {scores['ink']:.4f}"
        )
    with open(output, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: blank_frame_digit_size.py OUTPUT.json")
    main(sys.argv[1])
