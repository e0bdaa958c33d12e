"""Element-wise work compiled by XLA in 16-bit sampling on a CPU: when it
applies, that it is what runs, and that it computes TensorFlow's numbers."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from svgpl_tf import runs
from svgpl_tf.models import elementwise
from svgpl_tf.models.elementwise import LeakyReLU, compiled_elementwise, use_compiled
from svgpl_tf.models.sampling import CompiledSampler

pytestmark = pytest.mark.skipif(
    bool(tf.config.list_logical_devices("GPU")), reason="the compiled path is for CPUs"
)


def _xla_functions(sampler: CompiledSampler, ctx, seed) -> int:
    """Functions marked for XLA in the sampler's graph for `ctx` and `seed`."""
    fn = sampler._function(int(ctx.shape[1]), 0)
    count = tf.TensorSpec([], tf.int32)
    with compiled_elementwise(sampler.compiled_elementwise):
        concrete = fn.get_concrete_function(
            tf.TensorSpec([None, *ctx.shape[1:]], tf.float32), count, count, seed
        )
    library = concrete.graph.as_graph_def().library.function
    return sum(bool(f.attr["_XlaMustCompile"].b) for f in library)


def test_the_rule():
    bf16 = tf.bfloat16
    assert not use_compiled(bf16, None)  # outside the scope
    with compiled_elementwise():
        assert use_compiled(bf16, None) and use_compiled(bf16, False)
        assert use_compiled("float16", False)
        assert not use_compiled(tf.float32, False)
        assert not use_compiled(bf16, True)
        assert not use_compiled(bf16, tf.constant(False))  # a tensor flag: training
        with compiled_elementwise(False):
            assert not use_compiled(bf16, None)
        assert use_compiled(bf16, None)
    assert not use_compiled(bf16, None)


def test_compiled_leaky_relu_is_tensorflows():
    x = tf.cast(tf.random.stateless_normal([4, 8, 8, 16], seed=[1, 2]) * 3.0, tf.bfloat16)
    want = tf.nn.leaky_relu(x, 0.2)
    calls = []
    compiled = elementwise._leaky_relu
    with compiled_elementwise():
        # The compiled function is what runs.
        elementwise._leaky_relu = lambda *a: calls.append(a) or compiled(*a)
        try:
            got = elementwise.leaky_relu(x, 0.2, training=False)
        finally:
            elementwise._leaky_relu = compiled
    assert len(calls) == 1
    assert got.dtype == tf.bfloat16
    np.testing.assert_array_equal(got.numpy().astype(np.float32), want.numpy().astype(np.float32))
    # Negative inputs were scaled: the test would not see a no-op.
    assert float(tf.reduce_min(tf.cast(got, tf.float32))) < -0.1


def test_layer_is_keras_leaky_relu_and_round_trips():
    layer = LeakyReLU(0.2, name="act")
    again = LeakyReLU.from_config(layer.get_config())
    assert again.negative_slope == pytest.approx(0.2) and again.name == "act"
    x = tf.random.stateless_normal([3, 5], seed=[3, 4])
    np.testing.assert_array_equal(layer(x), keras.layers.LeakyReLU(0.2)(x))
    assert LeakyReLU(0.2).name.startswith("leaky_re_lu")  # the layers' names are kept


@pytest.mark.parametrize("precision", ["mixed_bfloat16", "float32"])
def test_sampler_compiles_elementwise_work_only_in_16_bits(tiny_config, precision):
    model = runs.build_model(dataclasses.replace(tiny_config, precision=precision))
    ctx = tf.random.stateless_uniform(
        [2, tiny_config.n_past, tiny_config.image_size, tiny_config.image_size, 1], seed=[5, 6]
    )
    fast = CompiledSampler(model)
    plain = CompiledSampler(model, compiled_elementwise=False)
    seed = tf.TensorSpec([], tf.int64)
    compiled = _xla_functions(fast, ctx, seed)
    assert _xla_functions(plain, ctx, seed) == 0
    if precision == "float32":
        assert compiled == 0
    else:
        # Every LeakyReLU and skip-term sum of the encoder and decoder.
        assert compiled >= 2
    a = fast(ctx, horizon=3, num_samples=2, seed=11).numpy()
    b = plain(ctx, horizon=3, num_samples=2, seed=11).numpy()
    np.testing.assert_array_equal(a, fast(ctx, horizon=3, num_samples=2, seed=11).numpy())
    # The same frames up to a bfloat16 rounding (2^-8 of the [0, 1] range).
    np.testing.assert_allclose(a, b, atol=2**-8, rtol=0)
    assert a.std() > 1e-3  # not a constant output
