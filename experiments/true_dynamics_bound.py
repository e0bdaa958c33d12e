"""What a perfect model would score: futures drawn from SM-MNIST's own dynamics.

The two-baseline rule asks a model's best of 100 samples to beat the
all-black frame in SSIM at every predicted frame. This script asks whether
that is within reach of any model: for each of the 256 mnist5k test
sequences (the evaluation's fixed split, seed 1234) it keeps the 5 context
frames and draws N futures from the renderer itself (`render_into` with a
`future_rng`: the same digits, positions and velocities, fresh random
bounces), which is the true distribution of the future given the clip. It
scores them with the evaluation's protocol (uniform SSIM and PSNR per
predicted frame, the best sample by mean SSIM) beside the all-black frame and
copy-last, for best of 1, 10 and 100. A drawn future that is exactly right
scores PSNR's cap (`metrics.PSNR_MAX_DB`, 100 dB), so for the draws the
report adds the median PSNR and the share of sequences whose best sample is
the exact frame:

    pip install --no-deps -r requirements-mnist5k.txt   # the digits
    PYTHONPATH=. python experiments/true_dynamics_bound.py \\
        experiments/results/smmnist5k_5to10/true_dynamics_bound.json

A model can in principle do better than these draws at best of N (by
spreading its samples more evenly over the bounces than the data does), but
a model that samples the data's own distribution does exactly this well.
"""

import json
import sys
import time

import numpy as np

from svgpl_tf.data import digits
from svgpl_tf.data.pipeline import TEST_SEED
from svgpl_tf.data.sprite_motion import IMAGE_SIZE, render_into
from svgpl_tf.evaluation import metrics

N_PAST, N_FUTURE, NUM_SEQUENCES = 5, 10, 256
NUM_SAMPLES, SAMPLE_SEED = 100, 0
BEST_OF = (1, 10, 100)


def true_futures(sprites: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Test sequence `index` and NUM_SAMPLES futures drawn from its dynamics.

    Returns:
        `(clip [T, h, w, 1], futures [s, n_future, h, w, 1])`.
    """
    shape = (N_PAST + N_FUTURE, IMAGE_SIZE, IMAGE_SIZE, 1)
    clip = np.zeros(shape, np.float32)  # [t, h, w, c]
    render_into(clip, np.random.default_rng([TEST_SEED, index]), sprites, 2)
    futures = np.zeros((NUM_SAMPLES, *shape), np.float32)  # [s, t, h, w, c]
    for k, out in enumerate(futures):
        render_into(
            out,
            np.random.default_rng([TEST_SEED, index]),
            sprites,
            2,
            future_rng=np.random.default_rng([SAMPLE_SEED, index, k]),
            future_from=N_PAST,
        )
    if not (futures[:, :N_PAST] == clip[:N_PAST]).all():
        raise AssertionError("the drawn futures changed the context frames")
    return clip, futures[:, N_PAST:]


def frame_scores(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Uniform SSIM and PSNR of each frame: pred [s, t, h, w, c] against truth
    [t, h, w, c] -> two [s, t] arrays."""
    return metrics.ssim(pred, truth).numpy(), metrics.psnr(pred, truth).numpy()


def main(output: str) -> None:
    start = time.time()
    sprites = digits.load_sprites("mnist5k", "test")
    ssim, psnr, blank, last = [], [], [], []  # per sequence
    for i in range(NUM_SEQUENCES):
        clip, futures = true_futures(sprites, i)
        truth = clip[N_PAST:]  # [t, h, w, c]
        s, p = frame_scores(futures, truth)  # [s, t]
        ssim.append(s)
        psnr.append(p)
        baselines = np.stack(
            [np.zeros_like(truth), np.repeat(clip[N_PAST - 1 : N_PAST], N_FUTURE, 0)]
        )
        b, bp = frame_scores(baselines, truth)  # [2, t]
        blank.append((b[0], bp[0]))
        last.append((b[1], bp[1]))
    ssim, psnr = np.stack(ssim), np.stack(psnr)  # [n, s, t]
    rows = {}
    for n in BEST_OF:
        best, _ = metrics.rank_samples(ssim[:, :n])  # [n_seq]
        best_psnr = metrics.take_sample(psnr[:, :n], best).numpy()  # [n_seq, t]
        rows[f"true dynamics, best of {n}"] = {
            "ssim": metrics.take_sample(ssim[:, :n], best).numpy().mean(0).tolist(),
            "psnr": best_psnr.mean(0).tolist(),
            "psnr_median": np.median(best_psnr, 0).tolist(),
            "exact_share": (best_psnr >= metrics.PSNR_MAX_DB).mean(0).tolist(),
        }
    for name, values in (("all-black frame", blank), ("copy last frame", last)):
        rows[name] = {
            "ssim": np.mean([v[0] for v in values], 0).tolist(),
            "psnr": np.mean([v[1] for v in values], 0).tolist(),
        }
    report = {
        "protocol": f"{NUM_SEQUENCES} mnist5k test sequences (seed {TEST_SEED}), {N_PAST} -> "
        f"{N_FUTURE} frames, uniform SSIM, the best sample by mean SSIM; futures drawn "
        f"with seeds [{SAMPLE_SEED}, sequence, sample]",
        "frames": list(range(N_PAST + 1, N_PAST + N_FUTURE + 1)),
        "rows": rows,
        "seconds": round(time.time() - start, 1),
    }
    with open(output, "w") as f:
        json.dump(report, f, indent=1)
    for name, row in rows.items():
        print(f"{name:28s} SSIM " + " ".join(f"{v:.3f}" for v in row["ssim"]))
        print(f"{'':28s} PSNR " + " ".join(f"{v:.2f}" for v in row["psnr"]))
        if "exact_share" in row:
            print(f"{'':28s} exact " + " ".join(f"{v:.2f}" for v in row["exact_share"]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: true_dynamics_bound.py OUTPUT_JSON")
    main(sys.argv[1])
