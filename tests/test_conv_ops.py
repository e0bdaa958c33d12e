"""conv_ops computes Keras's convolutions: forward, input and filter gradients."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from svgpl_tf import machine
from svgpl_tf.models import conv_ops

# (x shape, kernel shape, strides, padding, transposed)
CASES = {
    "whole-frame conv (embedding head)": ([3, 4, 4, 6], [4, 4, 6, 5], 1, "valid", False),
    "whole-frame transposed conv (first decoder layer)": (
        [3, 1, 1, 6],
        [4, 4, 5, 6],
        1,
        "valid",
        True,
    ),
    "4x4 stride-2 same conv to 4x4": ([3, 8, 8, 6], [4, 4, 6, 5], 2, "same", False),
    "4x4 stride-2 same transposed conv from 4x4": ([3, 4, 4, 6], [4, 4, 5, 6], 2, "same", True),
    "3x3 same conv": ([3, 5, 5, 4], [3, 3, 4, 2], 1, "same", False),
    "4x4 stride-2 valid transposed conv": ([3, 3, 3, 4], [4, 4, 2, 4], 2, "valid", True),
    "3x3 stride-2 valid conv, a row left over": ([2, 8, 8, 3], [3, 3, 3, 4], 2, "valid", False),
    "4x4 stride-2 same conv of an odd side (native input gradient)": (
        [2, 7, 7, 3],
        [4, 4, 3, 2],
        2,
        "same",
        False,
    ),
    "3x3 same transposed conv": ([2, 5, 5, 3], [3, 3, 2, 3], 1, "same", True),
}


def _values_and_grads(fn, x, kernel, seed):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = fn(x, kernel)
        upstream = tf.random.stateless_normal(y.shape, [seed, 1], dtype=tf.float32)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * upstream)
    dx, dk = tape.gradient(loss, [x, kernel])
    return [np.asarray(tf.cast(t, tf.float32)) for t in (y, dx, dk)]


def _reference(transposed, strides, padding):
    if transposed:
        return lambda x, k: keras.ops.conv_transpose(x, k, strides, padding)
    return lambda x, k: keras.ops.conv(x, k, strides, padding)


def _ours(transposed, strides, padding, filter_gradient):
    op = conv_ops.conv_transpose if transposed else conv_ops.conv
    return lambda x, k: op(x, k, strides, padding, filter_gradient)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("filter_gradient", ["native", "patches"])
@pytest.mark.parametrize("transpose", ["native", "phases"])
def test_matches_keras_in_float32(case, filter_gradient, transpose):
    x_shape, k_shape, strides, padding, transposed = CASES[case]
    x = tf.random.stateless_normal(x_shape, [1, 2])
    kernel = tf.random.stateless_normal(k_shape, [3, 4])
    with conv_ops.transpose_kernels("native"):
        want = _values_and_grads(_reference(transposed, strides, padding), x, kernel, 5)
    with conv_ops.transpose_kernels(transpose):
        got = _values_and_grads(_ours(transposed, strides, padding, filter_gradient), x, kernel, 5)
    for name, w, g in zip(("output", "input gradient", "filter gradient"), want, got):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * np.abs(w).max(), err_msg=name)


def test_patch_filter_gradient_in_bfloat16_is_the_native_one_to_rounding():
    x_shape, k_shape, strides, padding, _ = CASES["4x4 stride-2 same conv to 4x4"]
    x = tf.cast(tf.random.stateless_normal(x_shape, [1, 2]), tf.bfloat16)
    kernel = tf.cast(tf.random.stateless_normal(k_shape, [3, 4]), tf.bfloat16)
    native = _values_and_grads(_ours(False, strides, padding, "native"), x, kernel, 5)
    patches = _values_and_grads(_ours(False, strides, padding, "patches"), x, kernel, 5)
    scale = np.abs(native[2]).max()
    # bfloat16 keeps 8 bits: sums of 96 products agree to about 1%.
    assert np.abs(patches[2] - native[2]).max() < 2e-2 * scale
    np.testing.assert_array_equal(patches[0], native[0])  # same forward kernel


def test_auto_picks_patches_for_small_16_bit_maps_on_a_cpu_only():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("the rule is CPU-only")
    pick = conv_ops._use_patches
    assert pick("auto", tf.bfloat16, 16)
    assert not pick("auto", tf.bfloat16, 64)
    assert not pick("auto", tf.float32, 16)
    assert not pick("auto", tf.bfloat16, None)
    assert pick("patches", tf.float32, 4096) and not pick("native", tf.bfloat16, 1)
    with pytest.raises(ValueError, match="filter_gradient must be one of"):
        pick("fast", tf.float32, 1)


def _op_types(fn, x, kernel):
    """The op types of `fn`'s forward and gradient graph."""

    @tf.function
    def step(x, kernel):
        return _values_and_grads_graph(fn, x, kernel)

    graph = step.get_concrete_function(x, kernel).graph
    types = {op.type for op in graph.get_operations()}
    for f in graph.as_graph_def().library.function:
        types |= {node.op for node in f.node_def}
    return types


