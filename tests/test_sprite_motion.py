"""The NumPy motion of the sprites: the batches every trainer draws."""

import numpy as np

from svgpl_tf.data import moving_sprites
from svgpl_tf.data.sprite_motion import MAX_SPEED, render_batch


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
