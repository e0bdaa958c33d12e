"""The FLOPs the benchmark reports, against hand counts and TensorFlow's profiler."""

import pytest
import tensorflow as tf

from svgpl_tf.benchmarks import flops
from svgpl_tf.models.svg import SVGModel


def tf_profiler_flops(fn, *specs: tf.TensorSpec) -> int:
    """`tf.compat.v1.profiler`'s float-op count of `fn` traced on `specs`.

    It counts convolutions and matrix products like `op_flops` and adds
    element-wise ops (bias adds, normalisation); for transposed convolutions
    it counts by output size, which differs from the convention above.
    """
    graph = tf.function(fn, autograph=False).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)


def _model(**kw):
    model = SVGModel(g_dim=16, nf=8, z_dim=4, rnn_size=16, n_past=2, **kw)
    model.build()
    return model


def test_flops_of_the_dcgan_encoder_by_hand():
    counts = flops.model_counts(_model())
    # 64 -> 32 -> 16 -> 8 -> 4 (4x4 convs, stride 2), then a 4x4 valid conv to g_dim.
    convs = [(32, 1, 8), (16, 8, 16), (8, 16, 32), (4, 32, 64), (1, 64, 16)]
    assert counts.encoder.total == sum(2 * s * s * 16 * i * o for s, i, o in convs)
    assert counts.encoder.first == 2 * 32 * 32 * 16 * 1 * 8
    assert counts.decoder_main + counts.skip_terms == counts.decoder


@pytest.mark.parametrize("backbone,channels", [("dcgan", 1), ("vgg", 3)])
def test_flops_agree_with_the_tf_profiler_on_convolutions(backbone, channels):
    model = _model(backbone=backbone, channels=channels)
    spec = tf.TensorSpec([1, 64, 64, channels], tf.float32)
    ours = flops.traced_forward_flops(lambda x: model.encoder(x, training=False), spec).total
    theirs = tf_profiler_flops(lambda x: model.encoder(x, training=False), spec)
    # The profiler also counts bias adds and BatchNorm, a few FLOPs per activation.
    assert ours <= theirs <= 1.02 * ours


def test_step_flops_follow_the_skip_path():
    fast, plain = _model(), _model(precompute_skips=False)
    a = flops.train_step_flops(fast, batch=2, seq_len=6)
    b = flops.train_step_flops(plain, batch=2, seq_len=6)
    assert a.plain_total == b.total == b.plain_total > a.total
    assert a.backward < 2 * a.forward  # no input gradient for the data
    s = flops.sample_flops(fast, batch=2, n_ctx=2, horizon=3, num_samples=5)
    assert s.total < s.plain_total


def test_step_flops_count_the_feedback_pass():
    forced, fed = _model(), _model(feedback_rate=0.5)
    a = flops.train_step_flops(forced, batch=2, seq_len=6)
    b = flops.train_step_flops(fed, batch=2, seq_len=6)
    enc = flops.model_counts(forced).encoder
    extra = 2 * (5 - 2)  # batch x the fed-back frames n_past..T-2
    # The first pass's forward, plus the fed frames' encoding forward and backward.
    assert b.total - a.total == a.forward + extra * (3 * enc.total - enc.first)
    assert b.breakdown["feedback_first_pass"] == a.forward
    assert sum(b.breakdown.values()) == b.total
