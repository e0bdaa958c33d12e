#!/usr/bin/env bash
# The measurements of docs/performance.md ("CPUs where TensorFlow leaves oneDNN
# off"), for the SM-MNIST SVG-LP configuration in float32, on a CPU with
# AVX-512 that stands in for an AVX2-only one:
#   onednn_off/     TF_ENABLE_ONEDNN_OPTS=0, TensorFlow's own kernels, as
#                   TensorFlow runs by default on CPUs without AVX512-VNNI,
#                   AVX512-BF16, AVX-VNNI or AMX: transposed convolutions as
#                   phases (the default there) and natively, side by side,
#                   with their loss curves from the same weights;
#   onednn_avx2/    TF_ENABLE_ONEDNN_OPTS=1 with oneDNN capped at AVX2
#                   (ONEDNN_MAX_CPU_ISA=AVX2): native (the default there) and
#                   phases side by side.
#   kernels_*.json  experiments/transpose_kernels.py under the same settings.
# The two processes' step times compare only through their float32 ceilings.
# Run it alone on the machine; it takes about 25 minutes on 2 cores.
set -euo pipefail
OUT=${OUT:-experiments/results/benchmark/onednn_off/$(date +%F)}
mkdir -p "$OUT/onednn_off" "$OUT/onednn_avx2"

tables() { sed -n '/^Machine/,/^Wrote/p' | grep -v '^Wrote'; }
run() {
  svgpl-benchmark --configs=smmnist_svglp --profile_steps=1 --loss_curve_steps=3 \
    --noserving --steps=6 --sample_repeats=2 "$@"
}

TF_ENABLE_ONEDNN_OPTS=0 run --compare=float32+native \
  --output="$OUT/onednn_off/benchmark.json" | tables > "$OUT/onednn_off/tables.md"
ONEDNN_MAX_CPU_ISA=AVX2 TF_ENABLE_ONEDNN_OPTS=1 run --compare=float32+phases \
  --output="$OUT/onednn_avx2/benchmark.json" | tables > "$OUT/onednn_avx2/tables.md"

TF_ENABLE_ONEDNN_OPTS=0 python experiments/transpose_kernels.py \
  --output="$OUT/kernels_onednn_off.json"
ONEDNN_MAX_CPU_ISA=AVX2 TF_ENABLE_ONEDNN_OPTS=1 python experiments/transpose_kernels.py \
  --output="$OUT/kernels_onednn_avx2.json"
python experiments/transpose_kernels.py --output="$OUT/kernels_default.json"

cat "$OUT/onednn_off/tables.md" "$OUT/onednn_avx2/tables.md"
