"""Input-pipeline throughput: each configuration's training input alone."""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from svgpl_tf.benchmarks import inputs
from svgpl_tf.benchmarks.options import BenchmarkOptions, Variant, make_config
from svgpl_tf.data import video


def time_batches(ds: tf.data.Dataset, batches: int) -> tuple[float, int]:
    """Seconds to draw `batches` batches after the first, and the batch size.

    Args:
        ds: a dataset of batches `[b, ...]`, at least `batches + 1` of them.
        batches: timed batches.
    """
    it = iter(ds)
    size = int(next(it).shape[0])
    start = time.perf_counter()
    for _ in range(batches):
        next(it)
    return time.perf_counter() - start, size


def bench_pipeline(name: str, options: BenchmarkOptions) -> dict:
    """Sequences/s of the configuration's training input pipeline alone.

    SM-MNIST runs its real pipeline (`make_datasets`'s training stream). BAIR
    runs `video.train_pipeline` (window, scale, batch, prefetch) on clips held
    in memory: the TFDS files are not on this machine, so reading and decoding
    them is not included.

    Args:
        name: a key of `CONFIGS`.
        options: the sized options of the run (`pipeline_batches`).

    Returns:
        `{"config", "source", "batches", "sequences_per_s"}`.
    """
    config = make_config(name, Variant(), options)
    ds = inputs.train_stream(name, options)
    if ds is not None:
        source = f"smmnist: moving_sprites.train_dataset, {config.sprites} sprites"
    else:
        clips = np.random.default_rng(0).integers(
            0, 256, (64, 30, config.image_size, config.image_size, config.channels), np.uint8
        )  # [clips, frames, h, w, c]
        ds = video.train_pipeline(
            tf.data.Dataset.from_tensor_slices(clips),
            length=config.seq_len,
            batch_size=config.batch_size,
            seed=0,
            shuffle_buffer=64,
        )
        source = "bair: video.train_pipeline on in-memory uint8 clips (no file reading)"
    seconds, size = time_batches(ds, options.pipeline_batches)
    return {
        "config": name,
        "source": source,
        "batches": options.pipeline_batches,
        "sequences_per_s": options.pipeline_batches * size / seconds,
    }
