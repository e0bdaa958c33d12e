"""Tests of the run configuration (`svgpl_tf.config`): validation, its file,
and the comparison of a saved configuration with a requested one."""

import dataclasses

import pytest

from svgpl_tf.config import Config, conflicts


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("backbone", "resnet", "--backbone"),
        ("image_size", 32, "--image_size"),
        ("n_past", 0, "--n_past"),
        ("prior", "flow", "--prior"),
        ("channels", 3, "SM-MNIST frames are grey"),
        ("sprites", "emoji", "--sprites"),
    ],
)
def test_config_errors_name_the_flag(field, value, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(Config(), **{field: value}).validate()


def test_config_json_round_trip(tmp_path):
    config = dataclasses.replace(Config(), beta=0.5, backbone="vgg")
    config.save(str(tmp_path))
    assert Config.load(str(tmp_path)) == config


def test_conflicts_ignore_run_options_and_unset_flags():
    saved = Config()
    requested = dataclasses.replace(saved, steps=10, beta=1.0, z_dim=3)
    assert conflicts(saved, requested) == [
        "--z_dim: saved 10, requested 3",
        "--beta: saved 0.0001, requested 1.0",
    ]
    assert conflicts(saved, requested, names={"z_dim", "steps"}) == [
        "--z_dim: saved 10, requested 3"
    ]


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(perceptual_layers="block1_conv2,fc1"), "unknown layers \\['fc1'\\]"),
        (dict(perceptual_layer_weights="1,2,3"), "3 values for 4"),
        (dict(perceptual_layer_weights="1,a,1,1"), "comma-separated numbers"),
        (dict(perceptual_distance="cosine"), "--perceptual_distance"),
        (dict(vgg_weights="/no/such/vgg16.h5"), "--vgg_weights"),
        (dict(perceptual_weight=-1.0), "--perceptual_weight"),
        (dict(pixel_weight=0.0, perceptual_weight=0.0), "nothing to reconstruct"),
    ],
)
def test_perceptual_config_errors(changes, message):
    config = dataclasses.replace(Config(), perceptual_weight=1.0)
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(config, **changes).validate()


def test_unequal_weights_and_perceptual_only_are_allowed():
    dataclasses.replace(Config(), pixel_weight=0.0, perceptual_weight=1.0).validate()
    dataclasses.replace(Config(), pixel_weight=0.3, perceptual_weight=0.7).validate()
