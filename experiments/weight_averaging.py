"""Averaged checkpoints against single ones, scored with one protocol.

For each window `A:B` it averages a run's checkpoints from step A to step B
(`svgpl_tf.weight_averaging`; with `--batchnorm_batches`, BatchNorm's
statistics recomputed for the average) and evaluates the result; for each step S it
evaluates that single checkpoint; every evaluation samples in float32 with
the same sequences and noise. Writes each report under OUTPUT_DIR
(`avg_A_B/`, `step_S/`) and `summary.json`: per model the best sample's
mean SSIM, PSNR and LPIPS, per predicted frame and on average, and the
worst frame's lead over the better of copy-last and an all-black frame.

    python experiments/weight_averaging.py --workdir=workdirs/run \
        --output_dir=experiments/results/NAME --windows=2000:6000 --steps=6000 \
        --num_samples=20 --num_sequences=128
"""

from __future__ import annotations

import json
import os

from absl import app, flags

from svgpl_tf import weight_averaging
from svgpl_tf.evaluation import job

_WORKDIR = flags.DEFINE_string("workdir", None, "Training run whose checkpoints to average.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for the reports and the summary.")
_WINDOWS = flags.DEFINE_list("windows", [], "Averaging windows A:B (steps, inclusive).")
_STEPS = flags.DEFINE_list("steps", [], "Single checkpoints to evaluate beside the averages.")
_EXTRA = flags.DEFINE_list("extra", [], "Other model folders to evaluate (e.g. a shipped one).")
_BATCHNORM_BATCHES = flags.DEFINE_integer(
    "batchnorm_batches", 0, "Recompute each average's BatchNorm statistics over this many batches."
)
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 20, "Samples per sequence; the best is kept.")
_NUM_SEQUENCES = flags.DEFINE_integer("num_sequences", 128, "Test sequences.")
_LPIPS = flags.DEFINE_string("lpips", "alex", "LPIPS network, or off.")
flags.mark_flags_as_required(["workdir", "output_dir"])


def _row(report: dict) -> dict:
    """The figures of one report that the comparison needs."""
    per_step, average = report["per_step"], report["average"]
    row = {"checkpoint_step": report["checkpoint_step"]}
    for metric in ("ssim", "psnr", "lpips"):
        if metric not in per_step:
            continue
        row[f"{metric}_best"] = round(average[metric]["best"]["mean"], 4)
        row[f"{metric}_best_per_frame"] = [round(v, 4) for v in per_step[metric]["best"]["mean"]]
        for kind in ("copy_last", "blank"):
            row[f"{metric}_{kind}_per_frame"] = [
                round(v, 4) for v in per_step[metric][kind]["mean"]
            ]
    row["worst_frame_lead"] = report["beats_baselines"]["margin"]
    row["beats_baselines"] = report["beats_baselines"]["beats"]
    return row


def _evaluate(workdir: str, output_dir: str, step: int | None = None) -> dict:
    return job.evaluate(
        workdir,
        output_dir,
        precision="float32",
        num_samples=_NUM_SAMPLES.value,
        num_sequences=_NUM_SEQUENCES.value,
        ssim_mode="uniform",
        lpips=_LPIPS.value,
        step=step,
    )


def main(argv):
    del argv
    out = _OUTPUT_DIR.value
    summary = {
        "workdir": _WORKDIR.value,
        "num_samples": _NUM_SAMPLES.value,
        "num_sequences": _NUM_SEQUENCES.value,
        "models": {},
    }
    path = os.path.join(out, "summary.json")
    if os.path.exists(path):
        summary["models"] = json.load(open(path))["models"]
    for window in _WINDOWS.value:
        first, last = (int(s) for s in window.split(":"))
        name = f"avg_{first}_{last}"
        if _BATCHNORM_BATCHES.value:
            name += f"_bn{_BATCHNORM_BATCHES.value}"
        folder = os.path.join(out, name)
        record = weight_averaging.average_checkpoints(
            _WORKDIR.value,
            os.path.join(folder, "weights"),
            from_step=first,
            to_step=last,
            batchnorm_batches=_BATCHNORM_BATCHES.value,
        )
        row = _row(_evaluate(os.path.join(folder, "weights"), os.path.join(folder, "eval")))
        summary["models"][name] = {"steps": record["steps"], **row}
    for step in _STEPS.value:
        name = f"step_{step}"
        report = _evaluate(_WORKDIR.value, os.path.join(out, name), int(step))
        summary["models"][name] = _row(report)
    for folder in _EXTRA.value:
        name = os.path.basename(os.path.normpath(folder))
        summary["models"][name] = _row(_evaluate(folder, os.path.join(out, name)))
    for name, row in summary["models"].items():
        lead = row["worst_frame_lead"]
        print(
            f"{name:>22}: SSIM {row['ssim_best']:.4f} PSNR {row['psnr_best']:.2f}  worst frame's "
            f"lead SSIM {lead['ssim']:+.4f} PSNR {lead['psnr']:+.2f}  last frames' SSIM "
            f"{row['ssim_best_per_frame'][-2:]} (blank {row['ssim_blank_per_frame'][-2:]})",
            flush=True,
        )
    os.makedirs(out, exist_ok=True)
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)
    print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
