"""The option system: each field declared once with `option` (choices, bounds,
run option), one generic validator, and the flags made from the declarations."""

import dataclasses

import pytest
from absl import flags

from svgpl_tf import choices, entry
from svgpl_tf import flags as svg_flags
from svgpl_tf.benchmarks import BenchmarkOptions, Variant
from svgpl_tf.choices import Option, option, option_errors, options_of, validate_options
from svgpl_tf.config import RUN_OPTIONS, Config
from svgpl_tf.evaluation import metrics
from svgpl_tf.evaluation.options import EvalOptions
from svgpl_tf.serving.export_options import ExportOptions
from svgpl_tf.serving.predict_lib import VIDEO_FORMATS, PredictOptions

OPTION_CLASSES = [Config, EvalOptions, ExportOptions, PredictOptions, BenchmarkOptions, Variant]

# The fields that may differ when a run resumes (once a hand-written list).
EXPECTED_RUN_OPTIONS = {
    "init_from",
    "steps",
    "log_every",
    "checkpoint_every",
    "sample_every",
    "keep_checkpoints",
    "mnist_path",
    "offline",
    "skip_bad_files",
    "jit_compile",
    "precompute_skips",
    "fused_batchnorm",
    "precision",
    "strategy",
    "devices",
    "tfds_data_dir",
    "tfds_download",
    "data_dir",
    "eval_num_samples",
    "eval_n_future",
    "lr_warmup_steps",
}

# The fixed-choice fields of each class and what they accept.
EXPECTED_CHOICES = {
    Config: {
        "backbone": choices.BACKBONES,
        "image_size": choices.SUPPORTED_IMAGE_SIZES,
        "channels": (1, 3),
        "prior": choices.PRIORS,
        "pixel_loss": choices.PIXEL_LOSSES,
        "perceptual_distance": choices.DISTANCES,
        "resize": ("", *choices.RESIZE_MODES),
        "sprites": choices.SPRITE_SOURCES,
        "init": choices.INITS,
        "lstm_bias": choices.LSTM_BIASES,
        "batchnorm_stats": choices.BATCHNORM_STATS,
        "feedback_z": choices.FEEDBACK_Z,
        "strategy": choices.STRATEGIES,
        "precision": choices.PRECISION_CHOICES,
    },
    EvalOptions: {
        "ssim_mode": metrics.SSIM_MODES,
        "sampling_batchnorm": choices.SAMPLING_BATCHNORM,
        "lpips": choices.LPIPS_CHOICES,
        "best_by": choices.BEST_BY,
    },
    ExportOptions: {"precision": choices.PRECISIONS},
    PredictOptions: {"resize": choices.RESIZE_MODES, "video_format": VIDEO_FORMATS},
    BenchmarkOptions: {},
    Variant: {"precision": choices.PRECISIONS, "transpose_kernels": choices.TRANSPOSE_KERNELS},
}

# The bounds of each class: name -> (min, greater_than, less_than).
EXPECTED_BOUNDS = {
    Config: {
        **{n: (1, None, None) for n in ("g_dim", "nf", "z_dim", "rnn_size", "n_past")},
        **{n: (1, None, None) for n in ("n_future", "batch_size", "steps", "num_sprites")},
        **{n: (1, None, None) for n in ("log_every", "checkpoint_every", "keep_checkpoints")},
        **{n: (1, None, None) for n in ("num_test_sequences", "eval_num_samples")},
        **{n: (1, None, None) for n in ("shuffle_buffer",)},
        **{n: (1, None, None) for n in ("predictor_rnn_layers", "posterior_rnn_layers")},
        "prior_rnn_layers": (1, None, None),
        **{n: (0, None, None) for n in ("sample_every", "eval_n_future", "beta")},
        **{n: (0, None, None) for n in ("pixel_weight", "perceptual_weight", "ssim_weight")},
        "learning_rate": (None, 0, None),
        "lr_warmup_steps": (0, None, None),
        "feedback_rate": (0, None, None),
        "adam_epsilon": (None, 0, None),
        "beta_1": (0, None, 1),
    },
    EvalOptions: {
        **{n: (1, None, None) for n in ("num_samples", "num_sequences", "n_past", "n_future")},
        **{n: (1, None, None) for n in ("batch_size", "num_shards")},
        **{n: (0, None, None) for n in ("step", "num_shown", "num_random_shown", "shard_index")},
        "seed": (0, None, 2**31),
    },
    ExportOptions: {
        n: (1, None, None)
        for n in ("version", "num_samples", "horizon", "max_num_samples", "max_horizon")
    },
    PredictOptions: {
        "num_samples": (1, None, None),
        "horizon": (1, None, None),
        "start": (0, None, None),
        "seed": (0, None, 2**31),
    },
    BenchmarkOptions: {
        n: (1, None, None)
        for n in (
            "steps",
            "warmup_steps",
            "sample_sequences",
            "sample_context",
            "sample_horizon",
            "num_samples",
            "sample_repeats",
            "serving_repeats",
            "pipeline_batches",
            "matmul_size",
            "matmul_repeats",
        )
    },
    Variant: {},
}

