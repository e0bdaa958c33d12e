"""Procedural digit sprites: handwritten-looking digits drawn from stroke templates.

The ``procedural`` sprite source of SM-MNIST (``data.digits.load_sprites``):
digits 0-9 drawn from stroke templates with random per-sprite distortions,
so tests and offline runs need no data file and no network.

Example:
    >>> sprites = procedural_digits(20, seed=0)  # [20, 32, 32] in [0, 1]
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from svgpl_tf.choices import SPRITE_SIZE

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
        ``num_segs``: [V] segments of each variant before the padding,
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
        "num_segs": np.array([len(s) for s in all_segs]),
        "digit": digits_arr,
        "variant_start": np.concatenate([[0], np.cumsum(counts)[:-1]]),
        "variant_count": counts,
    }


@functools.cache
def _templates() -> dict[str, np.ndarray]:
    """The packed templates, built on first use and kept."""
    return _pack_templates()


def _rasterise(seg_a: np.ndarray, seg_b: np.ndarray, radius: np.ndarray, size: int) -> np.ndarray:
    """Anti-aliased rendering of thick polylines.

    The distance of each pixel to the nearest segment is kept as a running
    minimum over the segments, one segment at a time, so the working arrays
    stay `[n, size, size]`.

    Args:
        seg_a: [n, S, 2] segment start points (x, y) in pixel coordinates.
        seg_b: [n, S, 2] segment end points.
        radius: [n] stroke half-width in pixels.
        size: canvas side length.

    Returns:
        [n, size, size] float32 images in [0, 1].
    """
    coords = np.arange(size, dtype=np.float32) + 0.5
    nearest = np.full((seg_a.shape[0], size, size), np.inf, dtype=np.float32)  # squared
    for s in range(seg_a.shape[1]):
        ax = seg_a[:, s, 0, None, None]  # [n, 1, 1]
        ay = seg_a[:, s, 1, None, None]
        abx = seg_b[:, s, 0, None, None] - ax
        aby = seg_b[:, s, 1, None, None] - ay
        inv_len2 = 1.0 / np.maximum(abx * abx + aby * aby, 1e-6)
        apx = coords[None, None, :] - ax  # [n, 1, w]
        apy = coords[None, :, None] - ay  # [n, h, 1]
        t = apx * abx + apy * aby  # [n, h, w]
        t *= inv_len2
        np.clip(t, 0.0, 1.0, out=t)
        dx = apx - t * abx
        dy = apy - t * aby
        dx *= dx
        dy *= dy
        dx += dy
        np.minimum(nearest, dx, out=nearest)
    dist = np.sqrt(nearest)  # [n, h, w]
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
    # Sprites drawn in order of their real segment count, so that each chunk
    # skips the padding (repeated segments) beyond its longest template.
    num_segs = tpl["num_segs"][variant]  # [n]
    order = np.argsort(num_segs, kind="stable")
    out = np.empty((num, size, size), dtype=np.float32)
    chunk = 256
    for start in range(0, num, chunk):
        rows = order[start : start + chunk]
        s = seg[rows, : num_segs[rows].max()]  # [c, S', 2]
        p = pts_px[rows]
        seg_a = np.take_along_axis(p, s[..., 0, None], axis=1)  # [c, S', 2]
        seg_b = np.take_along_axis(p, s[..., 1, None], axis=1)
        out[rows] = _rasterise(seg_a, seg_b, radius[rows], size)
    return out
