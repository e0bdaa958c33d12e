"""What the benchmark runs: its configurations, variants and options.

The configurations are the installed experiment flagfiles
(`svgpl_tf/flagfiles/NAME.flags`) with only the benchmark's own sizes on top
(`CONFIGS`), so a benchmarked configuration and the experiment of the same
name train the same model on the same context and horizon. The flagfiles are
parsed where flags are, in the binary (`svgpl_tf.benchmark.flagfile_configs`),
and reach the benchmark as `Config`s in `BenchmarkOptions.flagfiles`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from svgpl_tf.config import PRECISIONS, Config

# The configurations: installed flagfile name -> the benchmark's overrides of it.
# Only sizes of the measurement change: a batch one machine steps in seconds,
# and drawn digits, so the benchmark downloads nothing. Model, loss, context
# and horizon are the flagfile's.
CONFIGS: dict[str, dict] = {
    # SVG-LP on SM-MNIST: DCGAN-64, 64x64x1, 5 + 10 frames.
    "smmnist_svglp": dict(batch_size=16, sprites="procedural"),
    # The same with the VGG16 perceptual term (SVG-PL), four layers, L1.
    "smmnist_svgpl": dict(batch_size=16, sprites="procedural"),
    # SVG-LP on BAIR: VGG-64, 64x64x3, z_dim 64, 5 + 10 frames.
    "bair_svglp": dict(batch_size=8),
}
# The pair whose step-time ratio is reported next to its FLOP ratio.
RATIO_PAIR = ("smmnist_svgpl", "smmnist_svglp")
# Sizes of `--tiny` runs: a few seconds in all, for CI.
TINY_OVERRIDES = dict(
    g_dim=16,
    nf=8,
    z_dim=4,
    rnn_size=16,
    batch_size=2,
    n_past=2,
    n_future=2,
    num_test_sequences=4,
    perceptual_layers="block1_conv2",
    perceptual_layer_weights="",
    vgg_weights="random",
)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way of running the same model.

    Attributes:
        precision: `float32`, `mixed_bfloat16` or `mixed_float16`.
        jit_compile: XLA compilation of the training step and the sampler.
        precompute_skips: the shared skip terms (the fast path) or the plain
            concatenation path (token `plain`).
        fused_batchnorm: BatchNorm through the fused kernel (the default,
            see `FastBatchNormalization`), or Keras's ops (token `unfused`).
    """

    precision: str = "float32"
    jit_compile: bool = False
    precompute_skips: bool = True
    fused_batchnorm: bool = True

    @property
    def name(self) -> str:
        parts = [self.precision]
        if self.jit_compile:
            parts.append("xla")
        if not self.precompute_skips:
            parts.append("plain")
        if not self.fused_batchnorm:
            parts.append("unfused")
        return "+".join(parts)

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """`"mixed_bfloat16+xla+plain+unfused"` -> Variant; tokens in any order.

        Args:
            spec: a precision, `xla`, `plain` and `unfused` joined by `+`.

        Raises:
            ValueError: an unknown token.
        """
        values = dict(
            precision="float32", jit_compile=False, precompute_skips=True, fused_batchnorm=True
        )
        for token in filter(None, (t.strip() for t in spec.split("+"))):
            if token in PRECISIONS:
                values["precision"] = token
            elif token == "xla":
                values["jit_compile"] = True
            elif token == "plain":
                values["precompute_skips"] = False
            elif token == "unfused":
                values["fused_batchnorm"] = False
            else:
                raise ValueError(
                    f"Unknown variant token {token!r} in {spec!r}: use one of "
                    f"{', '.join(PRECISIONS)}, 'xla', 'plain' and 'unfused' joined by '+'."
                )
        return cls(**values)

    @property
    def dtype(self) -> str:
        """The dtype of the ceiling this variant is compared with."""
        return {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}.get(
            self.precision, "float32"
        )


