"""The user's own clips: video files, folders of frame images and `.npy` arrays.

`read_clip(path)` decodes one clip into uint8 frames `[time, h, w, c]`;
`convert_clip` turns them into a model's channels and, only when asked, its
frame size; `find_clips(pattern)` lists the clips of a folder or glob. Video
files (`.gif`, `.mp4`, `.avi`, `.webm`, `.mov`, `.mkv`) are decoded with PyAV,
whose wheels bundle FFmpeg's libraries, so every container here decodes on a
fresh machine without a system FFmpeg; frame images (`.png`, `.jpg`, ...) are
read with Pillow, in the order of their file names.

Every expected problem (a missing, empty or corrupt file, a folder without
frames, an array of the wrong rank, a size mismatch) raises `ClipError`, a
`ValueError` whose message names the file and the fix.

Example:
    >>> frames = read_clip("clip.mp4")  # doctest: +SKIP
    >>> convert_clip(frames, channels=1, image_size=64, resize="crop").shape  # doctest: +SKIP
    (30, 64, 64, 1)
"""

from __future__ import annotations

import glob
import os

import numpy as np
from PIL import Image

from svgpl_tf.choices import RESIZE_MODES

# Containers decoded with PyAV.
VIDEO_EXTENSIONS = (".gif", ".mp4", ".avi", ".webm", ".mov", ".mkv")
# Frame images read with Pillow, inside a folder.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


class ClipError(ValueError):
    """A clip that cannot be read or used as asked; the message says why and what to do."""


