"""What every evaluation report states, as plain constants: its file, its rows,
its metrics and its rules.

Nothing here needs TensorFlow, so that reading and comparing finished reports
(`comparison`, `svgpl_tf.compare`) starts in a second.

Example:
    >>> from svgpl_tf.evaluation import protocol
    >>> protocol.KINDS
    ('best', 'mean', 'worst', 'copy_last', 'blank')
"""

from __future__ import annotations

# The report's file in an evaluation's output folder.
METRICS_FILE = "metrics.json"
# SSIM windows: "uniform" (skimage's default) and "gaussian" (tf.image.ssim's).
SSIM_MODES = ("uniform", "gaussian")
# The trivial baselines of every report: copy the last context frame, and an
# all-black (all-zero) frame, which SM-MNIST's black background makes strong.
BASELINES = ("copy_last", "blank")
# The rows of every report: best / mean / worst of N samples, and the baselines.
KINDS = ("best", "mean", "worst", *BASELINES)
# The metrics whose smaller values are better.
LOWER_IS_BETTER = ("mse", "lpips")
# The metrics of the "beats the baselines" rule (`beats_baselines`), and LPIPS
# where it was measured.
RULE_METRICS = ("ssim", "psnr")
# The rule, as reports state it.
BEATS_RULE = (
    "at every predicted step, the best sample's mean SSIM and PSNR are above, and its mean "
    "LPIPS (where measured) below, those of the better of copy-last and an all-black frame"
)
# How the best and worst samples are chosen (`--best_by`), as the reports state it.
SELECTION_RULES = {
    "ssim": "best (worst): per sequence, the sample with the highest (lowest) SSIM averaged "
    "over the predicted steps; its PSNR, MSE and LPIPS are those of the same sample",
    "each": "best (worst): per sequence and per metric, the sample with the best (worst) value "
    "of that metric averaged over the predicted steps (highest SSIM and PSNR, lowest MSE and "
    "LPIPS), so each metric may pick another sample",
}
