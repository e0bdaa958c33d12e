#!/usr/bin/env bash
# Evaluates a 5 -> 10 training run and ships it as pretrained/smmnist5k_$MODEL
# (MODEL: svglp by default, svgpl or svgfp); the last steps of
# smmnist5k_svglp_5to10.sh and smmnist5k_5to10_continue.sh:
#
#   bash experiments/smmnist5k_5to10_ship.sh RUN TRAIN_SECONDS NOTE
#
# 1. evaluates RUN's latest checkpoint in float32 (as it ships) with the
#    repository's protocol (best of 100 on 256 test sequences, 5 -> 10
#    frames, uniform SSIM) into experiments/results/smmnist5k_5to10/$MODEL/uniform
#    and with SRVP's (5 -> 20 frames, Gaussian SSIM, best sample chosen by
#    SRVP_BEST_BY: `ssim` by default, `each` for every metric's own) into .../srvp;
# 2. replaces the shipped weights (float32 in its config.json);
# 3. appends RUN to the model's training.json (TRAIN_SECONDS of training, NOTE
#    as its line; with RESET_CHAIN=1 the chain starts again from RUN) and
#    rewrites MODEL_CARD.md. SKIP_EVAL=1 reuses the evaluations already in
#    the results folders; SAMPLES_NOTE, what samples.png shows, goes into the
#    card (look at it first). CHAIN_FLAGS adds flags of training_chain.py, as
#    --machine, --precision and --init_from for RUN copied from another machine.
set -euo pipefail
# oneDNN on where TensorFlow leaves it off by default (CPUs without AVX512-VNNI,
# AVX512-BF16, AVX-VNNI or AMX): 2x faster steps (docs/performance.md).
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-.}
PYTHON=${PYTHON:-python}
RUN=${1:?give the folder of the training run}
TRAIN_SECONDS=${2:?give the training wall time of the run in seconds}
NOTE=${3:?give the line of the run for the chain}
SRVP_BEST_BY=${SRVP_BEST_BY:-ssim}
SKIP_EVAL=${SKIP_EVAL:-}  # 1: RESULTS already hold RUN's evaluations
MODEL=${MODEL:-svglp}
case "$MODEL" in
  svglp) TITLE=SVG-LP ;;
  svgpl) TITLE=SVG-PL ;;
  svgfp) TITLE=SVG-FP ;;
  *) echo "MODEL=$MODEL: choose svglp, svgpl or svgfp" >&2; exit 2 ;;
esac
RESULTS=experiments/results/smmnist5k_5to10/$MODEL
SHIP=pretrained/smmnist5k_$MODEL
if [[ "$SKIP_EVAL" != 1 ]]; then
  "$PYTHON" -m svgpl_tf.evaluate --workdir="$RUN" --output_dir="$RESULTS/uniform" \
    --ssim_mode=uniform --num_samples=100 --num_sequences=256 --batch_size=8 --precision=float32
  "$PYTHON" -m svgpl_tf.evaluate --workdir="$RUN" --output_dir="$RESULTS/srvp" \
    --ssim_mode=gaussian --n_future=20 --num_samples=100 --num_sequences=256 --batch_size=8 \
    --best_by="$SRVP_BEST_BY" --precision=float32
fi
rm -rf "$SHIP/checkpoints"
"$PYTHON" -m svgpl_tf.weights_only --workdir="$RUN" --output_dir="$SHIP" --precision=float32
if [[ "${RESET_CHAIN:-}" == 1 ]]; then rm -f "$SHIP/training.json"; fi
# shellcheck disable=SC2086  # CHAIN_FLAGS is a list of flags
"$PYTHON" experiments/training_chain.py "$SHIP" "$RUN" "$TRAIN_SECONDS" --note="$NOTE" ${CHAIN_FLAGS:-}
"$PYTHON" experiments/model_card.py "$SHIP" "$RESULTS/uniform" "$TITLE" --srvp="$RESULTS/srvp" \
  --samples_note="${SAMPLES_NOTE:-}"
