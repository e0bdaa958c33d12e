"""Tests of predicting from the user's clip (`svgpl_tf.serving.predict_lib`, `svgpl-predict`)
with each model source: a training workdir, a weights-only checkpoint, a SavedModel."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from clip_files import moving_square, write_clip
from helpers import run_module
from PIL import Image

from svgpl_tf import runs
from svgpl_tf.data import clips
from svgpl_tf.data.clips import ClipError
from svgpl_tf.serving import predict_lib


@pytest.fixture(scope="module")
def sources(workdir, exported, tmp_path_factory):
    """The shared tiny run as its three model sources."""
    weights = str(tmp_path_factory.mktemp("predict") / "weights")
    runs.write_weights_only(workdir, weights)
    return {"workdir": workdir, "weights": weights, "savedmodel": exported.path}


@pytest.mark.parametrize("source", ["workdir", "weights", "savedmodel"])
@pytest.mark.parametrize("clip", ["clip.gif", "clip.mp4", "frames"])
def test_futures_of_a_clip_from_every_source(sources, source, clip, tmp_path):
    path = write_clip(str(tmp_path / clip), moving_square(7))
    out = str(tmp_path / "out")
    info = predict_lib.predict(sources[source], path, out, num_samples=3, horizon=4, seed=5,
                               save_npy=True)  # fmt: skip
    assert info["model_kind"] == ("savedmodel" if source == "savedmodel" else "workdir")
    assert info["context_frames"] == [5, 6] and not info["truth_shown"]  # the last n_past = 2
    samples = np.load(os.path.join(out, predict_lib.NPY_FILE))
    assert samples.shape == (3, 4, 64, 64, 1) and 0 <= samples.min() and samples.max() <= 1
    # The frames are the model's own samples of that context and seed.
    context = clips.convert_clip(clips.read_clip(path), 1, 64)[5:7][None] / 255.0
    model, _, _ = runs.restore_model(sources["workdir"])
    want = model.sample(tf.constant(context, tf.float32), 4, 3, seed=tf.constant([5], tf.int64))
    np.testing.assert_allclose(samples, want.numpy()[0], atol=1e-4)
    with Image.open(os.path.join(out, "predictions.gif")) as gif:
        assert gif.n_frames == 2 + 4  # the context, then the predicted frames
        assert gif.size == (3 * 68, 68)  # three samples side by side, 2 px borders
    with Image.open(os.path.join(out, predict_lib.GRID_FILE)) as grid:
        assert grid.size == (6 * 65 + 1, 3 * 65 + 1)  # rows: samples; columns: 2 + 4 frames
    written = json.load(open(os.path.join(out, predict_lib.INFO_FILE)))
    assert written["horizon"] == 4 and written["num_samples"] == 3


def test_start_shows_the_clip_going_on_and_mp4_output(sources, tmp_path):
    path = write_clip(str(tmp_path / "clip.npy"), moving_square(10))
    out = str(tmp_path / "out")
    info = predict_lib.predict(
        sources["workdir"], path, out, num_samples=2, horizon=3, start=1, video_format="mp4"
    )
    assert info["context_frames"] == [1, 2] and info["truth_shown"]
    video = clips.read_clip(os.path.join(out, "predictions.mp4"))
    assert video.shape == (2 + 3, 68, 3 * 68, 3)  # truth, then two samples
    # The first column of a predicted frame is the clip's own next frame.
    truth = moving_square(10)[3, ..., 0].astype(int)
    shown = video[2, 2:66, 2:66].mean(-1)
    assert np.abs(shown - truth).mean() < 10


def test_same_seed_same_futures(sources, tmp_path):
    path = write_clip(str(tmp_path / "c.npy"), moving_square(4))
    a, b = (str(tmp_path / n) for n in "ab")
    for out in (a, b):
        predict_lib.predict(sources["savedmodel"], path, out, num_samples=2, seed=3, save_npy=True)
    np.testing.assert_array_equal(np.load(f"{a}/predictions.npy"), np.load(f"{b}/predictions.npy"))


def test_bad_inputs_are_named_before_loading(sources, tmp_path, monkeypatch):
    def no_restore(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(runs, "restore_model", no_restore)
    monkeypatch.setattr(tf.saved_model, "load", no_restore)
    short = write_clip(str(tmp_path / "short.gif"), moving_square(1))
    big = write_clip(str(tmp_path / "big.npy"), moving_square(4, size=96))
    ok = write_clip(str(tmp_path / "ok.npy"), moving_square(4))
    cases = [
        (sources["workdir"], short, {}, ClipError, "1 frames, but the model takes 2"),
        (sources["workdir"], ok, dict(start=3), ClipError, "from frame 3"),
        (sources["workdir"], big, {}, ClipError, "96x96 but the model takes 64x64"),
        (sources["savedmodel"], ok, dict(horizon=9), ValueError, "max_horizon=8"),
        (sources["savedmodel"], ok, dict(num_samples=9), ValueError, "max_num_samples=8"),
        (
            os.path.dirname(sources["savedmodel"]),
            ok,
            {},
            ValueError,
            r"holds versions 1(, \d+)*: give one",
        ),
        (str(tmp_path / "nothing"), ok, {}, FileNotFoundError, "no such folder"),
        (sources["workdir"], ok, dict(num_samples=0), ValueError, "--num_samples=0"),
    ]
    for model, clip, kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            predict_lib.predict(model, clip, str(tmp_path / "out"), **kwargs)


def test_a_savedmodel_of_another_model_is_refused(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda x: x, input_signature=[tf.TensorSpec([None], tf.float32)])
    path = str(tmp_path / "other" / "1")
    tf.saved_model.save(module, path)
    with pytest.raises(ValueError, match="not one svgpl-export wrote"):
        predict_lib.describe_model(path)


def test_binary_predicts_and_reports_bad_input_in_one_line(sources, tmp_path):
    clip = write_clip(str(tmp_path / "clip.gif"), moving_square(5))
    out = str(tmp_path / "out")
    done = run_module(
        "svgpl_tf.predict", f"--model={sources['weights']}", f"--input={clip}",
        f"--output_dir={out}", "--num_samples=2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Sampled 2 futures of 2 frames after frames 3-4" in done.stdout
    assert os.path.isfile(os.path.join(out, "predictions.gif"))
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01" * 64)
    bad = run_module(
        "svgpl_tf.predict", f"--model={sources['weights']}", f"--input={corrupt}",
        f"--output_dir={tmp_path / 'bad'}",
    )  # fmt: skip
    assert bad.returncode != 0
    assert "corrupt.mp4: the video cannot be decoded" in bad.stderr
    assert "Traceback" not in bad.stderr
