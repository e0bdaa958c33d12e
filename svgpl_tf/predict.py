"""Samples futures of your own clip. Usage:

    svgpl-predict --model=pretrained/smmnist5k_svgpl --input=clip.gif --output_dir=out
    svgpl-predict --model=exports/svg/1 --input=frames/ --num_samples=10 --horizon=20 \
        --resize=crop --video_format=mp4

(or `python -m svgpl_tf.predict`). --model is a training workdir, a shipped
checkpoint or an exported SavedModel version folder; --input is a video
(GIF, MP4, AVI, WebM, ...), a folder of frame images or a .npy array
[time, h, w(, c)]. Writes the animation, a PNG grid and prediction.json to
--output_dir (see `svgpl_tf/serving/predict_lib.py`).
"""

from absl import flags

from svgpl_tf import entry
from svgpl_tf import flags as svg_flags
from svgpl_tf.serving import predict_lib

_MODEL = flags.DEFINE_string(
    "model", None, "Training workdir, shipped checkpoint or SavedModel version folder."
)
_INPUT = flags.DEFINE_string(
    "input", None, "The clip: a video file, a folder of frame images or a .npy array."
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Folder for the predictions.")
svg_flags.define_option_flags(predict_lib.PredictOptions)  # --num_samples, --horizon, ...


def main(argv):
    options = svg_flags.options_from_flags(predict_lib.PredictOptions).validate()
    from svgpl_tf import machine  # TensorFlow loads only once the flags are good

    machine.warn_precision(predict_lib.describe_model(_MODEL.value).precision)
    info = predict_lib.predict(_MODEL.value, _INPUT.value, _OUTPUT_DIR.value, options)
    print(
        f"Sampled {info['num_samples']} futures of {info['horizon']} frames after frames "
        f"{info['context_frames'][0]}-{info['context_frames'][1]} of {_INPUT.value}; "
        f"wrote {', '.join(info['outputs'])} to {_OUTPUT_DIR.value}."
    )


def run() -> None:
    """The console script's entry point."""
    entry.run(main, required=["model", "input", "output_dir"])


if __name__ == "__main__":
    run()
