"""Frames as pictures: tiles with borders, grids, and PNG, GIF and MP4 files.

Training's sample images, the evaluation's sample grids and GIFs, the
predictions of `svgpl-predict` and the serving client's GIFs all draw with
these. It needs numpy and Pillow only (PyAV for MP4, imported when asked),
so the serving client may use it without TensorFlow.

Frames are float `[h, w, c]` in [0, 1] (clipped) or uint8, with c = 1 or 3.

Example:
    >>> image = grid(np.zeros([2, 3, 4, 4, 1]))
    >>> write_png("/tmp/grid.png", image)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from svgpl_tf import files


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Frames in [0, 1] (clipped) -> uint8 in [0, 255]; uint8 frames pass unchanged.

    Example:
        >>> to_uint8(np.array([0.0, 0.5, 2.0])).tolist()
        [0, 128, 255]
    """
    frames = np.asarray(frames)
    if frames.dtype == np.uint8:
        return frames
    return np.round(np.clip(frames.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """uint8 frames `[..., c]` with c = 1 or 3 -> uint8 `[..., 3]`."""
    frames = to_uint8(frames)
    return np.repeat(frames, 3, axis=-1) if frames.shape[-1] == 1 else frames


def tile(frame: np.ndarray, border: int, color: int | tuple[int, ...]) -> np.ndarray:
    """A frame inside a border: uint8 `[h + 2 * border, w + 2 * border, c]`.

    Args:
        frame: `[h, w, c]`.
        border: pixels of border on each side.
        color: the border's uint8 level, or one level per channel (an RGB
            colour needs an RGB frame, see `to_rgb`).

    Example:
        >>> tile(np.zeros([4, 4, 1]), 2, 128).shape
        (8, 8, 1)
    """
    image = to_uint8(frame)
    h, w = image.shape[:2]
    out = np.empty([h + 2 * border, w + 2 * border, image.shape[-1]], np.uint8)
    out[:] = color
    out[border : border + h, border : border + w] = image
    return out


def grid(rows: np.ndarray, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tiles clips into one image, one clip per row, frames left to right.

    Args:
        rows: frames `[rows, time, h, w, c]` in [0, 1].
        pad: pixels of border between frames.
        pad_value: border colour in [0, 1].

    Returns:
        uint8 image `[rows * (h + pad) + pad, time * (w + pad) + pad, c]`.

    Example:
        >>> grid(np.zeros([2, 3, 4, 4, 1])).shape
        (11, 16, 1)
    """
    rows = np.clip(np.asarray(rows, np.float32), 0.0, 1.0)
    r, t, h, w, c = rows.shape
    out = np.full((r * (h + pad) + pad, t * (w + pad) + pad, c), pad_value, np.float32)
    for i in range(r):
        for j in range(t):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            out[y : y + h, x : x + w] = rows[i, j]
    return to_uint8(out)


def _image(frame: np.ndarray) -> Image.Image:
    """uint8 `[h, w, 1]`, `[h, w]` or `[h, w, 3]` -> a grey or RGB Pillow image."""
    frame = to_uint8(frame)
    return Image.fromarray(frame[..., 0] if frame.ndim == 3 and frame.shape[-1] == 1 else frame)


def write_png(path: str, image: np.ndarray) -> str:
    """Writes a uint8 `[h, w, c]` image as a PNG, atomically (temporary file, then rename)."""
    picture = _image(image)
    return files.write_atomically(path, lambda tmp: picture.save(tmp, format="PNG"))


def write_gif(path: str, frames: list[np.ndarray], ms_per_frame: int) -> str:
    """Writes frames as an animated GIF that loops forever, atomically.

    Grey frames stay grey; colour frames take an adaptive palette of 256
    colours each (what Pillow does for an RGB GIF).

    Args:
        path: the GIF to write (its folder is created).
        frames: uint8 (or [0, 1]) images `[h, w, c]`, all of one size.
        ms_per_frame: display time of each frame.
    """
    images = []
    for frame in frames:
        image = _image(frame)
        if image.mode == "RGB":
            image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
        images.append(image)
    return files.write_atomically(
        path,
        lambda tmp: images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=ms_per_frame,
            loop=0,
        ),
    )


def write_mp4(path: str, frames: list[np.ndarray], fps: int) -> str:
    """Writes uint8 RGB frames with even sides as an H.264 MP4 (PyAV), atomically."""
    import av

    def write(tmp):
        with av.open(tmp, mode="w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.height, stream.width = frames[0].shape[:2]
            stream.pix_fmt = "yuv420p"
            for frame in frames:
                rgb = to_rgb(frame)
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    return files.write_atomically(path, write)
