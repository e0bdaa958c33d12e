#!/usr/bin/env bash
# BatchNorm statistics while sampling (--sampling_batchnorm), measured on the
# shipped SM-MNIST (mnist5k) SVG-LP and SVG-PL checkpoints: best of 20 samples
# on the 256 test sequences, 10 predicted frames, uniform SSIM, batches of 8
# sequences (the training batch, as the reference generates). Writes
# $WORK/<model>_<mode>/metrics.json; experiments/results/sampling_batchnorm/
# holds the metrics.json files of docs/training.md's table.
#   PYTHON=.venv/bin/python WORK=evals/sampling_batchnorm experiments/sampling_batchnorm.sh
set -euo pipefail
# oneDNN on where TensorFlow leaves it off by default (CPUs without AVX512-VNNI,
# AVX512-BF16, AVX-VNNI or AMX): 2x faster steps (docs/performance.md).
export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
PYTHON=${PYTHON:-python}
WORK=${WORK:-evals/sampling_batchnorm}
for model in svglp svgpl; do
  for mode in moving batch sequence; do
    "$PYTHON" -m svgpl_tf.evaluate --workdir="pretrained/smmnist5k_$model" \
      --output_dir="$WORK/${model}_$mode" --num_samples=20 --num_sequences=256 \
      --batch_size=8 --sampling_batchnorm="$mode"
  done
done
