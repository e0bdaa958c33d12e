"""The NumPy motion of the sprites: the batches every trainer draws."""

import numpy as np
import pytest

from svgpl_tf.data import moving_sprites
from svgpl_tf.data.sprite_motion import MAX_SPEED, render_batch, render_into, sprite_tracks


def _sprites():
    return np.random.default_rng(0).uniform(size=(6, 32, 32)).astype(np.float32)


def test_render_batch_is_the_tf_data_stream_batch():
    """A trainer without TensorFlow (experiments/jax_mirror) draws svgpl-train's batches."""
    sprites = _sprites()
    shape = (3, 4, 64, 64, 1)
    ds = moving_sprites.train_dataset(sprites, batch_size=3, seq_len=4, seed=5, start_step=2)
    first, second = [b.numpy() for b in ds.take(2)]
    np.testing.assert_array_equal(first, render_batch(5, 2, shape, sprites))
    np.testing.assert_array_equal(second, render_batch(5, 3, shape, sprites))
    assert not np.array_equal(first, second)


def test_render_batch_moves_sprites_within_the_speed_limit():
    sprites = np.zeros((1, 32, 32), np.float32)
    sprites[0, 15:17, 15:17] = 1.0  # a 2x2 dot: its position is the sprite's
    batch = render_batch(0, 0, (4, 12, 64, 64, 1), sprites, num_sprites=1)
    assert batch.dtype == np.float32 and batch.max() == 1.0
    for video in batch:
        ys, xs = zip(*[np.argwhere(frame[..., 0])[0] for frame in video])
        step = np.abs(np.diff(np.stack([ys, xs]), axis=1))
        assert step.max() <= MAX_SPEED and step.max() > 0


def _dot_track(video):
    """The [time, 2] sprite position of a one-dot video (see the dot below)."""
    return np.stack([np.argwhere(frame[..., 0])[0] - 15 for frame in video])


def _dot_sprites():
    sprites = np.zeros((1, 32, 32), np.float32)
    sprites[0, 15:17, 15:17] = 1.0  # a 2x2 dot at the sprite's position + 15
    return sprites


def _redrawn(seq_len, clip_seed, future_seed, future_from=5):
    """One dot's clip of `clip_seed`, its bounces from `future_from - 1` redrawn."""
    out = np.zeros((seq_len, 64, 64, 1), np.float32)
    rng, future_rng = np.random.default_rng(clip_seed), np.random.default_rng(future_seed)
    render_into(out, rng, _dot_sprites(), 1, future_rng=future_rng, future_from=future_from)
    return out


def test_future_rng_keeps_the_context_and_redraws_only_the_bounces():
    """A redrawn future is the same clip up to its first bounce after the switch."""
    limit = 64 - 32
    original = np.zeros((40, 64, 64, 1), np.float32)
    render_into(original, np.random.default_rng([3, 1]), _dot_sprites(), 1)
    track = _dot_track(original)  # [time, (y, x)]
    changed = 0
    for k in range(20):
        redrawn = _redrawn(40, [3, 1], [9, k])
        again = _redrawn(40, [3, 1], [9, k])
        np.testing.assert_array_equal(redrawn, again)  # a pure function of the seeds
        np.testing.assert_array_equal(redrawn[:5], original[:5])
        other = _dot_track(redrawn)
        assert np.abs(np.diff(other, axis=0)).max() <= MAX_SPEED
        differ = np.flatnonzero((other != track).any(axis=1))
        if differ.size:
            changed += 1
            first = differ[0]
            # The tracks part the frame after a bounce: the dot sits at a wall,
            # where both clamped it, and leaves it with a new speed. The first
            # bounce redrawn is the last kept frame's (index 4).
            assert first >= 5
            np.testing.assert_array_equal(other[first - 1], track[first - 1])
            assert np.isin(other[first - 1], [0, limit - 1]).any()
    assert changed >= 15  # 40 frames bounce off some wall after frame 5


def test_future_rng_redraws_a_bounce_in_the_last_kept_frame():
    """A bounce in the last kept frame is not seen in it (the sprite is clamped
    to the wall either way), so its new speed belongs to the future."""
    parted = 0
    for i in range(100):
        clip = np.zeros((6, 64, 64, 1), np.float32)
        render_into(clip, np.random.default_rng([4, i]), _dot_sprites(), 1)
        redrawn = _redrawn(6, [4, i], [5, i])
        np.testing.assert_array_equal(redrawn[:5], clip[:5])
        if not np.array_equal(redrawn[5], clip[5]):
            parted += 1
            assert np.isin(_dot_track(clip)[4], [0, 64 - 32 - 1]).any()
    assert parted >= 3


def test_future_from_must_keep_a_frame():
    out = np.zeros((6, 64, 64, 1), np.float32)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="future_from must be >= 1"):
        render_into(out, rng, _sprites(), 2, future_rng=rng, future_from=0)


def test_sprite_tracks_are_the_rendered_motion_and_bounce_only_at_walls():
    limit = 64 - 32
    walls = 0
    for i in range(20):
        clip = np.zeros((30, 64, 64, 1), np.float32)
        render_into(clip, np.random.default_rng([6, i]), _dot_sprites(), 1)
        images, positions, bounces = sprite_tracks(np.random.default_rng([6, i]), 1, 1, 30)
        assert images.tolist() == [0]
        np.testing.assert_array_equal(positions[0], _dot_track(clip))
        steps = np.diff(positions[0], axis=0)  # [29, 2]: the move into frame t + 1
        for t in range(1, 29):
            if bounces[0, t]:
                walls += 1
                assert np.isin(positions[0, t], [0, limit - 1]).any()
            elif not bounces[0, t + 1]:  # no new speeds, no clamp: the same step
                np.testing.assert_array_equal(steps[t], steps[t - 1])
    assert walls >= 10
