"""Tests of the BAIR / TFDS / softmotion video readers and their pipelines."""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from svgpl_tf.config import Config
from svgpl_tf.data import video
from svgpl_tf.data.pipeline import make_datasets
from svgpl_tf.training import loop


@pytest.fixture
def bair_config(tiny_config):
    return dataclasses.replace(
        tiny_config, dataset="bair", channels=3, n_past=2, n_future=3, tfds_data_dir="/nonexistent"
    ).validate()


def _write_softmotion(folder, clips, key="image_main"):
    """Writes clips [n, 30, h, w, 3] uint8 as the original BAIR TFRecords."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "traj_0_to_255.tfrecords")
    with tf.io.TFRecordWriter(path) as writer:
        for clip in clips:
            feature = {
                f"{t}/{key}/encoded": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[frame.tobytes()])
                )
                for t, frame in enumerate(clip)
            }
            feature.update(
                {
                    f"{t}/action": tf.train.Feature(float_list=tf.train.FloatList(value=[0.0] * 4))
                    for t in range(len(clip))
                }
            )
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


def _clips(n, seed, shape=(64, 64, 3)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 30, *shape), dtype=np.uint8)


def test_bair_through_tfds_mock(bair_config):
    with tfds.testing.mock_data(num_examples=6):
        raw = [
            c.numpy()
            for c in video.load_tfds_videos("bair_robot_pushing_small", "test", "image_main")
        ]
        data = make_datasets(bair_config)
        train = next(iter(data.train)).numpy()
        test_a = np.concatenate([b.numpy() for b in data.test])
        test_b = np.concatenate([b.numpy() for b in data.test])
    assert train.shape == (2, 5, 64, 64, 3) and train.dtype == np.float32
    assert 0.0 <= train.min() and train.max() <= 1.0
    assert test_a.shape == (4, 5, 64, 64, 3)  # num_test_sequences=4
    np.testing.assert_array_equal(test_a, test_b)  # fixed, deterministic
    # The test windows are frames 0..4 of the first clips, scaled to [0, 1].
    np.testing.assert_allclose(test_a, np.stack(raw[:4])[:, :5] / 255.0, atol=1e-6)
    assert "bair_robot_pushing_small" in data.description


def test_training_step_on_bair_shaped_batches(bair_config, tmp_path):
    config = dataclasses.replace(bair_config, backbone="vgg", steps=2, sample_every=2)
    with tfds.testing.mock_data(num_examples=4):
        model = loop.train(config, str(tmp_path / "run"), verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2
    assert os.path.exists(tmp_path / "run" / "samples" / "step_0000002.png")


def test_any_tfds_video_dataset(bair_config):
    config = dataclasses.replace(
        bair_config, dataset="tfds:bair_robot_pushing_small", video_key="image_aux1"
    )
    with tfds.testing.mock_data(num_examples=3):
        batch = next(iter(make_datasets(config).train))
    assert batch.shape == (2, 5, 64, 64, 3)


def test_missing_tfds_data_says_how_to_prepare(tmp_path):
    with pytest.raises(FileNotFoundError, match="tfds build bair_robot_pushing_small") as err:
        video.load_tfds_videos("bair_robot_pushing_small", "test", "image_main", str(tmp_path))
    assert "30 GB" in str(err.value) and "--tfds_data_dir" in str(err.value)


def test_unknown_dataset_and_video_key():
    with pytest.raises(ValueError, match="no dataset"):
        video.load_tfds_videos("no_such_video_set_xyz", "test", "video")
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError, match="image_aux1"):
            video.load_tfds_videos("bair_robot_pushing_small", "test", "video")


def test_softmotion_tfrecords(tmp_path, tiny_config):
    train_clips, test_clips = _clips(3, 0), _clips(2, 1)
    _write_softmotion(tmp_path / "train", train_clips)
    _write_softmotion(tmp_path / "test", test_clips)
    got = np.stack([c.numpy() for c in video.load_softmotion_videos(str(tmp_path), "test")])
    np.testing.assert_array_equal(got, test_clips)

    config = dataclasses.replace(
        tiny_config, dataset="bair_softmotion", data_dir=str(tmp_path), channels=3
    ).validate()
    data = make_datasets(config)
    test = np.concatenate([b.numpy() for b in data.test])
    np.testing.assert_allclose(test, test_clips[:, :4] / 255.0, atol=1e-6)
    batch = next(iter(data.train)).numpy()
    # Each training window is a contiguous piece of one of the training clips.
    for window in batch:
        found = False
        for clip in train_clips / 255.0:
            for start in range(30 - 4 + 1):
                if np.allclose(clip[start : start + 4], window, atol=1e-6):
                    found = True
        assert found


def test_softmotion_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="softmotion30_44k"):
        video.load_softmotion_videos(str(tmp_path), "train")


def test_wrong_frame_size_names_both_sizes(tmp_path):
    _write_softmotion(tmp_path / "test", _clips(1, 2, shape=(32, 32, 3)))
    clips = video.load_softmotion_videos(str(tmp_path), "test", frame_shape=(32, 32, 3))
    with pytest.raises(ValueError, match=r"32x32x3 but the model takes 64x64x3"):
        video.check_frame_shape(clips, 64, 3, "test data")
    # Unknown static shapes are checked per clip.
    arrays = [c.numpy() for c in clips]
    dynamic = tf.data.Dataset.from_generator(
        lambda: iter(arrays), output_signature=tf.TensorSpec([None, None, None, 3], tf.uint8)
    )
    checked = video.check_frame_shape(dynamic, 64, 3, "test data")
    with pytest.raises(tf.errors.InvalidArgumentError, match="frame size differs"):
        next(iter(checked))


def test_random_windows_are_seeded_and_contiguous():
    clips = tf.data.Dataset.from_tensors(tf.range(30)).repeat(20)  # frame t holds t

    def starts(seed):
        return [int(w[0]) for w in video.random_windows(clips, 5, seed)]

    for w in video.random_windows(clips, 5, 0):
        np.testing.assert_array_equal(w.numpy(), np.arange(w[0], w[0] + 5))
    a, b, c = starts(0), starts(0), starts(1)
    assert a == b and a != c
    assert min(a + c) >= 0 and max(a + c) <= 25
    assert len(set(a)) > 3  # starts vary


def test_clip_too_short_is_an_error():
    clips = tf.data.Dataset.from_tensors(tf.zeros([3, 64, 64, 3], tf.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="shorter than the 5 frames"):
        next(iter(video.fixed_windows(clips, 5)))


@pytest.mark.parametrize(
    "changes,message",
    [
        (dict(dataset="bair", channels=1), "BAIR frames are RGB"),
        (dict(dataset="bair", channels=3, n_past=5, n_future=26), "30 frames"),
        (dict(dataset="bair_softmotion", channels=3), "--data_dir is required"),
        (dict(dataset="kinetics"), "tfds:NAME"),
    ],
)
def test_bair_config_errors(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(Config(), **changes).validate()
