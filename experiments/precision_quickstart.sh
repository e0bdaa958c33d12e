#!/usr/bin/env bash
# The quickstart (flagfile `quickstart`) trained twice under the
# time-to-quality probe, identical but for --precision: float32, then
# mixed_bfloat16 (same seed, data order and probe: best of 20 on 32 test
# sequences every 400 steps, SSIM and PSNR against copy-last and an all-black
# frame). The curves go to experiments/results/precision_quickstart/; the
# question is whether bfloat16 learns as well per step, which decides
# whether `--precision=auto` may become the default.
#
#   bash experiments/precision_quickstart.sh
#
# PYTHON and WORK override the interpreter and the training folder. Run it
# on a machine with native bfloat16 (AVX512-BF16, AMX or a recent GPU):
# elsewhere bfloat16 is emulated and the second run is about 5x slower.
set -euo pipefail
# oneDNN on where TensorFlow leaves it off by default (CPUs without AVX512-VNNI,
# AVX512-BF16, AVX-VNNI or AMX): 2x faster steps (docs/performance.md).
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-.}
PYTHON=${PYTHON:-python}
WORK=${WORK:-workdirs/precision}
RESULTS=experiments/results/precision_quickstart
mkdir -p "$RESULTS"
for precision in float32 mixed_bfloat16; do
  "$PYTHON" -m svgpl_tf.time_to_quality --flagfile=quickstart --precision="$precision" --seed=0 \
    --workdir="$WORK/quickstart_$precision" --probe_every=400 --probe_samples=20 \
    --probe_sequences=32
  mkdir -p "$RESULTS/$precision"
  cp "$WORK/quickstart_$precision/time_to_quality.json" \
    "$WORK/quickstart_$precision/time_to_quality.png" "$RESULTS/$precision/"
done
