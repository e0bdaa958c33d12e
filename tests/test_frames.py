"""Tests of the frame renderer: tiles, grids and the files it writes."""

import numpy as np
from PIL import Image, ImageSequence

from svgpl_tf import frames


def test_to_uint8_rounds_clips_and_passes_uint8():
    assert frames.to_uint8(np.array([-1.0, 0.5, 0.2, 3.0])).tolist() == [0, 128, 51, 255]
    raw = np.array([7, 200], np.uint8)
    assert frames.to_uint8(raw) is raw


def test_tile_draws_a_level_or_an_rgb_border():
    grey = frames.tile(np.full([2, 3, 1], 0.5), 1, 255)
    assert grey.shape == (4, 5, 1)
    assert grey[0].ravel().tolist() == [255] * 5 and grey[1, 1, 0] == 128
    rgb = frames.tile(frames.to_rgb(np.zeros([2, 2, 1])), 2, (0, 170, 0))
    assert rgb.shape == (6, 6, 3)
    assert rgb[0, 0].tolist() == [0, 170, 0] and rgb[2, 2].tolist() == [0, 0, 0]


def test_grid_places_every_frame_between_borders():
    rows = np.zeros([2, 3, 4, 4, 1])
    rows[1, 2] = 1.0
    image = frames.grid(rows, pad=1, pad_value=0.5)
    assert image.shape == (11, 16, 1) and image.dtype == np.uint8
    assert image[0, 0, 0] == 128 and image[1, 1, 0] == 0
    assert (image[6:10, 11:15] == 255).all()


def test_png_and_gif_round_trip(tmp_path):
    image = frames.grid(np.random.default_rng(0).random([1, 2, 8, 8, 1]))
    path = frames.write_png(str(tmp_path / "a" / "g.png"), image)
    with Image.open(path) as png:
        np.testing.assert_array_equal(np.asarray(png), image[..., 0])
    grey = [np.full([8, 8, 1], v, np.uint8) for v in (0, 128, 255)]
    path = frames.write_gif(str(tmp_path / "g.gif"), grey, ms_per_frame=100)
    with Image.open(path) as gif:
        read = [np.asarray(f.convert("L")) for f in ImageSequence.Iterator(gif)]
    assert [int(f[0, 0]) for f in read] == [0, 128, 255]
