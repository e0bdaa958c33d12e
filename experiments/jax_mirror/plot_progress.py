"""Plots the training loss terms of train_jax.py runs from their progress.json. Usage:

python experiments/jax_mirror/plot_progress.py OUT.png LABEL=progress.json [...]
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not all("=" in a for a in argv[1:]):
        sys.exit(__doc__)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for arg in argv[1:]:
        label, path = arg.split("=", 1)
        with open(path) as f:
            log = json.load(f)["log"]
        steps = [row["step"] for row in log]
        for ax, term in zip(axes, ("mse", "kl")):
            ax.plot(steps, [row[term] for row in log], label=label)
    axes[0].set(xlabel="step (batch 100)", ylabel="pixel MSE (sum over 14 frames)", yscale="log")
    axes[1].set(xlabel="step (batch 100)", ylabel="KL (sum over frames and z)")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(argv[0], dpi=100)


if __name__ == "__main__":
    main(sys.argv[1:])
