"""Where a model's SSIM goes against the all-black frame: faint background or misplaced digits.

SSIM punishes a faint grey where the truth is black far more than squared
error does (its luminance term on a black window is C1 / (mu^2 + C1): 0.2 at
a mean of 0.02), and an SM-MNIST frame is about 88% black. So a model can
beat the blank frame in PSNR and lose to it in SSIM through haze alone. This
script measures how much of the loss that explains: on the first test
sequences, best of N by mean SSIM, per predicted frame, it reports the best
sample's SSIM, the blank frame's, the predicted background's mean and the
share of its pixels above 0.01 and 0.05, and the best SSIM again with every
predicted value below a threshold set to 0 (a diagnostic, not a method: the
shipped models and their protocol never threshold).

    pip install --no-deps -r requirements-mnist5k.txt   # the digits
    PYTHONPATH=. python experiments/background_haze.py pretrained/smmnist5k_svglp \
        experiments/results/smmnist5k_5to10/svglp/background_haze.json
"""

import json
import sys

import numpy as np
import tensorflow as tf

from svgpl_tf import runs
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.evaluation import metrics

NUM_SEQUENCES, NUM_SAMPLES, SEED = 32, 20, 0
THRESHOLDS = (0.02, 0.05, 0.1)


def frame_ssim(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """SSIM (uniform) of each sample's frames: pred [b, s, t, h, w, c],
    truth [b, t, h, w, c] -> [b, s, t]."""
    target = np.broadcast_to(truth[:, None], pred.shape)
    flat = [-1, *pred.shape[3:]]
    values = metrics.ssim(tf.reshape(pred, flat), tf.reshape(target, flat))
    return np.reshape(values.numpy(), pred.shape[:3])


def best_per_frame(pred: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best sample by mean SSIM (the protocol's `metrics.rank_samples`): its
    SSIM [b, t] and its frames [b, t, h, w, c]."""
    scores = frame_ssim(pred, truth)  # [b, s, t]
    best, _ = metrics.rank_samples(scores)  # [b]
    return metrics.take_sample(scores, best).numpy(), metrics.take_sample(pred, best).numpy()


def main(model_dir: str, output: str) -> None:
    model, config, _ = runs.restore_model(model_dir)
    clips = np.concatenate([c.numpy() for c in make_datasets(config).test])[:NUM_SEQUENCES]
    n_past, horizon = config.n_past, config.eval_n_future
    truth = clips[:, n_past : n_past + horizon]  # [b, t, h, w, c]
    pred = model.sample(clips[:, :n_past], horizon=horizon, num_samples=NUM_SAMPLES, seed=SEED)
    pred = pred.numpy()  # [b, s, t, h, w, c]
    best_ssim, best_frames = best_per_frame(pred, truth)
    blank_ssim = frame_ssim(np.zeros_like(pred[:, :1]), truth)[:, 0]  # [b, t]
    background = truth < 1e-3  # [b, t, h, w, c]
    per_frame = []
    for t in range(horizon):
        values = best_frames[:, t][background[:, t]]
        per_frame.append(
            {
                "frame": n_past + t + 1,
                "best_ssim": float(best_ssim[:, t].mean()),
                "blank_ssim": float(blank_ssim[:, t].mean()),
                "background_mean": float(values.mean()),
                "background_above_0.01": float((values > 0.01).mean()),
                "background_above_0.05": float((values > 0.05).mean()),
            }
        )
    for threshold in THRESHOLDS:
        cleared, _ = best_per_frame(np.where(pred < threshold, 0.0, pred), truth)
        for t, row in enumerate(per_frame):
            row[f"best_ssim_below_{threshold}_cleared"] = float(cleared[:, t].mean())
    report = {
        "model": model_dir,
        "protocol": f"best of {NUM_SAMPLES} by mean SSIM (uniform), first {NUM_SEQUENCES} test "
        f"sequences, {n_past} -> {horizon} frames, seed {SEED}",
        "background_share": float(background.mean()),
        "per_frame": per_frame,
    }
    with open(output, "w") as f:
        json.dump(report, f, indent=1)
    for row in per_frame:
        print(
            " ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
        )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: background_haze.py MODEL_DIR OUTPUT_JSON")
    main(sys.argv[1], sys.argv[2])
