"""Does an SM-MNIST model predict its training digits better than unseen ones?

Evaluates one run twice with the same protocol and the same sequence seeds:
once on the test digits (the usual evaluation), once with the training
digits drawn into the test sequences in their place (mnist5k: 4,000 training
digits against 1,000 test digits). The motion, the sample noise and the
number of sequences are the same in both, so a model that memorised its
digits scores clearly higher on the second; one limited by its dynamics
scores the same on both, and loses its last frames to the all-black frame in
both. Writes, per split, the best-sample SSIM and PSNR per predicted frame
beside copy-last and the all-black frame, and the two reports' folders.

    python experiments/train_digits_probe.py --workdir=pretrained/smmnist5k_svglp \
        --output_dir=experiments/results/smmnist5k_5to10/svglp/train_digits
"""

from __future__ import annotations

import json
import os
from unittest import mock

from absl import app, flags

from svgpl_tf.data import digits
from svgpl_tf.evaluation import job

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run or pretrained model folder.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for the two reports and the summary.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 20, "Samples per sequence; the best is kept.")
_NUM_SEQUENCES = flags.DEFINE_integer("num_sequences", 64, "Test sequences per split.")
_PRECISION = flags.DEFINE_string("precision", "float32", "Precision to sample in.")
flags.mark_flags_as_required(["workdir", "output_dir"])

SPLITS = ("test", "train")


def _frame_rows(report: dict) -> dict[str, list[float]]:
    """Best SSIM / PSNR per predicted frame and the two baselines'."""
    per_step = report["per_step"]
    return {
        f"{metric}_{kind}": [round(v, 4) for v in per_step[metric][kind]["mean"]]
        for metric in ("ssim", "psnr")
        for kind in ("best", "copy_last", "blank")
    }


def evaluate_split(split: str, output_dir: str) -> dict:
    """Evaluates the run with `split`'s digits drawn into the test sequences."""
    load = digits.load_sprites

    def sprites(source, requested, **kwargs):
        return load(source, split if requested == "test" else requested, **kwargs)

    with mock.patch.object(digits, "load_sprites", sprites):
        return job.evaluate(
            _WORKDIR.value,
            output_dir,
            precision=_PRECISION.value,
            num_samples=_NUM_SAMPLES.value,
            num_sequences=_NUM_SEQUENCES.value,
            ssim_mode="uniform",
            lpips="off",
        )


def main(argv):
    del argv
    summary = {
        "workdir": _WORKDIR.value,
        "num_samples": _NUM_SAMPLES.value,
        "num_sequences": _NUM_SEQUENCES.value,
        "precision": _PRECISION.value,
    }
    for split in SPLITS:
        report = evaluate_split(split, os.path.join(_OUTPUT_DIR.value, f"{split}_digits"))
        summary[f"{split}_digits"] = _frame_rows(report)
        rows = summary[f"{split}_digits"]
        print(
            f"{split} digits: best SSIM per frame {rows['ssim_best']}, "
            f"all-black {rows['ssim_blank']}",
            flush=True,
        )
    path = os.path.join(_OUTPUT_DIR.value, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
