"""The benchmark's data is training's and evaluation's (`make_datasets`)."""

import dataclasses

import numpy as np
from helpers import flagfile_configs

from svgpl_tf.benchmarks import BenchmarkOptions, Variant, inputs
from svgpl_tf.benchmarks.options import make_config
from svgpl_tf.data.pipeline import make_datasets


def test_smmnist_batches_and_clips_are_make_datasets():
    names = ("smmnist_svglp",)
    options = BenchmarkOptions(names, flagfile_configs(names), tiny=True).validate().sized()
    config = make_config("smmnist_svglp", Variant(), options)
    batch = inputs.training_batch("smmnist_svglp", options)  # [b, t, h, w, c]
    # Training's stream, and the first test clips as evaluation reads them, at any length.
    long = dataclasses.replace(config, num_test_sequences=2, eval_n_future=3).validate()
    reference = make_datasets(long)
    np.testing.assert_array_equal(batch.numpy(), next(iter(reference.train)).numpy())
    truth = next(iter(reference.test)).numpy()[:2]  # [2, 5, h, w, c]
    clips = inputs.test_clips("smmnist_svglp", options, 2, 4)
    np.testing.assert_array_equal(clips.numpy(), truth[:, :4])
    context = inputs.test_clips("smmnist_svglp", options, 2, config.n_past)
    np.testing.assert_array_equal(context.numpy(), truth[:, : config.n_past])


def test_bair_has_noise_of_its_shape():
    names = ("bair_svglp",)
    options = BenchmarkOptions(names, flagfile_configs(names), tiny=True).validate().sized()
    config = make_config("bair_svglp", Variant(), options)
    assert inputs.train_stream("bair_svglp", options) is None
    batch = inputs.training_batch("bair_svglp", options)
    assert batch.shape == (config.batch_size, config.seq_len, 64, 64, 3)
    assert inputs.test_clips("bair_svglp", options, 2, 3).shape == (2, 3, 64, 64, 3)
