#!/usr/bin/env bash
# The bfloat16 measurements of docs/performance.md ("On an Intel Xeon with
# AMX (2026-12-06)"), for the SM-MNIST SVG-LP configuration:
#   sampling/        float32, mixed_bfloat16 and mixed_bfloat16+eigen (TensorFlow's
#                    own element-wise kernels while sampling) side by side: training
#                    steps, their op-type profile and best-of-100 sampling;
#   serial_profile/  float32 and mixed_bfloat16 with one op at a time
#                    (TF_NUM_INTEROP_THREADS=1), so that the op types' times add up
#                    to the step's and say where it goes.
# Run it alone on the machine; it takes about 8 minutes on 2 cores.
set -euo pipefail
OUT=${OUT:-experiments/results/benchmark/amx/$(date +%F)}
mkdir -p "$OUT/sampling" "$OUT/serial_profile"

tables() { sed -n '/^Machine/,/^Wrote/p' | grep -v '^Wrote'; }

svgpl-benchmark --configs=smmnist_svglp --compare=mixed_bfloat16,mixed_bfloat16+eigen \
  --profile_steps=2 --loss_curve_steps=0 --noserving --steps=6 --sample_repeats=2 \
  --output="$OUT/sampling/benchmark.json" | tables > "$OUT/sampling/tables.md"

TF_NUM_INTEROP_THREADS=1 svgpl-benchmark --configs=smmnist_svglp --compare=mixed_bfloat16 \
  --profile_steps=2 --loss_curve_steps=0 --noserving --steps=4 --num_samples=1 \
  --output="$OUT/serial_profile/benchmark.json" | tables > "$OUT/serial_profile/tables.md"

cat "$OUT/sampling/tables.md" "$OUT/serial_profile/tables.md"
