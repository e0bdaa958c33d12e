"""What the options accept, and how an option declares it: one home for each.

The lists of values (`BACKBONES`, `PRECISIONS`, ...) live here, and so does
the option system: every field of an options dataclass (`Config`,
`EvalOptions`, `ExportOptions`, `PredictOptions` and the benchmark's options)
is declared once with `option`, its default, help, accepted values and
bounds, and whether it is a flag or a run option. `svgpl_tf.flags` makes the
binaries' flags from these declarations, and `validate_options` checks every
field against them; each class adds only its cross-field checks.

`svgpl_tf.config` validates against these, and the models, losses, data and
distribution code that implement them import them from here, so importing
the configuration needs neither TensorFlow nor Keras.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")


# Frame sizes the two backbones are defined for.
SUPPORTED_IMAGE_SIZES = (64,)
# Frame encoder/decoder pairs (`models.backbones.make_backbone`).
BACKBONES = ("dcgan", "vgg")
# Priors over z_t: learned (SVG-LP) or fixed N(0, I) (SVG-FP).
PRIORS = ("learned", "fixed")
# Weight initialisations (`models.init`).
INITS = ("reference", "keras")
# Training-mode BatchNorm statistics of the encoder and decoder.
BATCHNORM_STATS = ("per_step", "pooled")

# Where the first pass of `--feedback_rate` draws z: the posterior (it reads the
# true frame) or the learned prior (as the model samples).
FEEDBACK_Z = ("posterior", "prior")
# BatchNorm statistics while sampling (`SVGModel.sample`): the moving
# averages; batch statistics over the sequences sampled together (the
# reference's generation); batch statistics of each sequence alone.
SAMPLING_BATCHNORM = ("moving", "batch", "sequence")
# LPIPS networks of the evaluation (--lpips; `evaluation.lpips`), or none.
LPIPS_CHOICES = ("alex", "vgg", "off")
# How the best (worst) of N samples is chosen (--best_by): one sample by mean
# SSIM for every metric (SVG's code), or each metric's own (SRVP's, SLAMP's).
BEST_BY = ("ssim", "each")
# Distances between VGG16 feature maps in the perceptual term.
DISTANCES = ("l1", "l2", "squared_l2")
# Pixel reconstruction terms (--pixel_loss): the paper's MSE, binary cross-entropy, or L1.
PIXEL_LOSSES = ("mse", "bce", "l1")
# The 13 convolutions of VGG16, in network order (Keras layer names).
VGG16_CONV_LAYERS: tuple[str, ...] = (
    "block1_conv1",
    "block1_conv2",
    "block2_conv1",
    "block2_conv2",
    "block3_conv1",
    "block3_conv2",
    "block3_conv3",
    "block4_conv1",
    "block4_conv2",
    "block4_conv3",
    "block5_conv1",
    "block5_conv2",
    "block5_conv3",
)
# Sprite sources of SM-MNIST (`data.digits.load_sprites`).
SPRITE_SOURCES = ("procedural", "mnist", "mnist5k")
# Side length of every SM-MNIST sprite in pixels, and the sprite splits.
SPRITE_SIZE = 32
SPRITE_SPLITS = ("train", "test")
# Values of --strategy (`distribute.make_strategy`).
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# Frames per clip of the BAIR datasets.
BAIR_FRAMES = 30
# How frames of another size become the model's (--resize).
RESIZE_MODES = ("crop", "pad", "stretch")
# Seeds of the sampled futures are below 2**31 (a non-negative int32), and
# the rule their errors state.
SEED_LIMIT = 2**31
SEED_RULE = "must be in [0, 2**31)"
# Datasets the training binary can read; also "tfds:NAME" for any TFDS video set.
DATASETS = ("smmnist", "bair", "bair_softmotion")
# Precision policies of training, evaluation and export.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# Kernels of transposed convolutions and input gradients (`svgpl_tf.models.conv_ops`):
# `auto` takes `phases` where TensorFlow runs without oneDNN and `native` elsewhere.
TRANSPOSE_KERNELS = ("auto", "native", "phases")
# What --precision accepts: a policy, or `auto` (the machine's choice, see
# `svgpl_tf.machine.resolve_precision`), resolved before a model is built.
PRECISION_CHOICES = ("auto", *PRECISIONS)
# Named sources of the perceptual VGG16 weights (or a file path).
VGG_WEIGHT_SOURCES = ("hed", "imagenet", "random")
# Choices of --lstm_bias.
LSTM_BIASES = ("double", "single")


@dataclasses.dataclass(frozen=True)
class Option:
    """What `option` declares about a field besides its default.

    Attributes:
        help: the flag's help.
        choices: the values the field accepts, if fixed; a string field
            with choices is an enum flag.
        min: the smallest value allowed (`>= min`).
        greater_than: a strict lower bound (`> greater_than`).
        less_than: a strict upper bound (`< less_than`).
        message: what an error says after `--NAME=VALUE: ` instead of the
            generated `choose one of ...` or `must be ...`.
        run_option: the field may differ between a run and the run it
            resumes (see `RUN_OPTIONS`).
        flag: the field is a flag of the binaries.
        parse: for a tuple field, turns each item of its list flag into the
            field's item (e.g. `Variant.parse`); None keeps the strings.
    """

    help: str
    choices: tuple = ()
    min: float | None = None
    greater_than: float | None = None
    less_than: float | None = None
    message: str = ""
    run_option: bool = False
    flag: bool = True
    parse: Any = None

    def rule(self) -> str:
        """What a valid value is, e.g. `must be >= 1` or `must be in [0, 1)`."""
        if self.message:
            return self.message
        if self.choices:
            return f"choose one of {self.choices}"
        if self.less_than is not None and (self.min, self.greater_than) != (None, None):
            low = f"[{self.min}" if self.min is not None else f"({self.greater_than}"
            return f"must be in {low}, {self.less_than})"
        if self.min is not None:
            return f"must be >= {self.min}"
        if self.greater_than is not None:
            return f"must be > {self.greater_than}"
        return f"must be < {self.less_than}"

    def error(self, name: str, value: Any) -> str | None:
        """`--NAME=VALUE: RULE.` if `value` breaks the declaration, else None.

        None (an unset optional field) is always valid.

        Example:
            >>> Option("Batch size.", min=1).error("batch_size", 0)
            '--batch_size=0: must be >= 1.'
        """
        if value is None:
            return None
        ok = not self.choices or value in self.choices
        ok = ok and (self.min is None or value >= self.min)
        ok = ok and (self.greater_than is None or value > self.greater_than)
        ok = ok and (self.less_than is None or value < self.less_than)
        return None if ok else f"--{name}={value!r}: {self.rule()}."


def option(
    default: Any,
    help: str,
    *,
    choices: tuple = (),
    min: float | None = None,
    greater_than: float | None = None,
    less_than: float | None = None,
    message: str = "",
    run_option: bool = False,
    flag: bool = True,
    parse: Any = None,
) -> Any:
    """A dataclass field that declares everything about an option once.

    The field is a flag of the binaries (`svgpl_tf.flags`) and is checked by
    `validate_options`; the arguments are those of `Option`.

    Args:
        default: the default value (None: unset, always valid).
        help: the flag's help.
        choices: the accepted values, if fixed (a string field: an enum flag).
        min: inclusive lower bound.
        greater_than: exclusive lower bound (`> 0`, where `min=0` is `>= 0`).
        less_than: exclusive upper bound.
        message: the error's text instead of the generated rule.
        run_option: may differ when a run resumes (`RUN_OPTIONS`).
        flag: False keeps the field out of the binaries' flags.
        parse: turns each item of a tuple field's list flag into an item.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Options:
        ...     steps: int = option(10, "Training steps.", min=1)
        >>> validate_options(Options(steps=0), "Invalid options")
        Traceback (most recent call last):
        ...
        ValueError: Invalid options:
          --steps=0: must be >= 1.
    """
    spec = Option(
        help, tuple(choices), min, greater_than, less_than, message, run_option, flag, parse
    )
    return dataclasses.field(default=default, metadata={"option": spec})


def options_of(cls) -> dict[str, Option]:
    """The declarations of a dataclass's fields made with `option`.

    Args:
        cls: an options dataclass, or an instance of one.

    Returns:
        `{name: Option}` in field order; fields not made with `option`
        (e.g. `BenchmarkOptions.flagfiles`) are left out.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Options:
        ...     steps: int = option(10, "Training steps.", min=1, run_option=True)
        >>> options_of(Options)["steps"].run_option
        True
    """
    return {f.name: f.metadata["option"] for f in dataclasses.fields(cls) if "option" in f.metadata}


def option_errors(options) -> list[str]:
    """One message per field that breaks its `option` declaration.

    Args:
        options: an instance of an options dataclass.

    Returns:
        `--NAME=VALUE: RULE.` for each field outside its choices or bounds,
        in field order (see `Option.error`).

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Options:
        ...     mode: str = option("a", "Mode.", choices=("a", "b"))
        >>> option_errors(Options(mode="c"))
        ["--mode='c': choose one of ('a', 'b')."]
    """
    errors = (
        spec.error(name, getattr(options, name)) for name, spec in options_of(options).items()
    )
    return [e for e in errors if e]


def validate_options(options: T, title: str, errors: Iterable[str] = ()) -> T:
    """Checks every field of `options` against its declaration, then adds the
    class's own cross-field `errors`; raises one ValueError listing them all.

    Args:
        options: an instance of a dataclass declared with `option`.
        title: the error's first line, e.g. `Invalid configuration`.
        errors: messages of the class's cross-field checks.

    Returns:
        `options`, when nothing is wrong.

    Example:
        >>> @dataclasses.dataclass(frozen=True)
        ... class Options:
        ...     lpips: str = option("alex", "LPIPS network.", choices=("alex", "vgg"))
        >>> validate_options(Options(), "Invalid options").lpips
        'alex'
    """
    found = [*option_errors(options), *errors]
    if found:
        raise ValueError(f"{title}:\n  " + "\n  ".join(found))
    return options