# The benchmark binary's flags (once written by hand): name -> (type, default).
BENCHMARK_FLAGS = {
    "configs": (
        "comma separated list of strings",
        ["smmnist_svglp", "smmnist_svgpl", "bair_svglp"],
    ),
    "precision": ("string enum", "float32"),
    "jit_compile": ("bool", False),
    "precompute_skips": ("bool", True),
    "fused_batchnorm": ("bool", True),
    "compiled_elementwise": ("bool", True),
    "transpose_kernels": ("string enum", "auto"),
    "compare": ("comma separated list of strings", []),
    "steps": ("int", 10),
    "warmup_steps": ("int", 2),
    "num_samples": ("int", 100),
    "sample_repeats": ("int", 1),
    "serving": ("bool", True),
    "serving_repeats": ("int", 10),
    "loss_curve_steps": ("int", 0),
    "matmul_size": ("int", 4096),
    "profile_steps": ("int", 0),
    "profile_dir": ("string", ""),
    "tiny": ("bool", False),
}


def test_run_options_are_the_fields_declared_run_option():
    assert RUN_OPTIONS == EXPECTED_RUN_OPTIONS
    declared = {n for n, spec in options_of(Config).items() if spec.run_option}
    assert declared == EXPECTED_RUN_OPTIONS


@pytest.mark.parametrize("cls", OPTION_CLASSES, ids=lambda c: c.__name__)
def test_declared_choices_and_bounds(cls):
    specs = options_of(cls)
    assert {n: s.choices for n, s in specs.items() if s.choices} == EXPECTED_CHOICES[cls]
    bounds = {n: (s.min, s.greater_than, s.less_than) for n, s in specs.items()}
    assert {n: b for n, b in bounds.items() if b != (None, None, None)} == EXPECTED_BOUNDS[cls]


@pytest.mark.parametrize("cls", OPTION_CLASSES, ids=lambda c: c.__name__)
def test_defaults_are_valid_and_every_declaration_rejects(cls):
    default = cls()
    assert option_errors(default) == []
    for name, spec in options_of(cls).items():
        bad = []
        if spec.choices:
            bad.append("nope" if isinstance(spec.choices[0], str) else -7)
        if spec.min is not None:
            bad.append(spec.min - 1)
        if spec.greater_than is not None:
            bad.append(spec.greater_than)
        if spec.less_than is not None:
            bad.append(spec.less_than)
        for value in bad:
            errors = option_errors(dataclasses.replace(default, **{name: value}))
            assert errors == [f"--{name}={value!r}: {spec.rule()}."], (name, value)


def test_rules_and_messages():
    assert Option("h", min=1).error("batch_size", 0) == "--batch_size=0: must be >= 1."
    assert Option("h", min=0).error("beta", -1.0) == "--beta=-1.0: must be >= 0."
    assert (
        Option("h", greater_than=0).error("learning_rate", 0) == "--learning_rate=0: must be > 0."
    )
    assert (
        Option("h", min=0, less_than=1).error("beta_1", 1.0) == "--beta_1=1.0: must be in [0, 1)."
    )
    assert Option("h", greater_than=0, less_than=1).rule() == "must be in (0, 1)"
    assert Option("h", less_than=3).rule() == "must be < 3"
    spec = Option("h", choices=("a", "b"))
    assert spec.error("x", "c") == "--x='c': choose one of ('a', 'b')."
    assert spec.error("x", "a") is None and spec.error("x", None) is None  # None: unset
    custom = Option("h", min=1, message="at least one context frame is needed")
    assert custom.error("n_past", 0) == "--n_past=0: at least one context frame is needed."
    assert Option("h", min=1).error("steps", 1) is None
    assert Option("h", min=0, less_than=1).error("beta_1", 0) is None


def test_validate_options_lists_field_errors_then_cross_field_ones():
    @dataclasses.dataclass(frozen=True)
    class Options:
        steps: int = option(10, "Steps.", min=1)
        mode: str = option("a", "Mode.", choices=("a", "b"))
        note: str = "not an option: neither checked nor a flag"

    assert validate_options(Options(), "Invalid options") == Options()
    with pytest.raises(ValueError) as info:
        validate_options(Options(steps=0, mode="c"), "Invalid options", ["both wrong."])
    assert str(info.value) == (
        "Invalid options:\n  --steps=0: must be >= 1.\n  --mode='c': choose one of ('a', 'b')."
        "\n  both wrong."
    )
    values = flags.FlagValues()
    svg_flags.define_option_flags(Options, values)
    assert set(values) == {"steps", "mode"}


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(batch_size=0), "--batch_size=0: must be >= 1."),
        (dict(n_past=0), "--n_past=0: at least one context frame is needed."),
        (dict(backbone="resnet"), "--backbone='resnet': choose one of ('dcgan', 'vgg')."),
        (dict(image_size=32), "--image_size=32: the backbones are defined for (64,) only"),
        (dict(channels=2), "--channels=2: use 1 or 3."),
        (dict(resize="zoom"), "--resize='zoom': choose one of ('crop', 'pad', 'stretch') (or"),
        (dict(learning_rate=0.0), "--learning_rate=0.0: must be > 0."),
        (dict(beta_1=1.0), "--beta_1=1.0: must be in [0, 1)."),
        (dict(sample_every=-1), "--sample_every=-1: must be >= 0."),
    ],
)  # fmt: skip
def test_config_messages(changes, message):
    with pytest.raises(ValueError, match="Invalid configuration") as info:
        dataclasses.replace(Config(), **changes).validate()
    assert message in str(info.value)


