"""Builds the training and test `tf.data` pipelines a `Config` asks for."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from svgpl_tf.config import Config
from svgpl_tf.data import digits, moving_sprites

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
        config: a validated configuration.
        start_step: the step training starts from; seeds the train stream so
            that a resumed run does not replay the batches it already saw.
    """
    if config.dataset != "smmnist":
        raise ValueError(f"Unknown dataset {config.dataset!r}.")
    kwargs = dict(mnist_path=config.mnist_path or None, allow_download=not config.offline)
    train_sprites = digits.load_sprites(config.sprites, "train", **kwargs)
    test_sprites = digits.load_sprites(config.sprites, "test", **kwargs)
    train = moving_sprites.train_dataset(
        train_sprites,
        batch_size=config.batch_size,
        seq_len=config.seq_len,
        seed=config.seed,
        start_step=start_step,
        num_sprites=config.num_sprites,
        image_size=config.image_size,
    )
    test = moving_sprites.test_dataset(
        test_sprites,
        num_sequences=config.num_test_sequences,
        seq_len=config.seq_len,
        batch_size=config.batch_size,
        seed=TEST_SEED,
        num_sprites=config.num_sprites,
        image_size=config.image_size,
    )
    description = (
        f"smmnist: {config.num_sprites} sprites from source '{config.sprites}' "
        f"({len(train_sprites)} train / {len(test_sprites)} test sprites"
        + (f", file {config.mnist_path}" if config.sprites == "mnist" and config.mnist_path else "")
        + f"), {config.num_test_sequences} fixed test sequences (seed {TEST_SEED})"
    )
    return Datasets(train=train, test=test, description=description)
