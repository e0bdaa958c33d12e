"""Training: the loop, its callbacks, the optimizer, distribution, time to quality.

- `loop`: `train(config, workdir)`, the whole training program (`svgpl_tf.train`);
- `callbacks`: stopping, checkpoints, the progress line, summaries, sample images;
- `optimizer`: Adam with per-variable learning-rate factors (`--lstm_bias=double`);
- `distribute`: `--strategy` -> a `tf.distribute` strategy, and which worker writes;
- `time_to_quality`: training under a probe that scores best-of-N samples
  against the baselines (`svgpl_tf.time_to_quality`).

This file imports none of them: `svgpl_tf.runs` builds models with the
optimizer, and importing it must not load the training loop.
"""