@pytest.mark.parametrize("cls", OPTION_CLASSES, ids=lambda c: c.__name__)
def test_string_fields_with_choices_are_enum_flags(cls):
    values = flags.FlagValues()
    svg_flags.define_option_flags(cls, values)
    specs = options_of(cls)
    assert set(values) == {n for n, s in specs.items() if s.flag}
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    for name in values:
        is_enum = values[name].flag_type() == "string enum"
        assert is_enum == (bool(specs[name].choices) and types[name].startswith("str"))
        default = getattr(cls(), name)
        if isinstance(default, tuple):  # a list flag; parsed items by name
            default = [getattr(item, "name", item) for item in default]
        assert values[name].default == default, name


def test_a_bad_choice_fails_at_parsing_with_the_options_message():
    values = flags.FlagValues()
    svg_flags.define_config_flags(values)
    with pytest.raises(flags.IllegalFlagValueError) as info:
        values(["svgpl-train", "--backbone=resnet"])
    assert "--backbone='resnet': choose one of ('dcgan', 'vgg')." in str(info.value)
    values(["svgpl-train", "--resize=", "--strategy=mirrored"])  # "" is a choice of --resize
    assert (values["resize"].value, values["strategy"].value) == ("", "mirrored")


def test_the_benchmark_flags_are_generated_unchanged():
    values = flags.FlagValues()
    svg_flags.define_option_flags(Variant, values)
    svg_flags.define_option_flags(BenchmarkOptions, values)
    assert {n: (values[n].flag_type(), values[n].default) for n in values} == BENCHMARK_FLAGS
    values(["svgpl-benchmark", "--compare=mixed_bfloat16+xla,float32+plain", "--steps=3"])
    variant = svg_flags.options_from_flags(Variant, values)
    options = svg_flags.options_from_flags(BenchmarkOptions, values, variant=variant)
    assert options.compare == (Variant("mixed_bfloat16", jit_compile=True), Variant.parse("plain"))
    assert (options.configs, options.steps, options.variant) == (
        ("smmnist_svglp", "smmnist_svgpl", "bair_svglp"),
        3,
        Variant(),
    )


def test_the_absl_api_config_from_flagfile_relies_on(tmp_path):
    """`config_from_flagfile` parses into a `FlagValues` of its own: calling one
    with an argv parses it, a flag's `.value` and `.present` (counting flags set
    in a flagfile) read it, and the global `FLAGS` are left alone. All of it is
    public absl API; this pins it."""
    flagfile = tmp_path / "mine.flags"
    flagfile.write_text("--steps=7\n--backbone=vgg\n")
    values = flags.FlagValues()
    svg_flags.define_config_flags(values)
    assert values(entry.resolve_flagfiles(["x", f"--flagfile={flagfile}", "--z_dim=3"])) == ["x"]
    assert (values["steps"].value, values["steps"].present) == (7, 1)
    assert (values["z_dim"].value, values["beta"].present) == (3, 0)
    config, explicit = svg_flags.config_from_flags(values)
    assert explicit == {"steps", "backbone", "z_dim"} and config.backbone == "vgg"
    global_flags = set(flags.FLAGS)
    assert svg_flags.config_from_flagfile(str(flagfile)) == dataclasses.replace(
        Config(), steps=7, backbone="vgg"
    )
    assert set(flags.FLAGS) == global_flags  # the process's own flags are left alone
    # The flags belong to the module that defines them (its --helpshort), not to svgpl_tf.flags.
    assert values.find_module_defining_flag("steps") == __name__


def test_a_bad_value_in_a_flagfile_is_one_value_error_naming_the_file(tmp_path):
    flagfile = tmp_path / "bad.flags"
    flagfile.write_text("--steps=7\n--backbone=resnet\n")
    with pytest.raises(ValueError) as info:
        svg_flags.config_from_flagfile(str(flagfile))
    message = str(info.value)
    assert message.startswith(f"flagfile {flagfile}: ")
    assert "--backbone='resnet': choose one of ('dcgan', 'vgg')." in message
    assert "\n" not in message
