"""Builds the training and test `tf.data` pipelines a `Config` asks for."""

from __future__ import annotations

import dataclasses

import tensorflow as tf
from absl import logging

from svgpl_tf.config import Config
from svgpl_tf.data import clips, digits, mnist, moving_sprites, video

# Seed of the fixed SM-MNIST test split, shared by every run.
TEST_SEED = 1234


@dataclasses.dataclass(frozen=True)
class Datasets:
    """The pipelines of a run and a line saying where their data came from."""

    train: tf.data.Dataset  # infinite, [batch, time, h, w, c]
    test: tf.data.Dataset  # finite and fixed, [batch, time, h, w, c]
    description: str


def make_datasets(config: Config, start_step: int = 0) -> Datasets:
    """Returns the train stream (positioned for `start_step`) and the test split.

    Args:
        config: a validated configuration. Training windows are
            `config.seq_len` frames; test windows `config.eval_seq_len`.
        start_step: the step training starts from. SM-MNIST continues the
            exact stream of an uninterrupted run; file datasets re-seed their
            shuffle and window starts from it, so a resumed run sees fresh
            (not the same) clips.
    """
    if config.dataset == "smmnist":
        return _smmnist(config, start_step)
    if config.dataset.startswith("files:"):
        return _user_files(config, start_step)
    return _video_files(config, start_step)


def check_data(config: Config) -> None:
    """Locates (or fetches) the data `config` asks for, before any work.

    Raises a clear error when MNIST digits cannot be had (for example
    offline), or when a dataset's files cannot be found, instead of failing
    later; it reads no clip.
    """
    if config.dataset == "smmnist" and config.sprites == "mnist":
        mnist.load_mnist_digits(
            "test", path=config.mnist_path or None, allow_download=not config.offline
        )
    if config.dataset == "smmnist" and config.sprites == "mnist5k":
        mnist.mnist5k_path()
    if config.dataset.startswith("files:"):
        user_file_split(config)  # lists and splits the files; decodes nothing yet
    elif config.dataset != "smmnist":
        make_datasets(config)  # locates the files; reads nothing yet


def _smmnist(config: Config, start_step: int) -> Datasets:
    kwargs = dict(mnist_path=config.mnist_path or None, allow_download=not config.offline)
    train_sprites = digits.load_sprites(config.sprites, "train", **kwargs)
    test_sprites = digits.load_sprites(config.sprites, "test", **kwargs)
    common = dict(num_sprites=config.num_sprites, image_size=config.image_size)
    train = moving_sprites.train_dataset(
        train_sprites,
        batch_size=config.batch_size,
        seq_len=config.seq_len,
        seed=config.seed,
        start_step=start_step,
        **common,
    )
    test = moving_sprites.test_dataset(
        test_sprites,
        num_sequences=config.num_test_sequences,
        seq_len=config.eval_seq_len,
        batch_size=config.batch_size,
        seed=TEST_SEED,
        **common,
    )
    description = (
        f"smmnist: {config.num_sprites} sprites from source '{config.sprites}' "
        f"({len(train_sprites)} train / {len(test_sprites)} test sprites"
        + (f", file {config.mnist_path}" if config.sprites == "mnist" and config.mnist_path else "")
        + f"), {config.num_test_sequences} fixed test sequences (seed {TEST_SEED})"
    )
    return Datasets(train=train, test=test, description=description)


def _clips(config: Config, split: str) -> tuple[tf.data.Dataset, str]:
    """uint8 clips `[frames, h, w, c]` of one split, and a description."""
    if config.dataset == "bair_softmotion":
        clips = video.load_softmotion_videos(config.data_dir, split, config.video_key)
        source = f"bair_softmotion TFRecords in {config.data_dir}"
    else:
        name = video.BAIR_TFDS_NAME if config.dataset == "bair" else config.dataset[5:]
        clips = video.load_tfds_videos(
            name,
            split,
            config.video_key,
            data_dir=config.tfds_data_dir or None,
            download=config.tfds_download,
        )
        source = f"tfds {name} ({config.tfds_data_dir or 'default data dir'})"
    source = f"{source}, feature {config.video_key}"
    return video.check_frame_shape(clips, config.image_size, config.channels, source), source


def _windowed(config: Config, start_step: int, train_clips, test_clips):
    """The train stream and test split of clip datasets `[t, h, w, c]` uint8: seeded
    random training windows, and the first frames of the first test clips."""
    seed = config.seed * 1_000_003 + start_step  # a resumed run gets a fresh stream
    train = video.train_pipeline(
        train_clips,
        length=config.seq_len,
        batch_size=config.batch_size,
        seed=seed,
        shuffle_buffer=config.shuffle_buffer,
    )
    test = video.test_pipeline(
        test_clips,
        length=config.eval_seq_len,
        batch_size=config.batch_size,
        num_sequences=config.num_test_sequences,
    )
    return train, test


def _video_files(config: Config, start_step: int) -> Datasets:
    train_clips, source = _clips(config, "train")
    test_clips, _ = _clips(config, "test")
    train, test = _windowed(config, start_step, train_clips, test_clips)
    description = (
        f"{source}: train windows of {config.seq_len} frames at seeded random starts, "
        f"test: first {config.num_test_sequences} clips, frames 0-{config.eval_seq_len - 1}"
    )
    return Datasets(train=train, test=test, description=description)


def user_file_split(config: Config) -> tuple[list[str], list[str]]:
    """The train and test files of `--dataset=files:PATTERN` (see `clips.split_files`)."""
    return clips.split_files(clips.find_clips(config.dataset[len("files:") :]))


def _clip_dataset(arrays: list) -> tf.data.Dataset:
    """In-memory uint8 clips of different lengths as a dataset of `[t, h, w, c]`."""
    lengths = [len(a) for a in arrays]
    ragged = tf.RaggedTensor.from_row_lengths(tf.concat(arrays, 0), lengths)  # [n, (t), h, w, c]
    return tf.data.Dataset.from_tensor_slices(ragged)


def _user_files(config: Config, start_step: int) -> Datasets:
    pattern = config.dataset[len("files:") :]
    train_files, test_files = user_file_split(config)
    convert = dict(channels=config.channels, image_size=config.image_size, resize=config.resize)
    train_clips, bad_train = clips.load_clips(
        train_files, **convert, min_frames=config.seq_len, skip_bad_files=config.skip_bad_files
    )
    test_clips, bad_test = clips.load_clips(
        test_files, **convert, min_frames=config.eval_seq_len, skip_bad_files=config.skip_bad_files
    )
    skipped = bad_train + bad_test
    for reason in skipped:
        logging.warning("Skipped: %s", reason)
    train, test = _windowed(
        config, start_step, _clip_dataset(train_clips), _clip_dataset(test_clips)
    )
    description = (
        f"files:{pattern}: {len(train_clips)} train clips, windows of {config.seq_len} frames at "
        f"seeded random starts; {len(test_clips)} held-out test clips (every 10th file by name, "
        f"or the last), frames 0-{config.eval_seq_len - 1}; {config.channels} channels"
        + (f", resized by {config.resize}" if config.resize else "")
        + (f"; {len(skipped)} bad files skipped" if skipped else "")
    )
    return Datasets(train=train, test=test, description=description)
