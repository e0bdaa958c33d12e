"""The benchmark's data: training batches and test clips of a configuration.

SM-MNIST data is what training and evaluation see, from
`svgpl_tf.data.pipeline.make_datasets`: the training stream of the
configuration, and the first clips of its fixed test split (a longer clip of
a test sequence extends a shorter one frame for frame, so one split long
enough for every caller serves them all). The BAIR files are not on this
machine: its batches and clips are uniform noise of the same shape.
"""

from __future__ import annotations

import dataclasses
import functools

import tensorflow as tf

from svgpl_tf.benchmarks.options import BenchmarkOptions, Variant, make_config
from svgpl_tf.config import Config
from svgpl_tf.data import pipeline


@functools.lru_cache(maxsize=4)
def _make_datasets(config: Config) -> pipeline.Datasets:
    """`make_datasets(config)`, once per configuration (loading sprites takes seconds)."""
    return pipeline.make_datasets(config)


def datasets(name: str, options: BenchmarkOptions) -> pipeline.Datasets | None:
    """The pipelines of configuration `name`; None for file datasets.

    The test split holds enough sequences, and frames, for the sampling and
    serving benchmarks of `options`.

    Args:
        name: a key of `CONFIGS`.
        options: the sized options of the run.
    """
    config = make_config(name, Variant(), options)
    if config.dataset != "smmnist":
        return None
    sequences = max(options.sample_sequences, *options.serving_batches)
    length = max(options.sample_context + options.sample_horizon, config.n_past + 1)
    config = dataclasses.replace(
        config, num_test_sequences=sequences, eval_n_future=length - config.n_past
    ).validate()
    return _make_datasets(config)


def train_stream(name: str, options: BenchmarkOptions) -> tf.data.Dataset | None:
    """The training stream of configuration `name`, batches `[b, t, h, w, c]`,
    as training reads it; None for file datasets, which are not on this machine.

    Args:
        name: a key of `CONFIGS`.
        options: the sized options of the run.
    """
    data = datasets(name, options)
    return None if data is None else data.train


def training_batch(name: str, options: BenchmarkOptions) -> tf.Tensor:
    """One training batch `[b, t, h, w, c]`: the stream's first, else uniform noise.

    Args:
        name: a key of `CONFIGS`.
        options: the sized options of the run.
    """
    stream = train_stream(name, options)
    if stream is not None:
        return next(iter(stream))
    config = make_config(name, Variant(), options)
    shape = [config.batch_size, config.seq_len, config.image_size, config.image_size]
    return tf.random.uniform(shape + [config.channels], seed=0)


def test_clips(name: str, options: BenchmarkOptions, sequences: int, length: int) -> tf.Tensor:
    """The first `sequences` clips `[sequences, length, h, w, c]` of the fixed
    SM-MNIST test split; uniform noise for other datasets.

    Args:
        name: a key of `CONFIGS`.
        options: the sized options of the run.
        sequences: at most `max(sample_sequences, *serving_batches)`.
        length: at most `max(sample_context + sample_horizon, n_past + 1)`.

    Raises:
        ValueError: more sequences or frames than `datasets` holds.
    """
    data = datasets(name, options)
    if data is None:
        config = make_config(name, Variant(), options)
        size, c = config.image_size, config.channels
        return tf.random.uniform([sequences, length, size, size, c], seed=0)
    clips = next(iter(data.test.unbatch().batch(sequences)))  # [<=sequences, T, h, w, c]
    if clips.shape[0] < sequences or clips.shape[1] < length:
        raise ValueError(
            f"The benchmark's test split holds {clips.shape[0]} clips of {clips.shape[1]} "
            f"frames, not {sequences} of {length}."
        )
    return clips[:, :length]


# Keep pytest from collecting this function when a test module imports it.
test_clips.__test__ = False
