"""Clips the tests write: a moving square in every container the package reads."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

# Codec of each container written here.
CODECS = {".mp4": "libx264", ".avi": "mpeg4", ".webm": "libvpx", ".mkv": "ffv1"}


def moving_square(frames: int = 12, size: int = 64, rgb: bool = False, seed: int = 0) -> np.ndarray:
    """uint8 `[frames, size, size, 3 or 1]`: a bright square moving down on black."""
    rng = np.random.default_rng(seed)
    left = int(rng.integers(0, size // 2))
    out = np.zeros([frames, size, size, 3 if rgb else 1], np.uint8)
    for t in range(frames):
        top = (4 + 2 * t) % (size - 16)
        out[t, top : top + 16, left : left + 16] = 255
    return out


def write_clip(path: str, frames: np.ndarray, fps: int = 10) -> str:
    """Writes uint8 frames `[t, h, w, c]` as a video (by extension), a frame folder
    (a path without extension) or a `.npy`."""
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        np.save(path, frames)
        return path
    rgb = np.repeat(frames, 3, -1) if frames.shape[-1] == 1 else frames
    if ext == "":
        os.makedirs(path, exist_ok=True)
        for t, f in enumerate(rgb):
            Image.fromarray(f).save(os.path.join(path, f"frame_{t:04d}.png"))
        return path
    if ext == ".gif":
        images = [Image.fromarray(f) for f in rgb]
        images[0].save(path, save_all=True, append_images=images[1:], duration=100, loop=0)
        return path
    import av

    with av.open(path, "w") as container:
        stream = container.add_stream(CODECS[ext], rate=fps)
        stream.height, stream.width = rgb.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for f in rgb:
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