def read_clip(path: str) -> np.ndarray:
    """uint8 frames `[time, h, w, c]` (c = 1 or 3) of a video, a frame folder or a `.npy`.

    A `.npy` array is `[time, h, w]` or `[time, h, w, c]`, uint8 in [0, 255] or
    floats in [0, 1].

    Raises:
        ClipError: the path is missing, empty, corrupt or of an unknown kind.
    """
    if not os.path.exists(path):
        raise ClipError(f"{path}: no such file or folder.")
    if os.path.isdir(path):
        return _read_frame_folder(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        return _read_npy(path)
    if ext in VIDEO_EXTENSIONS:
        return _read_video(path)
    raise ClipError(
        f"{path}: unknown clip type {ext or '(none)'}; give a video "
        f"({', '.join(VIDEO_EXTENSIONS)}), a folder of frames or a .npy array."
    )


def _as_frames(array: np.ndarray, path: str) -> np.ndarray:
    """`[t, h, w(, c)]` uint8 or [0, 1] floats -> uint8 `[t, h, w, c]`, checked."""
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4 or array.shape[-1] not in (1, 3, 4) or 0 in array.shape:
        raise ClipError(
            f"{path}: frames must be [time, h, w] or [time, h, w, c] with c in 1, 3, 4; "
            f"got shape {list(array.shape)}."
        )
    array = array[..., :3]  # drop alpha
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise ClipError(f"{path}: float frames must be finite and in [0, 1].")
        return np.round(array * 255).astype(np.uint8)
    raise ClipError(f"{path}: frames must be uint8 or float, got {array.dtype}.")


def _read_npy(path: str) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ClipError(f"{path}: not a readable .npy array ({e}).") from e
    return _as_frames(np.asarray(array), path)


def _read_frame_folder(path: str) -> np.ndarray:
    names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise ClipError(
            f"{path}: the folder holds no frame images ({', '.join(IMAGE_EXTENSIONS)})."
        )
    frames = []
    for name in names:
        file = os.path.join(path, name)
        try:
            with Image.open(file) as image:
                frames.append(np.asarray(_pil_rgb_or_grey(image)))
        except OSError as e:
            raise ClipError(f"{file}: not a readable image ({e}).") from e
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise ClipError(f"{path}: the frames differ in size or mode: {sorted(shapes)}.")
    return _as_frames(np.stack(frames), path)


def _pil_rgb_or_grey(image: Image.Image) -> Image.Image:
    return (
        image.convert("L") if image.mode in ("1", "L", "I", "I;16", "F") else image.convert("RGB")
    )


def _read_video(path: str) -> np.ndarray:
    import av  # PyAV, imported here so that the rest of the package does not need it

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise ClipError(f"{path}: the file holds no video stream.")
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except ClipError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise ClipError(f"{path}: the video cannot be decoded ({e}).") from e
    if not frames:
        raise ClipError(f"{path}: the video holds no frames.")
    return _as_frames(np.stack(frames), path)


def convert_clip(
    frames: np.ndarray, channels: int, image_size: int, resize: str = "", source: str = "clip"
) -> np.ndarray:
    """uint8 frames `[t, h, w, c]` -> `[t, image_size, image_size, channels]`.

    Channels are converted (RGB to grey by ITU-R 601 luma, grey to RGB by
    repetition). A frame of another size is an error naming both sizes,
    unless `resize` says how: `"crop"` (the centred square, then scaled),
    `"pad"` (black borders to a square, then scaled) or `"stretch"` (scaled
    to the square, ignoring the aspect ratio).

    Args:
        frames: uint8 `[t, h, w, c]`, c = 1 or 3.
        channels: the model's channels, 1 or 3.
        image_size: the model's frame side.
        resize: `""` (no resizing) or one of `RESIZE_MODES`.
        source: what the frames are, for the error message (e.g. the file).
    """
    if resize and resize not in RESIZE_MODES:
        raise ClipError(f"--resize={resize!r}: choose one of {', '.join(RESIZE_MODES)}.")
    t, h, w, c = frames.shape
    if (h, w) != (image_size, image_size):
        if not resize:
            raise ClipError(
                f"{source}: frames are {h}x{w} but the model takes {image_size}x{image_size}; "
                f"pass --resize=crop, pad or stretch to convert them."
            )
        frames = np.stack([_resize(f, image_size, resize) for f in frames])
    if c != channels:
        frames = _to_channels(frames, channels)
    return frames


def _to_channels(frames: np.ndarray, channels: int) -> np.ndarray:
    if channels == 1:  # RGB -> grey
        luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.round(luma)[..., None].astype(np.uint8)
    return np.repeat(frames, 3, axis=-1)  # grey -> RGB


def _resize(frame: np.ndarray, size: int, mode: str) -> np.ndarray:
    """One uint8 frame `[h, w, c]` -> `[size, size, c]`."""
    h, w, c = frame.shape
    if mode == "crop":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        frame = frame[top : top + side, left : left + side]
    elif mode == "pad":
        side = max(h, w)
        square = np.zeros([side, side, c], np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        square[top : top + h, left : left + w] = frame
        frame = square
    image = Image.fromarray(frame[..., 0] if c == 1 else frame)
    out = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    return out[..., None] if c == 1 else out


def find_clips(pattern: str) -> list[str]:
    """The clips a folder or glob names, sorted: videos, `.npy` arrays and frame folders.

    A folder lists its entries (a sub-folder is one clip of frames); a glob
    lists its matches.

    Raises:
        ClipError: nothing matches.
    """
    if os.path.isdir(pattern):
        paths = [os.path.join(pattern, n) for n in os.listdir(pattern)]
    else:
        paths = glob.glob(pattern)
    clips = sorted(
        p
        for p in paths
        if os.path.isdir(p) or os.path.splitext(p)[1].lower() in (*VIDEO_EXTENSIONS, ".npy")
    )
    if not clips:
        raise ClipError(
            f"--dataset=files:{pattern}: no videos ({', '.join(VIDEO_EXTENSIONS)}), .npy arrays "
            "or frame folders there."
        )
    return clips


def split_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """`(train, test)`: the held-out test files are every 10th of the sorted list
    (positions 9, 19, ...), or the last file when there are fewer than 10.

    Which files are held out depends only on the sorted names, so the split
    is the same on every machine and run.

    Raises:
        ClipError: fewer than 2 files (one for each split).
    """
    paths = sorted(paths)
    if len(paths) < 2:
        raise ClipError(
            f"--dataset=files: found {len(paths)} clip; training and its held-out test split "
            "need at least 2."
        )
    test = [p for i, p in enumerate(paths) if i % 10 == 9] or [paths[-1]]
    held = set(test)
    return [p for p in paths if p not in held], test


def load_clips(
    paths: list[str],
    channels: int,
    image_size: int,
    resize: str = "",
    min_frames: int = 1,
    skip_bad_files: bool = False,
) -> tuple[list[np.ndarray], list[str]]:
    """Reads and converts every clip of `paths`: `(clips, skipped)`.

    Args:
        paths: the clips (see `read_clip`).
        channels, image_size, resize: see `convert_clip`.
        min_frames: a clip with fewer frames is unusable.
        skip_bad_files: skip a file that cannot be read or used (its name and
            reason go into `skipped`) instead of raising.

    Raises:
        ClipError: a bad file (named, with the fix), unless `skip_bad_files`;
            or no usable clip at all.
    """
    out, skipped = [], []
    for path in paths:
        try:
            frames = convert_clip(read_clip(path), channels, image_size, resize, source=path)
            if len(frames) < min_frames:
                raise ClipError(
                    f"{path}: {len(frames)} frames, fewer than the {min_frames} a window needs "
                    "(--n_past + --n_future)."
                )
        except ClipError as e:
            if not skip_bad_files:
                raise ClipError(f"{e} Remove it, or pass --skip_bad_files to skip it.") from e
            skipped.append(str(e))
            continue
        out.append(frames)
    if not out:
        raise ClipError(f"None of the {len(paths)} clips could be used: {'; '.join(skipped)}")
    return out, skipped
