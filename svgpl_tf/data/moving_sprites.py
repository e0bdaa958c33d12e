"""Stochastic Moving MNIST (SM-MNIST) style video datasets.

Videos of digit sprites moving in a square frame, following the stochastic
variant of Moving MNIST from Denton & Fergus (2018), "Stochastic video
generation with a learned prior" (reference: edenton/svg,
data/moving_mnist.py with deterministic=False). Each sprite moves with a
constant integer velocity; when it hits a wall it bounces off with a new
random velocity, which makes the future genuinely uncertain.

The sprites come from ``svgpl_tf.data.digits`` (procedural digits or MNIST).
``train_dataset`` is an infinite, seeded stream of batches and
``test_dataset`` a fixed, finite test split.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

from svgpl_tf.choices import SPRITE_SIZE
from svgpl_tf.data.sprite_motion import IMAGE_SIZE, MAX_SPEED, render_batch, render_into

__all__ = ["IMAGE_SIZE", "MAX_SPEED", "render_sequence", "test_dataset", "train_dataset"]


# ---------------------------------------------------------------------------
# Clean interpreter exit
# ---------------------------------------------------------------------------
# ``Dataset.from_generator`` runs the Python generator on tf.data's prefetch
# thread. If the process exits while that thread is inside (or about to call
# into) the generator, the thread blocks forever on the GIL during interpreter
# finalisation and the iterator's destructor waits for it: the process hangs
# at exit (tensorflow/tensorflow#22632). To avoid this, every batch source
# below is wrapped in ``_StoppableBatches``; an ``atexit`` hook, which runs
# before finalisation, makes them end their streams and waits until
# tf.data has stopped calling into them. The hook is registered when the
# first source is made, not at import.

_EXIT_STOP = threading.Event()
_ACTIVITY_LOCK = threading.Lock()
_LIVE_SOURCES: weakref.WeakSet[_StoppableBatches] = weakref.WeakSet()
# Seconds without any call into a batch source after which tf.data is
# considered idle at exit, and the longest the exit hook waits.
_EXIT_QUIET_S = 0.1
_EXIT_TIMEOUT_S = 10.0
_EXIT_HOOK = []  # holds True once the hook is registered


class _StoppableBatches:
    """Iterator over ``make_batch(0), make_batch(1), ...`` that ends at exit.

    ``make_batch`` returns None to end the stream.
    """

    def __init__(self, make_batch: Callable[[int], np.ndarray | None]) -> None:
        self._make_batch = make_batch
        self._index = 0
        self.running = False
        self.finished = False
        self.last_active = time.monotonic()
        with _ACTIVITY_LOCK:
            _LIVE_SOURCES.add(self)
            if not _EXIT_HOOK:
                atexit.register(_stop_batch_sources)
                _EXIT_HOOK.append(True)

    def __iter__(self) -> _StoppableBatches:
        return self

    def __next__(self) -> np.ndarray:
        with _ACTIVITY_LOCK:
            if self.finished or _EXIT_STOP.is_set():
                self.finished = True
                self.last_active = time.monotonic()
                raise StopIteration
            self.running = True
        try:
            batch = self._make_batch(self._index)
        finally:
            with _ACTIVITY_LOCK:
                self.running = False
                self.last_active = time.monotonic()
        if batch is None:
            self.finished = True
            raise StopIteration
        self._index += 1
        return batch


def _stop_batch_sources() -> None:
    """Ends all live batch streams and waits until tf.data stops using them."""
    _EXIT_STOP.set()
    deadline = time.monotonic() + _EXIT_TIMEOUT_S
    while time.monotonic() < deadline:
        now = time.monotonic()
        with _ACTIVITY_LOCK:
            # A finished source is still followed by tf.data's finalize call,
            # so wait for a quiet period after the last call in every case.
            busy = any(
                src.running or now - src.last_active < _EXIT_QUIET_S for src in list(_LIVE_SOURCES)
            )
        if not busy:
            return
        time.sleep(0.01)  # releases the GIL so the prefetch thread can finish


def _check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    """Returns ``value`` as int, raising ValueError if it is not >= minimum."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _check_seed(name: str, value: int) -> int:
    """Returns ``value`` as int, raising ValueError if it is not a valid seed."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
    return int(value)


def _check_image_size(image_size: int) -> int:
    """Validates the frame size: sprites must be able to move inside it."""
    image_size = _check_positive_int("image_size", image_size)
    if image_size <= SPRITE_SIZE:
        raise ValueError(
            f"image_size must be larger than the sprite size {SPRITE_SIZE} so "
            f"that sprites can move, got {image_size}; use e.g. "
            f"image_size={IMAGE_SIZE}."
        )
    return image_size


def _check_sprite_shape(sprites: np.ndarray) -> None:
    """Raises ValueError unless ``sprites`` is a non-empty [N, 32, 32] array."""
    shape = np.shape(sprites)
    if len(shape) != 3 or shape[0] < 1 or shape[1:] != (SPRITE_SIZE, SPRITE_SIZE):
        raise ValueError(
            f"sprites must be an array of shape [N, {SPRITE_SIZE}, "
            f"{SPRITE_SIZE}] with N >= 1, got shape {shape}. Load them with "
            "svgpl_tf.data.digits.load_sprites()."
        )


def _prepare_sprites(sprites: np.ndarray) -> np.ndarray:
    """Validates shape and value range; returns a contiguous float32 copy."""
    _check_sprite_shape(sprites)
    sprites = np.ascontiguousarray(sprites, dtype=np.float32)
    lo, hi = float(sprites.min()), float(sprites.max())
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"sprite values must lie in [0, 1], got range [{lo}, {hi}]. Scale "
            "uint8 images by 1/255 (load_sprites() already does)."
        )
    return sprites


def render_sequence(
    rng: np.random.Generator,
    sprites: np.ndarray,
    seq_len: int,
    num_sprites: int = 2,
    image_size: int = IMAGE_SIZE,
) -> np.ndarray:
    """Renders one stochastic moving-sprites video.

    Each sprite starts at a random position with a random velocity in
    [-4, 4]^2 px/frame; on hitting a wall it is clamped inside the frame and
    gets a new random velocity pointing away from that wall (plus a new random
    velocity along the other axis). Overlaps are clipped to 1.

    Args:
        rng: numpy random generator; the video is a pure function of its state.
        sprites: [N, 32, 32] sprites with values in [0, 1].
        seq_len: number of frames (>= 1).
        num_sprites: number of sprites in the video (>= 1).
        image_size: frame side length (> 32).

    Returns:
        float32 array [seq_len, image_size, image_size, 1] in [0, 1].
    """
    seq_len = _check_positive_int("seq_len", seq_len)
    num_sprites = _check_positive_int("num_sprites", num_sprites)
    image_size = _check_image_size(image_size)
    _check_sprite_shape(sprites)
    sprites = np.asarray(sprites, dtype=np.float32)
    out = np.zeros((seq_len, image_size, image_size, 1), np.float32)  # [t, h, w, c]
    render_into(out, rng, sprites, num_sprites)
    return out


def _video_spec(batch_size: int | None, seq_len: int, image_size: int) -> tf.TensorSpec:
    """TensorSpec of a batch of videos [batch, time, h, w, 1]."""
    return tf.TensorSpec(shape=(batch_size, seq_len, image_size, image_size, 1), dtype=tf.float32)


def train_dataset(
    sprites: np.ndarray,
    *,
    batch_size: int,
    seq_len: int,
    seed: int,
    start_step: int = 0,
    num_sprites: int = 2,
    image_size: int = IMAGE_SIZE,
) -> tf.data.Dataset:
    """Infinite stream of random training videos.

    Batch ``i`` of the run is a pure function of ``(seed, i)``: it is rendered
    with ``np.random.default_rng([seed, i])``, and the stream starts at batch
    ``start_step``. So a run resumed at step ``k`` (``start_step=k``) sees
    exactly the batches an uninterrupted run would have seen from step ``k``
    on. Iterating the dataset again restarts the same stream.

    Args:
        sprites: [N, 32, 32] sprites with values in [0, 1].
        batch_size: videos per batch (>= 1).
        seq_len: frames per video (>= 1).
        seed: non-negative base seed.
        start_step: non-negative training step the stream starts at.
        num_sprites: sprites per video (>= 1).
        image_size: frame side length (> 32).

    Returns:
        Dataset of float32 batches [batch_size, seq_len, image_size,
        image_size, 1] in [0, 1] with fully static shapes.
    """
    batch_size = _check_positive_int("batch_size", batch_size)
    seq_len = _check_positive_int("seq_len", seq_len)
    seed = _check_seed("seed", seed)
    start_step = _check_seed("start_step", start_step)
    num_sprites = _check_positive_int("num_sprites", num_sprites)
    image_size = _check_image_size(image_size)
    sprites = _prepare_sprites(sprites)

    shape = (batch_size, seq_len, image_size, image_size, 1)

    def generate() -> Iterator[np.ndarray]:
        # Each pass over the dataset replays the same stream.
        def make_batch(index: int) -> np.ndarray:
            return render_batch(seed, start_step + index, shape, sprites, num_sprites)

        return _StoppableBatches(make_batch)

    ds = tf.data.Dataset.from_generator(
        generate, output_signature=_video_spec(batch_size, seq_len, image_size)
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def test_dataset(
    sprites: np.ndarray,
    *,
    num_sequences: int,
    seq_len: int,
    batch_size: int,
    seed: int = 1234,
    num_sprites: int = 2,
    image_size: int = IMAGE_SIZE,
) -> tf.data.Dataset:
    """Fixed, finite test split.

    Sequence ``i`` is rendered with ``np.random.default_rng([seed, i])``, so the
    split is identical across runs and does not depend on ``batch_size``.

    Args:
        sprites: [N, 32, 32] test sprites with values in [0, 1].
        num_sequences: number of test videos (>= 1).
        seq_len: frames per video (>= 1).
        batch_size: videos per batch (>= 1); the last batch holds the
            remainder (no videos are dropped).
        seed: non-negative seed of the split.
        num_sprites: sprites per video (>= 1).
        image_size: frame side length (> 32).

    Returns:
        Dataset of float32 batches [<=batch_size, seq_len, image_size,
        image_size, 1] in [0, 1]; the batch dimension is not static.
    """
    num_sequences = _check_positive_int("num_sequences", num_sequences)
    seq_len = _check_positive_int("seq_len", seq_len)
    batch_size = _check_positive_int("batch_size", batch_size)
    seed = _check_seed("seed", seed)
    num_sprites = _check_positive_int("num_sprites", num_sprites)
    image_size = _check_image_size(image_size)
    sprites = _prepare_sprites(sprites)

    def make_batch(index: int) -> np.ndarray | None:
        start = index * batch_size
        if start >= num_sequences:
            return None
        stop = min(start + batch_size, num_sequences)
        batch = np.zeros((stop - start, seq_len, image_size, image_size, 1), np.float32)
        for b, i in enumerate(range(start, stop)):  # [batch, time, h, w, c]
            render_into(batch[b], np.random.default_rng([seed, i]), sprites, num_sprites)
        return batch

    def generate() -> Iterator[np.ndarray]:
        return _StoppableBatches(make_batch)

    ds = tf.data.Dataset.from_generator(
        generate, output_signature=_video_spec(None, seq_len, image_size)
    )
    return ds.prefetch(tf.data.AUTOTUNE)


# Keep pytest from collecting this function when a test module imports it.
test_dataset.__test__ = False
