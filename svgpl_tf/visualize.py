"""Frame grids as images: what the training run writes as samples."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from svgpl_tf import files


def frames_grid(rows: np.ndarray, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tiles clips into one image, one clip per row.

    Args:
        rows: frames `[rows, time, h, w, c]` in [0, 1] (c = 1 or 3).
        pad: pixels of border between frames.
        pad_value: border colour in [0, 1].

    Returns:
        uint8 image `[rows * (h + pad) + pad, time * (w + pad) + pad, c]`.

    Example:
        >>> frames_grid(np.zeros([2, 3, 4, 4, 1])).shape
        (11, 16, 1)
    """
    rows = np.clip(np.asarray(rows, np.float32), 0.0, 1.0)
    r, t, h, w, c = rows.shape
    out = np.full((r * (h + pad) + pad, t * (w + pad) + pad, c), pad_value, np.float32)
    for i in range(r):
        for j in range(t):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y : y + h, x : x + w] = rows[i, j]
    return np.round(out * 255.0).astype(np.uint8)


def write_png(path: str, image: np.ndarray) -> None:
    """Writes a uint8 `[h, w, c]` image atomically (temp file, then rename)."""
    files.write_atomically(path, lambda tmp: tf.io.write_file(tmp, tf.io.encode_png(image)))
