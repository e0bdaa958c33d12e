"""SVG-PL end to end: the perceptual term inside the model and the training run."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from svgpl_tf import runs
from svgpl_tf.config import Config
from svgpl_tf.losses import vgg_weights
from svgpl_tf.losses.perceptual import VGGPerceptualLoss
from svgpl_tf.training import loop


@pytest.fixture
def svgpl_config(tiny_config):
    return dataclasses.replace(
        tiny_config,
        perceptual_weight=0.01,
        perceptual_layers="block1_conv2,block2_conv2",
        perceptual_layer_weights="1,0.5",
        vgg_weights="random",
    ).validate()


def test_perceptual_weight_zero_builds_no_vgg(tiny_config, monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("a VGG16 was built for perceptual_weight=0")

    monkeypatch.setattr(vgg_weights, "build_vgg16_features", fail)
    monkeypatch.setattr("svgpl_tf.losses.perceptual.build_vgg16_features", fail)
    terms = runs.make_reconstruction_terms(tiny_config)
    assert [t.name for t in terms] == ["mse"]
    model = runs.build_model(tiny_config)
    values = model.test_step(tf.random.uniform([2, 4, 64, 64, 1], seed=0))
    assert set(values) == {"loss", "mse", "kl"}


def test_svgpl_step_logs_every_term_and_sums_them(svgpl_config):
    model = runs.build_model(svgpl_config)
    x = tf.random.uniform([2, 4, 64, 64, 1], seed=1)
    values = {k: float(v) for k, v in model.compute_loss_terms(x, training=False).items()}
    assert set(values) == {
        "loss",
        "mse",
        "perceptual",
        "perceptual/block1_conv2",
        "perceptual/block2_conv2",
        "kl",
    }
    np.testing.assert_allclose(
        values["perceptual"],
        values["perceptual/block1_conv2"] + 0.5 * values["perceptual/block2_conv2"],
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        values["loss"],
        values["mse"] + 0.01 * values["perceptual"] + svgpl_config.beta * values["kl"],
        rtol=1e-5,
    )
    logged = model.train_step(x)
    assert set(logged) == set(values)


def test_vgg_is_neither_trained_nor_checkpointed(tiny_config, svgpl_config, tmp_path):
    lp = runs.build_model(tiny_config)
    pl = runs.build_model(svgpl_config)
    assert len(pl.trainable_variables) == len(lp.trainable_variables)
    assert len(pl.weights) == len(lp.weights)
    term = pl.reconstruction_terms[1]
    vgg_before = [v.numpy().copy() for v in term.feature_extractor.weights]
    pl.train_step(tf.random.uniform([2, 4, 64, 64, 1], seed=2))
    for before, v in zip(vgg_before, term.feature_extractor.weights):
        np.testing.assert_array_equal(before, v.numpy())

    def saved_names(model, folder):
        _, manager = runs.make_checkpoint(model, str(tmp_path / folder))
        path = manager.save()
        return sorted(name for name, _ in tf.train.list_variables(path))

    assert saved_names(pl, "pl") == saved_names(lp, "lp")


def test_svgpl_training_run_records_weights(svgpl_config, tmp_path):
    workdir = str(tmp_path / "run")
    loop.train(dataclasses.replace(svgpl_config, sample_every=0), workdir, verbose=0)
    info = json.load(open(os.path.join(workdir, "run_info.json")))
    assert info["vgg_weights"] == "random(seed=0)"
    assert info["loss_terms"]["perceptual"]["layers"] == ["block1_conv2", "block2_conv2"]
    tags = set()
    for event_file in os.listdir(os.path.join(workdir, "tensorboard")):
        for event in tf.compat.v1.train.summary_iterator(
            os.path.join(workdir, "tensorboard", event_file)
        ):
            tags.update(v.tag for v in event.summary.value)
    assert {"perceptual", "perceptual/block1_conv2", "mse", "kl", "loss"} <= tags


def test_imagenet_is_the_default_offline_and_hed_one_flag_away():
    assert Config().vgg_weights == "imagenet"
    term = VGGPerceptualLoss(layers=("block1_conv2",))
    assert term.weights_description.startswith("imagenet(torchvision):")
    hed = VGGPerceptualLoss(layers=("block1_conv2",), vgg_weights="hed")
    assert hed.weights_description.startswith("hed:")
