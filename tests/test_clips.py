"""Tests of reading the user's clips (`svgpl_tf.data.clips`)."""

import numpy as np
import pytest
from clip_files import moving_square, write_clip

from svgpl_tf.data import clips
from svgpl_tf.data.clips import ClipError


@pytest.mark.parametrize("name", ["c.gif", "c.mp4", "c.avi", "c.webm", "c.mkv", "frames", "c.npy"])
def test_every_container_decodes_to_the_frames_written(tmp_path, name):
    frames = moving_square(12)
    path = write_clip(str(tmp_path / name), frames)
    got = clips.read_clip(path)
    assert got.shape[0] == 12 and got.shape[1:3] == (64, 64)
    grey = clips.convert_clip(got, channels=1, image_size=64)  # [12, 64, 64, 1]
    error = np.abs(grey.astype(int) - frames.astype(int))
    if name in ("c.gif", "frames", "c.npy"):  # lossless
        assert error.max() == 0
    else:  # the codecs blur the square's edges a little (ffv1 only through yuv420p)
        assert error.mean() <= 8, error.mean()
    # The square is where it was written in every frame.
    for t in (0, 11):
        ys, xs = np.nonzero(grey[t, ..., 0] > 128)
        want_y, want_x = np.nonzero(frames[t, ..., 0] > 128)
        assert abs(ys.mean() - want_y.mean()) < 1.0 and abs(xs.mean() - want_x.mean()) < 1.0


def test_channels_and_sizes_convert_only_when_asked(tmp_path):
    rgb = moving_square(4, size=80, rgb=True)
    with pytest.raises(ClipError, match="80x80 but the model takes 64x64.*--resize"):
        clips.convert_clip(rgb, channels=1, image_size=64, source="x.mp4")
    for mode in clips.RESIZE_MODES:
        out = clips.convert_clip(rgb, channels=1, image_size=64, resize=mode)
        assert out.shape == (4, 64, 64, 1) and out.dtype == np.uint8
    grey = moving_square(2)
    np.testing.assert_array_equal(clips.convert_clip(grey, 3, 64)[..., 1], grey[..., 0])
    # RGB -> grey by ITU-R 601 luma.
    colour = np.zeros([1, 64, 64, 3], np.uint8)
    colour[..., 0] = 200
    assert clips.convert_clip(colour, 1, 64)[0, 0, 0, 0] == round(0.299 * 200)
    # Padding keeps a wide frame whole: black bars above and below.
    wide = np.full([1, 32, 64, 1], 255, np.uint8)
    padded = clips.convert_clip(wide, 1, 64, resize="pad")[0, ..., 0]
    assert padded[0].max() == 0 and padded[32].min() == 255


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: str(d / "missing.mp4"), "no such file"),
        (lambda d: (d / "empty").mkdir() or str(d / "empty"), "no frame images"),
        (lambda d: (d / "bad.mp4").write_bytes(b"not a video at all") and str(d / "bad.mp4"),
         "cannot be decoded"),
        (lambda d: (d / "x.txt").write_text("hi") and str(d / "x.txt"), "unknown clip type"),
        (lambda d: np.save(d / "flat.npy", np.zeros([5, 5])) or str(d / "flat.npy"),
         "must be \\[time, h, w\\]"),
    ],
)  # fmt: skip
def test_bad_clips_are_one_clear_error(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(ClipError, match=message) as info:
        clips.read_clip(path)
    assert path in str(info.value)


def test_folders_and_globs_list_clips_and_split_by_name(tmp_path):
    for i in range(12):
        write_clip(str(tmp_path / f"clip_{i:02d}.npy"), moving_square(6, seed=i))
    (tmp_path / "notes.txt").write_text("not a clip")
    found = clips.find_clips(str(tmp_path))
    assert len(found) == 12 and found == sorted(found)
    assert clips.find_clips(str(tmp_path / "clip_0*.npy")) == found[:10]
    train, test = clips.split_files(found)
    assert test == [found[9]] and len(train) == 11
    assert clips.split_files(found[:3]) == (found[:2], [found[2]])
    with pytest.raises(ClipError, match="at least 2"):
        clips.split_files(found[:1])
    with pytest.raises(ClipError, match="no videos"):
        clips.find_clips(str(tmp_path / "nothing*"))


def test_bad_files_are_named_or_skipped_and_counted(tmp_path):
    good = write_clip(str(tmp_path / "a.npy"), moving_square(6))
    short = write_clip(str(tmp_path / "b.npy"), moving_square(2))
    bad = str(tmp_path / "c.mp4")
    open(bad, "wb").write(b"\x00" * 100)
    with pytest.raises(ClipError, match="c.mp4.*--skip_bad_files"):
        clips.load_clips([good, bad], 1, 64)
    with pytest.raises(ClipError, match="b.npy: 2 frames, fewer than the 4"):
        clips.load_clips([good, short], 1, 64, min_frames=4)
    loaded, skipped = clips.load_clips([good, short, bad], 1, 64, min_frames=4, skip_bad_files=True)
    assert len(loaded) == 1 and len(skipped) == 2
    assert any("c.mp4" in s for s in skipped) and any("b.npy" in s for s in skipped)
