"""Evaluates a trained SVG-LP / SVG-PL run on the test split. Usage:

    python -m svgpl_tf.evaluate --workdir=workdirs/quickstart --output_dir=evals/quickstart

Draws --num_samples futures per test sequence, keeps the best by mean SSIM,
and writes metrics.json, plots and sample videos to --output_dir (see
`svgpl_tf/evaluate_lib.py`). Split over several jobs:

    python -m svgpl_tf.evaluate --workdir=W --output_dir=out/0 --shard_index=0 --num_shards=2
    python -m svgpl_tf.evaluate --workdir=W --output_dir=out/1 --shard_index=1 --num_shards=2
    python -m svgpl_tf.evaluate --merge=out/0,out/1 --output_dir=out/all
"""

from absl import app, flags

from svgpl_tf import entry, evaluate_lib, metrics
from svgpl_tf.config import PRECISIONS
from svgpl_tf.models.svg import SAMPLING_BATCHNORM

_WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir to evaluate.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for metrics, plots and videos.")
_NUM_SAMPLES = flags.DEFINE_integer(
    "num_samples", None, "Sampled futures per test sequence (default: the run's eval_num_samples)."
)
_NUM_SEQUENCES = flags.DEFINE_integer(
    "num_sequences", None, "Test sequences to evaluate (default: the run's num_test_sequences)."
)
_N_PAST = flags.DEFINE_integer("n_past", None, "Context frames (default: the training run's).")
_N_FUTURE = flags.DEFINE_integer(
    "n_future", None, "Predicted frames (default: the run's eval horizon; may be longer)."
)
_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).")
_SSIM_MODE = flags.DEFINE_enum(
    "ssim_mode",
    evaluate_lib.DEFAULT_SSIM_MODE,
    list(metrics.SSIM_MODES),
    "SSIM window: 'uniform' (7x7, skimage's default, as the SVG code) or "
    "'gaussian' (11x11, sigma 1.5, as tf.image.ssim).",
)
_BATCH_SIZE = flags.DEFINE_integer(
    "batch_size", 8, "Test sequences sampled together (each with all its samples)."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the sampled futures.")
_NUM_SHOWN = flags.DEFINE_integer("num_shown", 4, "Test sequences in samples.png / samples.gif.")
_SHARD_INDEX = flags.DEFINE_integer("shard_index", 0, "Part of the test sequences to evaluate.")
_NUM_SHARDS = flags.DEFINE_integer(
    "num_shards", 1, "Parts the test sequences are split into (one job each; then --merge)."
)
_MERGE = flags.DEFINE_list(
    "merge", None, "Output folders of shards to combine into --output_dir (no sampling)."
)
_PRECISION = flags.DEFINE_enum(
    "precision",
    None,
    list(PRECISIONS),
    "Precision to sample in (default: the training run's).",
)


_JIT_COMPILE = flags.DEFINE_bool(
    "jit_compile",
    False,
    "Compile the sampler with XLA (slower than the plain graph on CPUs, see the README's "
    "Performance section; meant for GPUs). XLA draws other futures than the plain graph "
    "for the same seed, so compare reports made with the same setting.",
)
_SAMPLING_BATCHNORM = flags.DEFINE_enum(
    "sampling_batchnorm",
    "moving",
    list(SAMPLING_BATCHNORM),
    "BatchNorm statistics while sampling: 'moving' (the moving averages; each sequence's "
    "futures are its own), 'batch' (batch statistics over the --batch_size sequences "
    "sampled together, as the reference generates) or 'sequence' (each sequence's own).",
)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not _MERGE.value and not _WORKDIR.value:
        raise app.UsageError("--workdir is required (or --merge to combine shards).")
    if _MERGE.value:
        try:
            evaluate_lib.merge(_MERGE.value, _OUTPUT_DIR.value)
        except (ValueError, PermissionError, FileNotFoundError) as e:
            raise app.UsageError(str(e)) from e
        return
    try:
        options = evaluate_lib.EvalOptions(
            num_samples=_NUM_SAMPLES.value,
            num_sequences=_NUM_SEQUENCES.value,
            n_past=_N_PAST.value,
            n_future=_N_FUTURE.value,
            step=_STEP.value,
            ssim_mode=_SSIM_MODE.value,
            batch_size=_BATCH_SIZE.value,
            seed=_SEED.value,
            num_shown=_NUM_SHOWN.value,
            shard_index=_SHARD_INDEX.value,
            num_shards=_NUM_SHARDS.value,
            jit_compile=_JIT_COMPILE.value,
            sampling_batchnorm=_SAMPLING_BATCHNORM.value,
        ).validate()
        evaluate_lib.check_output_dir(_OUTPUT_DIR.value)
        model, config, step = evaluate_lib.load_run(_WORKDIR.value, options.step, _PRECISION.value)
    except (ValueError, PermissionError, FileNotFoundError, RuntimeError) as e:
        raise app.UsageError(str(e)) from e
    evaluate_lib.evaluate_run(model, config, step, _OUTPUT_DIR.value, options, _WORKDIR.value)


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["output_dir"])


if __name__ == "__main__":
    run()