def _values_and_grads_graph(fn, x, kernel):
    with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = fn(x, kernel)
        loss = tf.reduce_sum(y * y)
    return tape.gradient(loss, [x, kernel])


@pytest.mark.parametrize("transposed", [False, True])
def test_phases_replace_the_backprop_input_kernel(transposed):
    k_shape = [4, 4, 5, 6] if transposed else [4, 4, 6, 5]
    x = tf.random.stateless_normal([2, 4, 4, 6] if transposed else [2, 8, 8, 6], [1, 2])
    kernel = tf.random.stateless_normal(k_shape, [3, 4])
    fn = _ours(transposed, 2, "same", "native")
    with conv_ops.transpose_kernels("phases"):
        phases = _op_types(fn, x, kernel)
    with conv_ops.transpose_kernels("native"):
        native = _op_types(fn, x, kernel)
    assert "Conv2DBackpropInput" in native
    assert "Conv2DBackpropInput" not in phases
    assert "DepthToSpace" in phases and "Conv2DBackpropFilter" in phases


def test_transpose_kernels_rule(monkeypatch):
    monkeypatch.setattr(conv_ops.machine, "onednn_enabled", lambda: False)
    gpu = bool(tf.config.list_logical_devices("GPU"))
    assert conv_ops.transposes_by_phases() is not gpu  # auto: oneDNN off
    assert conv_ops.transposes_by_phases(conv_ops.PHASES_MIN_CHANNELS) is not gpu
    assert not conv_ops.transposes_by_phases(conv_ops.PHASES_MIN_CHANNELS - 1)
    monkeypatch.setattr(conv_ops.machine, "onednn_enabled", lambda: True)
    assert not conv_ops.transposes_by_phases()
    assert not conv_ops.transposes_by_phases(512)
    with conv_ops.transpose_kernels("phases"):
        assert conv_ops.transposes_by_phases()
        with conv_ops.transpose_kernels("native"):
            assert not conv_ops.transposes_by_phases()
        assert conv_ops.transposes_by_phases()
    with pytest.raises(ValueError, match="kind must be one of"):
        with conv_ops.transpose_kernels("fast"):
            pass


@pytest.mark.parametrize("setting", ["0", "1"])
def test_onednn_state_follows_tensorflow(setting):
    """The rule reads TensorFlow's own oneDNN switch (set before import); the
    hint stays quiet where oneDNN is on or was turned off on purpose."""
    code = (
        "from svgpl_tf import machine; from svgpl_tf.models import conv_ops; "
        "print(machine.onednn_enabled(), machine.onednn_hint(), conv_ops.transposes_by_phases(512))"
    )
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": setting, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["CUDA_VISIBLE_DEVICES"] = ""
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    enabled = setting == "1"
    assert out.stdout.strip().splitlines()[-1] == f"{enabled} None {not enabled}"


def test_onednn_hint(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setattr(machine, "onednn_enabled", lambda: False)
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert "export TF_ENABLE_ONEDNN_OPTS=1" in machine.onednn_hint()
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert machine.onednn_hint() is None
    monkeypatch.setattr(machine, "onednn_enabled", lambda: True)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    assert machine.onednn_hint() is None
