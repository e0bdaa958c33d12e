"""The benchmark's variants, options, and configurations from the installed flagfiles."""

import dataclasses

import pytest
from helpers import flagfile_configs

from svgpl_tf import entry
from svgpl_tf import flags as svg_flags
from svgpl_tf.benchmarks import CONFIGS, BenchmarkOptions, Variant
from svgpl_tf.benchmarks.options import describe_configs, make_config

# The only fields the benchmark sets on top of a flagfile: sizes of the measurement.
MEASUREMENT_FIELDS = {"batch_size", "sprites"}


def test_variant_names_parse_back():
    specs = (
        "float32",
        "mixed_bfloat16+xla",
        "float32+plain+unfused",
        "mixed_float16+xla+plain",
        "mixed_bfloat16+eigen",
        "float32+native",
        "mixed_bfloat16+xla+phases",
    )
    for spec in specs:
        assert Variant.parse(spec).name == spec
    assert not Variant.parse("mixed_bfloat16+eigen").compiled_elementwise
    assert Variant.parse("mixed_bfloat16").compiled_elementwise
    assert Variant.parse("native").transpose_kernels == "native"
    assert Variant.parse("float32").transpose_kernels == "auto"
    with pytest.raises(ValueError, match="Unknown variant token"):
        Variant.parse("float32+fast")


def test_options_are_validated():
    with pytest.raises(ValueError, match="--configs"):
        BenchmarkOptions(configs=("imagenet",)).validate()
    with pytest.raises(ValueError, match="--steps"):
        BenchmarkOptions(steps=0).validate()
    with pytest.raises(ValueError, match="flagfiles: no Config of bair_svglp.flags"):
        BenchmarkOptions(flagfiles=flagfile_configs(["smmnist_svglp", "smmnist_svgpl"])).validate()
    assert BenchmarkOptions(flagfiles=flagfile_configs()).validate()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_configs_are_the_installed_flagfiles(name):
    """A benchmarked configuration is the experiment of the same name, with only
    the measurement's batch size and sprite source changed."""
    assert name in entry.flagfile_names()
    assert set(CONFIGS[name]) <= MEASUREMENT_FIELDS
    flagfile = svg_flags.config_from_flagfile(name)
    options = BenchmarkOptions(configs=(name,), flagfiles={name: flagfile})
    config = make_config(name, Variant(), options)
    assert config == dataclasses.replace(flagfile, **CONFIGS[name])
    variant = make_config(name, Variant("mixed_bfloat16", precompute_skips=False), options)
    assert (variant.precision, variant.precompute_skips) == ("mixed_bfloat16", False)
    tiny = dataclasses.replace(options, tiny=True)
    assert make_config(name, Variant(), tiny).validate()
    described = describe_configs(options)[name]
    assert described["flagfile"] == f"{name}.flags"
    assert described["overrides"] == CONFIGS[name]
    assert described["config"] == config.to_dict()


def test_bair_context_is_the_flagfiles():
    """The benchmark once ran BAIR SVG-LP with 2 context frames, the flagfile 5."""
    options = BenchmarkOptions(configs=("bair_svglp",), flagfiles=flagfile_configs(["bair_svglp"]))
    config = make_config("bair_svglp", Variant(), options)
    assert (config.n_past, config.n_future) == (5, 10)
    assert (config.backbone, config.channels, config.z_dim) == ("vgg", 3, 64)
