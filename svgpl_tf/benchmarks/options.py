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

from svgpl_tf.choices import PRECISIONS, TRANSPOSE_KERNELS, option, option_errors, validate_options
from svgpl_tf.config import Config

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
    """One way of running the same model; its fields are the benchmark's flags
    of the main variant, and `parse` reads the `--compare` ones.

    Example:
        >>> Variant(jit_compile=True, fused_batchnorm=False).name
        'float32+xla+unfused'
    """

    precision: str = option("float32", "Precision policy.", choices=PRECISIONS)
    jit_compile: bool = option(False, "Compile the training step and the sampler with XLA.")
    # The plain concatenation path is the token `plain` of `parse`.
    precompute_skips: bool = option(
        True,
        "Decoder skip terms computed once per source frame (the fast path); "
        "--noprecompute_skips runs the plain concatenation path.",
    )
    # See `GroupedBatchNormalization`; Keras's ops are the token `unfused`.
    fused_batchnorm: bool = option(
        True,
        "BatchNorm through the fused FusedBatchNormV3 kernel (the default); "
        "--nofused_batchnorm runs Keras's BatchNormalization ops.",
    )

    # TensorFlow's own element-wise kernels while sampling are the token `eigen`.
    compiled_elementwise: bool = option(
        True,
        "In 16-bit sampling on a CPU, element-wise work compiled by XLA (the default; "
        "see svgpl_tf.models.elementwise); --nocompiled_elementwise runs TensorFlow's kernels.",
    )
    # Tokens `native` and `phases`.
    transpose_kernels: str = option(
        "auto",
        "Kernels of transposed convolutions and input gradients: phases (forward "
        "convolutions, see svgpl_tf.models.phase_conv), native (TensorFlow's), or auto "
        "(phases on a CPU where TensorFlow leaves oneDNN off, on layers of 64 or more "
        "output channels; see svgpl_tf.models.conv_ops).",
        choices=TRANSPOSE_KERNELS,
    )

    @property
    def name(self) -> str:
        parts = [self.precision]
        if self.jit_compile:
            parts.append("xla")
        if not self.precompute_skips:
            parts.append("plain")
        if not self.fused_batchnorm:
            parts.append("unfused")
        if not self.compiled_elementwise:
            parts.append("eigen")
        if self.transpose_kernels != "auto":
            parts.append(self.transpose_kernels)
        return "+".join(parts)

    @classmethod
    def parse(cls, spec: str) -> Variant:
        """`"mixed_bfloat16+xla+plain+unfused"` -> Variant; tokens in any order.

        Args:
            spec: a precision, `xla`, `plain`, `unfused`, `eigen`, `native` and `phases`
                joined by `+`.

        Raises:
            ValueError: an unknown token.
        """
        values = dict(
            precision="float32",
            jit_compile=False,
            precompute_skips=True,
            fused_batchnorm=True,
            compiled_elementwise=True,
            transpose_kernels="auto",
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
            elif token == "eigen":
                values["compiled_elementwise"] = False
            elif token in TRANSPOSE_KERNELS[1:]:
                values["transpose_kernels"] = token
            else:
                raise ValueError(
                    f"Unknown variant token {token!r} in {spec!r}: use one of "
                    f"{', '.join(PRECISIONS)}, 'xla', 'plain', 'unfused', 'eigen', 'native' and "
                    f"'phases' joined by '+'."
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

    Each field but `flagfiles` and `variant` is declared once with `option`;
    those with `flag=True` (the default) are flags of `svgpl-benchmark`.

    Attributes:
        flagfiles: the `Config` of each configuration's installed flagfile,
            parsed as the binaries parse `--flagfile=NAME` (the benchmark
            binary does).
        variant: the main variant (the table's figures); its fields are flags.

    Example:
        >>> BenchmarkOptions(tiny=True).sized().matmul_size
        128
    """

    configs: tuple[str, ...] = option(tuple(CONFIGS), f"Configurations: {', '.join(CONFIGS)}.")
    flagfiles: Mapping[str, Config] = dataclasses.field(default_factory=dict, hash=False)
    variant: Variant = Variant()
    compare: tuple[Variant, ...] = option(
        (),
        "Further variants timed side by side with the main one: a precision, 'xla', 'plain' "
        "(no shared skip terms), 'unfused' (Keras's BatchNorm ops), 'eigen' (no compiled "
        "element-wise ops) and 'native' or 'phases' (transposed-convolution kernels) joined "
        "by '+', e.g. mixed_bfloat16,float32+plain,float32+unfused,float32+xla.",
        parse=Variant.parse,
    )
    steps: int = option(10, "Timed training steps per configuration and variant.", min=1)
    # The first untimed step traces / compiles.
    warmup_steps: int = option(2, "Untimed training steps first.", min=1)
    sample_sequences: int = option(16, "Sequences of the sampling benchmark.", min=1, flag=False)
    sample_context: int = option(5, "Context frames of those sequences.", min=1, flag=False)
    sample_horizon: int = option(10, "Predicted frames per sample.", min=1, flag=False)
    num_samples: int = option(100, "Samples per sequence (best of N).", min=1)
    sample_repeats: int = option(1, "Timed sampling calls per variant.", min=1)
    # Needs the `[serving]` extra.
    serving: bool = option(True, "Export a SavedModel and time serving_default.")
    serving_num_samples: int = option(
        10, "Samples per sequence of the exported signature.", flag=False
    )
    serving_repeats: int = option(10, "Timed requests per batch size.", min=1)
    serving_batches: tuple[int, ...] = option((1, 16), "Sequences per request.", flag=False)
    pipeline_batches: int = option(
        20, "Batches drawn to time each input pipeline.", min=1, flag=False
    )
    # On the same initial weights and batches, on the sampled configuration
    # (SM-MNIST SVG-LP); 0 skips it.
    loss_curve_steps: int = option(
        0, "Train every variant this many steps from the same weights and compare the losses."
    )
    matmul_size: int = option(4096, "n of the n x n ceiling products.", min=1)
    matmul_repeats: int = option(5, "Timed products per dtype.", min=1, flag=False)
    # After timing; the time is summarised by op type (0: no trace).
    profile_steps: int = option(
        0, "Trace this many training steps per configuration with tf.profiler."
    )
    # TensorBoard's profile plugin reads them; empty: a temporary folder, removed afterwards.
    profile_dir: str = option("", "Keep the traces here (for TensorBoard); empty: discard them.")
    tiny: bool = option(False, "Tiny sizes: runs in seconds, for CI.")

    def validate(self) -> BenchmarkOptions:
        """Raises ValueError naming each bad option; returns the options to run."""
        unknown = [c for c in self.configs if c not in CONFIGS]
        if unknown or not self.configs:
            raise ValueError(f"--configs: unknown {unknown}; choose from {', '.join(CONFIGS)}.")
        errors = [e for v in (self.variant, *self.compare) for e in option_errors(v)]
        missing = [c for c in self.configs if c not in self.flagfiles]
        if missing:
            errors.append(
                f"flagfiles: no Config of {', '.join(f'{c}.flags' for c in missing)}; "
                "parse the installed flagfiles as svgpl_tf.benchmark.flagfile_configs does."
            )
        return validate_options(self, "Invalid benchmark options", errors)

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
