"""Writes the README's example clip: a test sequence of SM-MNIST with mnist5k digits. Usage:

    python experiments/make_example_clip.py examples/smmnist5k_test0.gif

The clip is test sequence 0 of the fixed mnist5k test split at 5 context + 10
future frames (the split the shipped models are evaluated on), as a lossless
grey GIF: `svgpl-predict --start=0` takes its first 5 frames as the context and
shows the other 10 beside the samples.
"""

import dataclasses
import sys

import numpy as np
from PIL import Image

from svgpl_tf.config import Config
from svgpl_tf.data.pipeline import make_datasets

# Context and future frames of the clip, as the shipped models train.
N_PAST, N_FUTURE = 5, 10
# Milliseconds per frame of the GIF.
FRAME_MS = 200


def main(path: str) -> None:
    config = dataclasses.replace(
        Config(), sprites="mnist5k", n_past=N_PAST, n_future=N_FUTURE, batch_size=1
    ).validate()
    clip = next(iter(make_datasets(config).test)).numpy()[0]  # [15, 64, 64, 1]
    frames = [Image.fromarray(np.round(f[..., 0] * 255).astype(np.uint8), "L") for f in clip]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0)
    print(f"Wrote {path}: {len(frames)} frames of {clip.shape[1]}x{clip.shape[2]}.")


if __name__ == "__main__":
    main(sys.argv[1])
