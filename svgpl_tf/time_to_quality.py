"""Trains a configuration and measures when it beats copying the last frame. Usage:

    python -m svgpl_tf.time_to_quality --flagfile=quickstart \
        --workdir=workdirs/ttq_quickstart --probe_every=200

Every training flag applies (see `svgpl_tf/config.py`). Every --probe_every
steps it samples --probe_samples futures of the first --probe_sequences test
sequences and compares best-of-N SSIM and PSNR per predicted step with copy-last
and an all-black frame; it
writes WORKDIR/time_to_quality.json and time_to_quality.png (see
`svgpl_tf/training/time_to_quality.py`).
"""

from absl import flags

from svgpl_tf import entry
from svgpl_tf import flags as svg_flags

_WORKDIR = flags.DEFINE_string(
    "workdir", None, "A new folder for the run and its report, or a stopped run's, to resume it."
)
_EVERY = flags.DEFINE_integer("probe_every", 200, "Training steps between probes.")
_SAMPLES = flags.DEFINE_integer("probe_samples", 20, "Sampled futures per test sequence.")
_SEQUENCES = flags.DEFINE_integer("probe_sequences", 32, "First test sequences probed.")
svg_flags.define_config_flags()


def main(argv):
    config, _ = svg_flags.config_from_flags()
    # TensorFlow loads only once the flags are good: a bad flag or --help is instant.
    from svgpl_tf import runs
    from svgpl_tf.training import time_to_quality

    runs.check_workdir(_WORKDIR.value)
    runs.preflight(config)
    report = time_to_quality.time_to_quality(
        config, _WORKDIR.value, _EVERY.value, _SAMPLES.value, _SEQUENCES.value
    )
    first = report["first_beats_baselines"]
    last = report["probes"][-1]
    print(
        f"Final: best-of-{_SAMPLES.value} SSIM {last['best_ssim']:.4f} (copy-last "
        f"{last['copy_last_ssim']:.4f}, blank {last['blank_ssim']:.4f}), PSNR "
        f"{last['best_psnr']:.2f} dB (copy-last {last['copy_last_psnr']:.2f}, blank "
        f"{last['blank_psnr']:.2f}) at step {last['step']}. "
        + (
            f"First beat both baselines at every step (SSIM, PSNR and LPIPS) at step "
            f"{first['step']}, {first['train_seconds']:.0f}s of training."
            if first
            else "Never beat both baselines at every step in SSIM, PSNR and LPIPS."
        )
    )


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["workdir"])


if __name__ == "__main__":
    run()
