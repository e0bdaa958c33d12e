"""Times the DCGAN decoder's transposed convolutions three ways, on this CPU.

For each 4x4 stride-2 layer of the published SM-MNIST decoder (nf 64, batch
16 x 10 predicted frames): TensorFlow's `conv2d_transpose`
(`Conv2DBackpropInput`), the same layer as phases of forward convolutions
(`svgpl_tf.models.phase_conv`), and a forward convolution with the same FLOPs
(the layer's own input gradient, `tf.nn.conv2d` at stride 2), for scale.
Each is a `tf.function`, timed as the best of `--repeats` calls after one
warm-up; the three are timed in turns. The numbers quoted in
`docs/performance.md` ("CPUs where TensorFlow leaves oneDNN off").

    python experiments/transpose_kernels.py --output=OUT.json
"""

from __future__ import annotations

import json
import time

import tensorflow as tf
from absl import app, flags

from svgpl_tf import machine
from svgpl_tf.models import phase_conv

_BATCH = flags.DEFINE_integer("batch", 160, "Frames per call (16 sequences x 10 frames).")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls of each kernel; the best is kept.")
_OUTPUT = flags.DEFINE_string("output", "", "Write the rows as JSON to this file.")

# (input side, input channels, output channels) of the decoder's stride-2 layers.
LAYERS = ((4, 512, 256), (8, 256, 128), (16, 128, 64), (32, 64, 1))


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args).numpy()
    return time.perf_counter() - start


def main(argv):
    del argv
    n = _BATCH.value
    rows = []
    for side, c_in, c_out in LAYERS:
        gen = tf.random.Generator.from_seed(side)
        x = gen.normal([n, side, side, c_in])  # [n, h, w, in]
        kernel = gen.normal([4, 4, c_out, c_in])  # [kh, kw, out, in]
        dy = gen.normal([n, 2 * side, 2 * side, c_out])  # [n, 2h, 2w, out]
        out_hw = (2 * side, 2 * side)
        kernels = {
            "native": tf.function(
                lambda x, k, out_hw=out_hw, c_out=c_out: tf.nn.conv2d_transpose(
                    x, k, [n, *out_hw, c_out], 2, "SAME"
                )
            ),
            "phases": tf.function(
                lambda x, k, out_hw=out_hw: phase_conv.conv_transpose_by_phases(
                    x, k, (2, 2), "same", out_hw
                )
            ),
            "forward_same_flops": tf.function(lambda y, k: tf.nn.conv2d(y, k, 2, "SAME")),
        }
        args = {"native": (x, kernel), "phases": (x, kernel), "forward_same_flops": (dy, kernel)}
        for name, fn in kernels.items():
            _timed(fn, *args[name])  # traces
        times = {name: [] for name in kernels}
        for _ in range(_REPEATS.value):
            for name, fn in kernels.items():
                times[name].append(_timed(fn, *args[name]))
        flop = 2 * n * side * side * c_in * c_out * 16
        row = {
            "layer": f"{side}x{side}x{c_in} -> {2 * side}x{2 * side}x{c_out}",
            "gflop": flop / 1e9,
            **{f"{name}_ms": 1e3 * min(t) for name, t in times.items()},
        }
        rows.append(row)
        print(
            f"{row['layer']:>24}: native {row['native_ms']:7.1f} ms, phases "
            f"{row['phases_ms']:7.1f} ms, forward conv of the same FLOPs "
            f"{row['forward_same_flops_ms']:7.1f} ms",
            flush=True,
        )
    report = {"machine": machine.machine_info(), "batch": n, "rows": rows}
    if _OUTPUT.value:
        with open(_OUTPUT.value, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    app.run(main)
