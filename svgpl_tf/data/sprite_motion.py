"""The motion and drawing of stochastic moving sprites, in NumPy alone.

The sprites of SM-MNIST (Denton & Fergus, 2018; reference edenton/svg,
data/moving_mnist.py with deterministic=False) move with constant integer
velocities and bounce off the walls with new random velocities.
`svgpl_tf.data.moving_sprites` builds its `tf.data` streams on these
functions; a program without TensorFlow (a trainer on another framework)
draws the same batches from them.
"""

from __future__ import annotations

import numpy as np

from svgpl_tf.choices import SPRITE_SIZE

# Default side length of the square video frames in pixels.
IMAGE_SIZE = 64
# Largest absolute per-frame displacement of a sprite along each axis.
MAX_SPEED = 4


def _off_the_wall(pos: int, limit: int, rng: np.random.Generator) -> tuple[int, int, int]:
    """A sprite past a wall along one axis: clamped inside, with a new speed
    away from the wall along that axis, then a new speed across it, drawn in
    that order as the reference draws them.

    Returns:
        `(position, speed along the axis, speed across it)`.
    """
    if pos < 0:
        return 0, int(rng.integers(1, MAX_SPEED + 1)), int(rng.integers(-MAX_SPEED, MAX_SPEED + 1))
    along = int(rng.integers(-MAX_SPEED, 0))
    return limit - 1, along, int(rng.integers(-MAX_SPEED, MAX_SPEED + 1))


