"""Evaluates a trained SVG-LP / SVG-PL run on the test split. Usage:

    svgpl-evaluate --workdir=workdirs/quickstart --output_dir=evals/quickstart

Draws --num_samples futures per test sequence, keeps the best by mean SSIM,
and writes metrics.json, plots and sample videos to --output_dir (see
`svgpl_tf/evaluation/job.py`). Split over several jobs:

    svgpl-evaluate --workdir=W --output_dir=out/0 --shard_index=0 --num_shards=2
    svgpl-evaluate --workdir=W --output_dir=out/1 --shard_index=1 --num_shards=2
    svgpl-evaluate --merge=out/0,out/1 --output_dir=out/all
"""

from absl import app, flags

from svgpl_tf import entry
from svgpl_tf import flags as svg_flags
from svgpl_tf.choices import PRECISION_CHOICES
from svgpl_tf.evaluation.options import EvalOptions

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir to evaluate.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for metrics, plots and videos.")
_MERGE = flags.DEFINE_list(
    "merge", None, "Output folders of shards to combine into --output_dir (no sampling)."
)
_PRECISION = flags.DEFINE_enum(
    "precision",
    None,
    list(PRECISION_CHOICES),
    "Precision to sample in (default: the training run's; auto: mixed_bfloat16 where "
    "bfloat16 is native and measured faster, else float32).",
)
svg_flags.define_option_flags(EvalOptions)  # --num_samples, --ssim_mode, ... (EvalOptions)


def main(argv):
    if not _MERGE.value and not _WORKDIR.value:
        raise app.UsageError("--workdir is required (or --merge to combine shards).")
    options = None if _MERGE.value else svg_flags.options_from_flags(EvalOptions).validate()
    # TensorFlow loads only once the flags are good: a bad flag or --help is instant.
    from svgpl_tf import machine
    from svgpl_tf.evaluation import job, report

    if _MERGE.value:
        report.merge(_MERGE.value, _OUTPUT_DIR.value)
        return
    report.check_output_dir(_OUTPUT_DIR.value)
    job.check_lpips(options)
    precision = _PRECISION.value and machine.resolve_precision(_PRECISION.value)[0]
    model, config, step = job.load_run(_WORKDIR.value, options.step, precision)
    job.check_lpips(options, config.image_size)
    machine.warn_precision(precision or config.precision)
    job.evaluate_run(model, config, step, _OUTPUT_DIR.value, options, _WORKDIR.value)


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["output_dir"])


if __name__ == "__main__":
    run()
