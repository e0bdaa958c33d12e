"""Training and evaluating on a folder of the user's videos (`--dataset=files:`)."""

import dataclasses
import os

import numpy as np
import pytest
from clip_files import moving_square, write_clip

from svgpl_tf import runs
from svgpl_tf.data import clips, pipeline
from svgpl_tf.data.clips import ClipError
from svgpl_tf.evaluation import job
from svgpl_tf.training import loop

NAMES = [
    "a.gif", "b.mp4", "c.avi", "d.npy", "e", "f.webm", "g.npy", "h.gif", "i.mp4", "j.npy",
    "k.npy",
]  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """11 clips in five kinds, RGB and grey, and one corrupt file."""
    root = tmp_path_factory.mktemp("videos")
    for i, name in enumerate(NAMES):
        write_clip(str(root / name), moving_square(8, rgb=i % 2 == 0, seed=i))
    (root / "broken.mp4").write_bytes(b"\x00" * 256)
    return str(root)


def _config(tiny_config, folder, **kwargs):
    return dataclasses.replace(
        tiny_config, dataset=f"files:{folder}", channels=1, sample_every=0, steps=2, **kwargs
    ).validate()


def test_a_corrupt_file_is_named_unless_skipped(tiny_config, folder):
    with pytest.raises(ClipError, match="broken.mp4: the video cannot be decoded.*--skip_bad"):
        pipeline.make_datasets(_config(tiny_config, folder))
    datasets = pipeline.make_datasets(_config(tiny_config, folder, skip_bad_files=True))
    assert "1 bad files skipped" in datasets.description
    # 12 files sorted by name: the 10th (i.mp4... by position 9) is held out.
    train, test = clips.split_files(clips.find_clips(folder))
    assert [os.path.basename(p) for p in test] == [sorted(NAMES + ["broken.mp4"])[9]]
    assert "10 train clips" in datasets.description  # 11 minus broken.mp4
    batch = next(iter(datasets.train))
    assert batch.shape == (2, 4, 64, 64, 1) and 0 <= float(np.min(batch)) <= 1
    (clip,) = datasets.test.unbatch().take(1)
    expected = clips.convert_clip(clips.read_clip(test[0]), 1, 64)[:4] / 255.0
    np.testing.assert_allclose(clip.numpy(), expected, atol=1e-6)


def test_trains_and_evaluates_on_the_folder(tiny_config, folder, tmp_path):
    config = _config(tiny_config, folder, skip_bad_files=True, num_test_sequences=1)
    workdir = str(tmp_path / "run")
    runs.preflight(config)
    model = loop.train(config, workdir, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2
    report = job.evaluate(
        workdir, str(tmp_path / "eval"), num_samples=2, num_shown=1, verbose=False
    )
    assert report["protocol"]["num_sequences"] == 1
    assert "files:" in report["protocol"]["test_split"]


def test_frames_of_another_size_need_resize(tiny_config, tmp_path):
    for i in range(2):
        write_clip(str(tmp_path / f"{i}.npy"), moving_square(6, size=80, seed=i))
    with pytest.raises(ClipError, match="80x80 but the model takes 64x64"):
        pipeline.make_datasets(_config(tiny_config, str(tmp_path)))
    datasets = pipeline.make_datasets(_config(tiny_config, str(tmp_path), resize="crop"))
    assert "resized by crop" in datasets.description
    with pytest.raises(ValueError, match="--resize='zoom'"):
        _config(tiny_config, str(tmp_path), resize="zoom")