@dataclasses.dataclass(frozen=True)
class BenchmarkOptions:
    """What `run_benchmark` measures, and how long.

    Attributes:
        configs: names in `CONFIGS`.
        flagfiles: the `Config` of each one's installed flagfile, parsed as
            the binaries parse `--flagfile=NAME` (the benchmark binary does).
        variant: the main variant (the table's figures).
        compare: further variants timed side by side with the main one.
        steps: timed training steps per configuration and variant.
        warmup_steps: untimed steps first (the first one traces/compiles).
        sample_sequences: sequences of the sampling benchmark.
        sample_context: their context frames.
        sample_horizon: predicted frames per sample.
        num_samples: samples per sequence (best-of-N).
        sample_repeats: timed sampling calls per variant.
        serving: time the exported SavedModel (needs the `[serving]` extra).
        serving_num_samples: samples per sequence of the exported signature.
        serving_repeats: timed requests per batch size.
        serving_batches: sequences per request.
        pipeline_batches: batches drawn to time each input pipeline.
        loss_curve_steps: train each variant this many steps from the same
            initial weights on the same batches and compare the loss curves,
            on the sampled configuration (SM-MNIST SVG-LP); 0: skip.
        matmul_size: n of the n x n matrix products of the ceilings.
        matmul_repeats: timed products per dtype.
        profile_steps: after timing, trace this many training steps of
            each variant with `tf.profiler` and summarise the time by op
            type (0: no trace).
        profile_dir: where the traces go (TensorBoard's profile plugin reads
            them); empty: a temporary folder, removed afterwards.
        tiny: shrink every size so the run takes seconds (for CI).
    """

    configs: tuple[str, ...] = tuple(CONFIGS)
    flagfiles: Mapping[str, Config] = dataclasses.field(default_factory=dict, hash=False)
    variant: Variant = Variant()
    compare: tuple[Variant, ...] = ()
    steps: int = 10
    warmup_steps: int = 2
    sample_sequences: int = 16
    sample_context: int = 5
    sample_horizon: int = 10
    num_samples: int = 100
    sample_repeats: int = 1
    serving: bool = True
    serving_num_samples: int = 10
    serving_repeats: int = 10
    serving_batches: tuple[int, ...] = (1, 16)
    pipeline_batches: int = 20
    loss_curve_steps: int = 0
    matmul_size: int = 4096
    matmul_repeats: int = 5
    profile_steps: int = 0
    profile_dir: str = ""
    tiny: bool = False

    def validate(self) -> BenchmarkOptions:
        """Raises ValueError naming the option; returns the options to run."""
        unknown = [c for c in self.configs if c not in CONFIGS]
        if unknown or not self.configs:
            raise ValueError(f"--configs: unknown {unknown}; choose from {', '.join(CONFIGS)}.")
        positive = (
            "steps",
            "warmup_steps",
            "num_samples",
            "sample_sequences",
            "sample_horizon",
            "sample_repeats",
            "serving_repeats",
            "pipeline_batches",
            "matmul_size",
            "matmul_repeats",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name}={getattr(self, name)}: must be >= 1.")
        if self.sample_context < 1:
            raise ValueError(f"--sample_context={self.sample_context}: must be >= 1.")
        missing = [c for c in self.configs if c not in self.flagfiles]
        if missing:
            raise ValueError(
                f"flagfiles: no Config of {', '.join(f'{c}.flags' for c in missing)}; "
                "parse the installed flagfiles as svgpl_tf.benchmark.flagfile_configs does."
            )
        return self

    def sized(self) -> BenchmarkOptions:
        """The options actually run: shrunk when `tiny`."""
        if not self.tiny:
            return self
        return dataclasses.replace(
            self,
            steps=min(self.steps, 2),
            warmup_steps=1,
            sample_sequences=2,
            sample_context=2,
            sample_horizon=2,
            num_samples=3,
            sample_repeats=1,
            serving_num_samples=2,
            serving_repeats=2,
            serving_batches=(1, 2),
            pipeline_batches=2,
            loss_curve_steps=min(self.loss_curve_steps, 2),
            profile_steps=min(self.profile_steps, 1),
            matmul_size=128,
            matmul_repeats=2,
        )

    @property
    def variants(self) -> tuple[Variant, ...]:
        """The main variant, then the compared ones (without repeats)."""
        out = [self.variant]
        out += [v for v in self.compare if v not in out]
        return tuple(out)


def make_config(name: str, variant: Variant, options: BenchmarkOptions) -> Config:
    """The `Config` of configuration `name` run as `variant`.

    Args:
        name: a key of `CONFIGS` and of `options.flagfiles`.
        variant: the precision and fast paths to run.
        options: the flagfiles' `Config`s, and `tiny` (then `TINY_OVERRIDES`).

    Returns:
        the flagfile's `Config` with `CONFIGS[name]`, the variant and, when
        `options.tiny`, `TINY_OVERRIDES` on top, validated.
    """
    values = dict(CONFIGS[name])
    values.update(
        precision=variant.precision,
        jit_compile=variant.jit_compile,
        precompute_skips=variant.precompute_skips,
        fused_batchnorm=variant.fused_batchnorm,
    )
    if options.tiny:
        values.update(TINY_OVERRIDES)
    return dataclasses.replace(options.flagfiles[name], **values).validate()


def describe_configs(options: BenchmarkOptions) -> dict[str, dict]:
    """Where each configuration of the run comes from, and what it ran, for the results.

    Args:
        options: the run's configurations and flagfiles.

    Returns:
        `{name: {"flagfile": "NAME.flags", "overrides": {...}, "config": {...}}}`,
        `config` being the main variant's `Config` as run.
    """
    return {
        name: {
            "flagfile": f"{name}.flags",
            "overrides": dict(CONFIGS[name]) | (dict(TINY_OVERRIDES) if options.tiny else {}),
            "config": make_config(name, options.variant, options).to_dict(),
        }
        for name in options.configs
    }
