"""Compares evaluated runs: one plot of their per-step curves and a table. Usage:

    python -m svgpl_tf.compare evals/svglp evals/svgpl --labels SVG-LP SVG-PL --output=compare.png

Each argument is an --output_dir of `python -m svgpl_tf.evaluate`. `--labels`
takes one label per run (space- or comma-separated); it defaults to the
folder names. The per-step plot defaults to `compare.png` in the current
folder; the best SSIM per test sequence goes next to it (`compare_per_sequence.png`).

The arguments are parsed with argparse rather than absl flags because
`--labels` takes several values in a row.
"""

from __future__ import annotations

import argparse
import os
import sys

from svgpl_tf import entry
from svgpl_tf.evaluation import comparison, plots


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m svgpl_tf.compare", description=__doc__.splitlines()[0]
    )
    parser.add_argument("runs", nargs="+", help="Output folders of svgpl_tf.evaluate.")
    parser.add_argument("--labels", nargs="+", default=None, help="One label per run.")
    parser.add_argument("--output", default="compare.png", help="The plot to write (PNG).")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.labels is None:
        labels = [os.path.basename(os.path.normpath(r)) for r in args.runs]
    else:
        labels = [part for label in args.labels for part in label.split(",") if part]
    if len(labels) != len(args.runs):
        parser.error(f"--labels gives {len(labels)} labels for {len(args.runs)} runs.")
    reports = [comparison.load_report(r) for r in args.runs]
    print(comparison.comparison_table(reports, labels))
    with_lpips = all("lpips" in r["average"] for r in reports)
    plots.plot_comparison(
        reports, labels, args.output, metrics=("ssim", "psnr") + (("lpips",) if with_lpips else ())
    )
    per_sequence = os.path.splitext(args.output)[0] + "_per_sequence.png"
    plots.plot_comparison_per_sequence(reports, labels, per_sequence)
    print(f"Wrote {args.output} and {per_sequence}")
    return 0


def run() -> None:
    """The console script's entry point: errors in a folder, a report or the
    disk are one line and exit status 1 (`entry.guarded`)."""
    sys.exit(entry.guarded(main, sys.argv[1:]))


if __name__ == "__main__":
    run()