def sprite_tracks(
    rng: np.random.Generator,
    num_sprites: int,
    num_images: int,
    seq_len: int,
    image_size: int = IMAGE_SIZE,
    future_rng: np.random.Generator | None = None,
    future_from: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sprites, positions and bounces of one sequence, without drawing it.

    Each sprite moves by the draws of the reference stochastic moving MNIST
    (``np.random.randint(a, b)`` -> ``rng.integers(a, b)``), taken from its
    own generator seeded by one draw of ``rng``. So a longer clip of the same
    seed extends the shorter one frame for frame: an evaluation with a longer
    horizon scores the same clips.

    With ``future_rng``, frames ``[0, future_from)`` are the clip of ``rng``
    unchanged, and every bounce that can change a later frame (those of frames
    ``future_from - 1`` on: a bounce moves a sprite from the next frame on)
    draws from ``future_rng`` instead. That is a fresh draw of the clip's
    future from the data's own dynamics, given what its first ``future_from``
    frames show: the distribution a perfect model would sample.

    Args:
        rng: random generator.
        num_sprites: number of sprites in the video.
        num_images: number of sprite images to pick from.
        seq_len: number of frames.
        image_size: frame side length (> 32).
        future_rng: optional generator of the bounces from frame ``future_from - 1``.
        future_from: first frame that may differ from the clip of ``rng``
            (>= 1; used with ``future_rng`` only).

    Returns:
        ``(images, positions, bounces)``: each sprite's image index
        ``[num_sprites]``, its top-left corner ``[num_sprites, seq_len, 2]``
        as (y, x), and ``[num_sprites, seq_len]`` booleans, true where the
        sprite hit a wall at that frame and drew new speeds, which move it
        from the next frame on.

    Example:
        >>> images, positions, bounces = sprite_tracks(np.random.default_rng(0), 2, 10, 30)
        >>> positions.shape, bool(bounces.any())
        ((2, 30, 2), True)
    """
    if future_rng is not None and future_from < 1:
        raise ValueError(f"future_from must be >= 1 (the frames kept), got {future_from}")
    limit = image_size - SPRITE_SIZE  # positions are kept in [0, limit - 1]
    images = np.zeros(num_sprites, np.int64)
    positions = np.zeros((num_sprites, seq_len, 2), np.int64)  # [sprite, time, (y, x)]
    bounces = np.zeros((num_sprites, seq_len), bool)  # [sprite, time]
    sprite_seeds = rng.integers(2**63, size=num_sprites)
    for i, sprite_seed in enumerate(sprite_seeds):
        rng = np.random.default_rng(sprite_seed)  # this sprite's own stream
        images[i] = rng.integers(num_images)
        sx = int(rng.integers(limit))
        sy = int(rng.integers(limit))
        dx = int(rng.integers(-MAX_SPEED, MAX_SPEED + 1))
        dy = int(rng.integers(-MAX_SPEED, MAX_SPEED + 1))
        for t in range(seq_len):
            if future_rng is not None and t == future_from - 1:
                rng = future_rng
            if not 0 <= sy < limit:
                sy, dy, dx = _off_the_wall(sy, limit, rng)
                bounces[i, t] = True
            if not 0 <= sx < limit:
                sx, dx, dy = _off_the_wall(sx, limit, rng)
                bounces[i, t] = True
            positions[i, t] = sy, sx
            sy += dy
            sx += dx
    return images, positions, bounces


def render_into(
    out: np.ndarray,
    rng: np.random.Generator,
    sprites: np.ndarray,
    num_sprites: int,
    future_rng: np.random.Generator | None = None,
    future_from: int = 0,
) -> None:
    """Renders one sequence, the motion of `sprite_tracks`, into the zero-initialised ``out``.

    Args:
        out: [seq_len, image_size, image_size, 1] float32 zeros, written in place.
        rng: random generator.
        sprites: [N, 32, 32] float32 in [0, 1].
        num_sprites: number of sprites in the video.
        future_rng: optional generator of the bounces from frame ``future_from - 1``
            (`sprite_tracks`).
        future_from: first frame that may differ from the clip of ``rng``
            (>= 1; used with ``future_rng`` only).

    Example:
        >>> sprites = np.ones([3, 32, 32], np.float32)
        >>> clip, other = np.zeros([2, 8, 64, 64, 1], np.float32)
        >>> render_into(clip, np.random.default_rng(0), sprites, 2)
        >>> render_into(other, np.random.default_rng(0), sprites, 2,
        ...             future_rng=np.random.default_rng(1), future_from=5)
        >>> bool((clip[:5] == other[:5]).all())
        True
    """
    seq_len, image_size = out.shape[0], out.shape[1]
    images, positions, _ = sprite_tracks(
        rng, num_sprites, len(sprites), seq_len, image_size, future_rng, future_from
    )
    canvas = out[..., 0]  # [time, h, w]
    for image, track in zip(images, positions):
        sprite = sprites[image]  # [32, 32]
        for t, (y, x) in enumerate(track.tolist()):
            canvas[t, y : y + SPRITE_SIZE, x : x + SPRITE_SIZE] += sprite
    # Overlapping sprites saturate (sprites are >= 0, so only the top matters).
    np.minimum(out, 1.0, out=out)


def render_batch(
    seed: int, index: int, shape: tuple[int, ...], sprites: np.ndarray, num_sprites: int = 2
) -> np.ndarray:
    """Batch `index` of the training stream of `seed`.

    It is rendered with `np.random.default_rng([seed, index])`, so a batch is
    a pure function of `(seed, index)`, whoever draws it.

    Args:
        seed: non-negative base seed of the stream.
        index: non-negative batch index.
        shape: `(batch, time, h, w, 1)` of the batch.
        sprites: `[N, 32, 32]` float32 sprites in [0, 1].
        num_sprites: sprites per video.

    Returns:
        float32 videos `shape` in [0, 1].

    Example:
        >>> sprites = np.ones([3, 32, 32], np.float32)
        >>> batch = render_batch(0, 5, (2, 4, 64, 64, 1), sprites)
        >>> batch.shape, float(batch.max())
        ((2, 4, 64, 64, 1), 1.0)
    """
    rng = np.random.default_rng([seed, index])
    batch = np.zeros(shape, np.float32)  # [batch, time, h, w, c]
    for video in batch:
        render_into(video, rng, sprites, num_sprites)
    return batch
