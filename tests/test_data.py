"""Tests for the digit sprite sources and the stochastic moving-sprites datasets."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

from svgpl_tf.data import digits, drawn_digits, mnist
from svgpl_tf.data import moving_sprites as ms

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sprites() -> np.ndarray:
    return drawn_digits.procedural_digits(60, seed=0)  # [n, 32, 32]


def reference_sequence(
    rng: np.random.Generator, sprites: np.ndarray, seq_len: int, num_sprites: int, size: int
) -> np.ndarray:
    """Straightforward transcription of edenton/svg data/moving_mnist.py.

    (``__getitem__`` with deterministic=False; ``np.random.randint`` -> ``rng.integers``),
    each sprite drawing from its own generator seeded by one draw of ``rng``.
    """
    x = np.zeros((seq_len, size, size, 1), dtype=np.float32)
    for sprite_seed in rng.integers(2**63, size=num_sprites):
        rng = np.random.default_rng(sprite_seed)
        digit = sprites[rng.integers(len(sprites))]
        sx = rng.integers(size - 32)
        sy = rng.integers(size - 32)
        dx = rng.integers(-4, 5)
        dy = rng.integers(-4, 5)
        for t in range(seq_len):
            if sy < 0:
                sy = 0
                dy = rng.integers(1, 5)
                dx = rng.integers(-4, 5)
            elif sy >= size - 32:
                sy = size - 32 - 1
                dy = rng.integers(-4, 0)
                dx = rng.integers(-4, 5)
            if sx < 0:
                sx = 0
                dx = rng.integers(1, 5)
                dy = rng.integers(-4, 5)
            elif sx >= size - 32:
                sx = size - 32 - 1
                dx = rng.integers(-4, 0)
                dy = rng.integers(-4, 5)
            x[t, sy : sy + 32, sx : sx + 32, 0] += digit
            sy += dy
            sx += dx
    x[x > 1] = 1.0
    return x


def write_fake_mnist(path, n_train: int = 5, n_test: int = 3) -> None:
    """Writes an mnist.npz in the keras.datasets.mnist layout."""
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    x_train[0] = 255  # all white
    x_train[1] = 0
    x_train[1, :, :14] = 255  # left half white
    x_test = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    np.savez(
        path,
        x_train=x_train,
        y_train=np.arange(n_train, dtype=np.uint8) % 10,
        x_test=x_test,
        y_test=np.arange(n_test, dtype=np.uint8) % 10,
    )


def take(ds, n: int) -> list[np.ndarray]:
    return [b.numpy() for b in ds.take(n)]


# ---------------------------------------------------------------------------
# Procedural digits
# ---------------------------------------------------------------------------


def test_procedural_digits_shape_range_and_determinism():
    a = drawn_digits.procedural_digits(40, seed=3)
    assert a.shape == (40, 32, 32) and a.dtype == np.float32
    assert a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, drawn_digits.procedural_digits(40, seed=3))
    assert not np.array_equal(a, drawn_digits.procedural_digits(40, seed=4))
    assert drawn_digits.procedural_digits(0, seed=3).shape == (0, 32, 32)


def test_procedural_digits_look_like_mnist_sprites():
    d = drawn_digits.procedural_digits(200, seed=1)
    ink = d.mean(axis=(1, 2))
    assert 0.05 < d.mean() < 0.4
    assert ink.min() > 0.02 and ink.max() < 0.4
    assert (d.max(axis=(1, 2)) > 0.9).all()  # strokes saturate like MNIST
    # Digit roughly centred, fills most of the height, does not touch the border.
    ys, xs = np.mgrid[0:32, 0:32] + 0.5
    mass = d.sum(axis=(1, 2))
    cy = (d * ys).sum(axis=(1, 2)) / mass
    cx = (d * xs).sum(axis=(1, 2)) / mass
    assert np.abs(cy - 16).max() < 6 and np.abs(cx - 16).max() < 6
    rows = (d > 0.5).any(axis=2)
    height = 32 - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    assert height.min() >= 16 and height.max() <= 31
    border = np.concatenate([d[:, 0], d[:, -1], d[:, :, 0], d[:, :, -1]], axis=1)
    assert border.mean() < 0.02


def test_procedural_digit_classes_are_distinguishable():
    # Sprite i shows digit i % 10: a nearest-class-mean classifier fitted on one seed
    # must recognise the digits drawn with another seed far above chance (0.1).
    labels = np.arange(300) % 10
    train = drawn_digits.procedural_digits(300, seed=0)
    test = drawn_digits.procedural_digits(300, seed=1)
    means = np.stack([train[labels == k].mean(axis=0) for k in range(10)])  # [10, 32, 32]
    dist = ((test[:, None] - means[None]) ** 2).sum(axis=(2, 3))
    accuracy = (dist.argmin(axis=1) == labels).mean()
    assert accuracy > 0.6, accuracy
    pairwise = np.sqrt(((means[:, None] - means[None]) ** 2).sum(axis=(2, 3)))
    assert pairwise[~np.eye(10, dtype=bool)].min() > 1.0


def test_procedural_digits_rejects_bad_count():
    with pytest.raises(ValueError, match="num"):
        drawn_digits.procedural_digits(-1, seed=0)


def test_load_sprites_procedural_splits_differ():
    train = digits.load_sprites("procedural", "train", num_procedural=20, seed=5)
    test = digits.load_sprites("procedural", "test", num_procedural=20, seed=5)
    assert train.shape == test.shape == (20, 32, 32)
    assert not np.allclose(train, test)
    np.testing.assert_array_equal(
        train, digits.load_sprites("procedural", "train", num_procedural=20, seed=5)
    )
    assert not np.array_equal(
        train, digits.load_sprites("procedural", "train", num_procedural=20, seed=6)
    )


def test_procedural_strokes_are_the_distance_field_of_their_segments():
    """Each pixel's ink is a smoothstep of its distance to the nearest segment,
    recomputed here pixel by pixel in float64."""
    rng = np.random.default_rng(0)
    seg_a = rng.uniform(4, 28, size=(3, 5, 2)).astype(np.float32)  # [n, S, 2]
    seg_b = rng.uniform(4, 28, size=(3, 5, 2)).astype(np.float32)
    seg_b[1, 2] = seg_a[1, 2]  # a segment of length zero: a dot
    radius = np.array([0.9, 1.3, 1.8], np.float32)
    ink = drawn_digits._rasterise(seg_a, seg_b, radius, 32)  # [n, 32, 32]
    expected = np.zeros([3, 32, 32])
    for i, y, x in np.ndindex(3, 32, 32):
        p = np.array([x + 0.5, y + 0.5])
        nearest = np.inf
        for a, b in zip(seg_a[i].astype(float), seg_b[i].astype(float), strict=True):
            ab = b - a
            t = np.clip((p - a) @ ab / max(ab @ ab, 1e-6), 0, 1)
            nearest = min(nearest, np.linalg.norm(p - a - t * ab))
        v = np.clip((radius[i] + 0.75 - nearest) / 1.5, 0, 1)
        expected[i, y, x] = v * v * (3 - 2 * v)
    np.testing.assert_allclose(ink, expected, atol=1e-5)
    assert 0.02 < ink.mean() < 0.5  # some ink, not all


def test_procedural_sprites_are_drawn_once_and_read_only():
    first = digits.load_sprites("procedural", "train", num_procedural=30, seed=7)
    assert digits.load_sprites("procedural", "train", num_procedural=30, seed=7) is first
    with pytest.raises(ValueError, match="read-only"):
        first[0, 0, 0] = 1.0
    # The cache holds what a fresh drawing gives.
    split_seed = np.random.SeedSequence([7, 0]).generate_state(1, dtype=np.uint64)[0]
    np.testing.assert_array_equal(first, drawn_digits.procedural_digits(30, int(split_seed)))


def test_procedural_sprites_are_kept_on_disk_between_processes(monkeypatch, tmp_path):
    monkeypatch.setenv(digits.CACHE_ENV, str(tmp_path))
    digits._procedural_split.cache_clear()  # a new process: nothing in memory
    drawn = digits.load_sprites("procedural", "test", num_procedural=12, seed=9)
    path = digits.procedural_cache_path(12, 9, "test")
    assert path.startswith(str(tmp_path)) and os.path.isfile(path)
    np.testing.assert_array_equal(np.load(path), drawn)
    # The next process reads the file: the same sprites, read-only, not drawn.
    digits._procedural_split.cache_clear()
    monkeypatch.setattr(drawn_digits, "procedural_digits", lambda *a: pytest.fail("drawn"))
    again = digits.load_sprites("procedural", "test", num_procedural=12, seed=9)
    np.testing.assert_array_equal(again, drawn)
    assert not again.flags.writeable
    monkeypatch.undo()
    # A damaged file is drawn again and replaced; "off" neither reads nor writes.
    monkeypatch.setenv(digits.CACHE_ENV, str(tmp_path))
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY broken")
    digits._procedural_split.cache_clear()
    np.testing.assert_array_equal(
        digits.load_sprites("procedural", "test", num_procedural=12, seed=9), drawn
    )
    np.testing.assert_array_equal(np.load(path), drawn)
    monkeypatch.setenv(digits.CACHE_ENV, "off")
    assert digits.procedural_cache_path(12, 9, "test") is None
    # An unwritable cache folder is skipped, not an error.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(digits.CACHE_ENV, str(blocker))
    digits._procedural_split.cache_clear()
    np.testing.assert_array_equal(
        digits.load_sprites("procedural", "test", num_procedural=12, seed=9), drawn
    )
    digits._procedural_split.cache_clear()


def test_load_sprites_rejects_unknown_source_and_split():
    with pytest.raises(ValueError, match="procedural.*mnist"):
        digits.load_sprites("emnist", "train")
    with pytest.raises(ValueError, match="train"):
        digits.load_sprites("procedural", "validation")


# ---------------------------------------------------------------------------
# MNIST loader
# ---------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Empty home/Keras cache and a load_data that fails the test if called."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KERAS_HOME", raising=False)

    def forbidden(*args, **kwargs):
        pytest.fail("keras.datasets.mnist.load_data must not be called")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", forbidden)
    return home


def test_load_mnist_from_local_file(tmp_path, no_network):
    path = tmp_path / "mnist.npz"
    write_fake_mnist(path)
    train = mnist.load_mnist_digits("train", path=str(path))
    assert train.shape == (5, 32, 32) and train.dtype == np.float32
    assert train.min() >= 0.0 and train.max() <= 1.0
    np.testing.assert_allclose(train[0], 1.0, atol=1e-5)  # white stays white
    # Left half white -> left columns ~1, right columns ~0 after resizing.
    assert train[1][:, :14].min() > 0.99 and train[1][:, 18:].max() < 0.01
    test = digits.load_sprites("mnist", "test", mnist_path=str(path))
    assert test.shape == (3, 32, 32)


def test_load_mnist_missing_file_names_it(tmp_path, no_network):
    missing = tmp_path / "nope_mnist.npz"
    with pytest.raises(FileNotFoundError, match="nope_mnist.npz"):
        mnist.load_mnist_digits("train", path=str(missing))


def test_load_mnist_file_without_expected_keys(tmp_path, no_network):
    bad = tmp_path / "bad.npz"
    np.savez(bad, images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="bad.npz.*x_train"):
        mnist.load_mnist_digits("train", path=str(bad))


def test_load_mnist_offline_without_cache_points_to_alternatives(no_network):
    with pytest.raises(RuntimeError, match="procedural") as info:
        mnist.load_mnist_digits("train")
    assert "mnist_path" in str(info.value)
    with pytest.raises(RuntimeError, match="procedural"):
        digits.load_sprites("mnist", "test")


def test_load_mnist_uses_keras_cache_without_network(no_network):
    cache = no_network / ".keras" / "datasets"
    cache.mkdir(parents=True)
    write_fake_mnist(cache / "mnist.npz", n_train=4)
    assert mnist.load_mnist_digits("train").shape == (4, 32, 32)


def test_load_mnist_download_failure_is_explained(monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="offline") as info:
        mnist.load_mnist_digits("train", allow_download=True)
    assert "procedural" in str(info.value) and "mnist_path" in str(info.value)


# ---------------------------------------------------------------------------
# render_sequence
# ---------------------------------------------------------------------------


def test_render_sequence_matches_reference(sprites):
    for seed in range(20):
        for size in (64, 48):
            got = ms.render_sequence(np.random.default_rng(seed), sprites, 30, 2, size)
            want = reference_sequence(np.random.default_rng(seed), sprites, 30, 2, size)
            assert got.shape == (30, size, size, 1) and got.dtype == np.float32
            np.testing.assert_array_equal(got, want)


def test_longer_clip_extends_the_shorter_one(sprites):
    for seed in range(10):
        short = ms.render_sequence(np.random.default_rng(seed), sprites, 10, 2)
        long = ms.render_sequence(np.random.default_rng(seed), sprites, 25, 2)
        np.testing.assert_array_equal(long[:10], short)


def test_render_sequence_range_and_determinism(sprites):
    a = ms.render_sequence(np.random.default_rng(7), sprites, seq_len=10, num_sprites=3)
    assert a.shape == (10, 64, 64, 1)
    assert a.min() >= 0.0 and a.max() <= 1.0 and a.max() > 0.5
    np.testing.assert_array_equal(
        a, ms.render_sequence(np.random.default_rng(7), sprites, seq_len=10, num_sprites=3)
    )


def test_single_sprite_motion_and_bounces():
    # A sprite that is a single bright pixel at its top-left corner reveals its position.
    marker = np.zeros((1, 32, 32), np.float32)
    marker[0, 0, 0] = 1.0
    size, limit = 64, 64 - 32
    bounces = 0
    for seed in range(40):
        video = ms.render_sequence(np.random.default_rng(seed), marker, 40, 1, size)
        assert video.sum(axis=(1, 2, 3)).tolist() == [1.0] * 40  # always fully visible
        pos = np.array([np.unravel_index(f[..., 0].argmax(), (size, size)) for f in video])
        assert pos.min() >= 0 and pos.max() <= limit - 1  # sprite stays inside the frame
        step = np.diff(pos, axis=0)  # [t - 1, 2] (dy, dx)
        assert np.abs(step).max() <= ms.MAX_SPEED
        # Away from the walls a sprite keeps its velocity; it may only change at a wall.
        interior = ((pos > 0) & (pos < limit - 1)).all(axis=1)
        for t in range(1, len(pos) - 1):
            if interior[t] and interior[t + 1]:
                np.testing.assert_array_equal(step[t], step[t - 1])
            elif (step[t] != step[t - 1]).any():
                bounces += 1
    assert bounces > 20  # the trajectories do hit walls and bounce


def test_render_sequence_validates_arguments(sprites):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="image_size"):
        ms.render_sequence(rng, sprites, 5, image_size=32)
    with pytest.raises(ValueError, match="seq_len"):
        ms.render_sequence(rng, sprites, 0)
    with pytest.raises(ValueError, match=r"\[N, 32, 32\]"):
        ms.render_sequence(rng, np.zeros((4, 28, 28), np.float32), 5)


# ---------------------------------------------------------------------------
# tf.data pipelines
# ---------------------------------------------------------------------------


def test_train_dataset_shapes_and_determinism(sprites):
    kwargs = dict(batch_size=4, seq_len=6, seed=11)
    ds = ms.train_dataset(sprites, **kwargs)
    assert ds.element_spec.shape.as_list() == [4, 6, 64, 64, 1]
    first = take(ds, 3)
    assert all(b.shape == (4, 6, 64, 64, 1) and b.dtype == np.float32 for b in first)
    assert all(b.min() >= 0.0 and b.max() <= 1.0 and b.max() > 0.5 for b in first)
    assert not np.array_equal(first[0], first[1])  # a stream, not one repeated batch
    # Same seed: same stream, whether re-iterated or rebuilt.
    for again in (take(ds, 3), take(ms.train_dataset(sprites, **kwargs), 3)):
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a, b)
    # Matches rendering with the documented seeding: batch i from rng([seed, i]).
    for i in (0, 2):
        rng = np.random.default_rng([11, i])
        want = np.stack([ms.render_sequence(rng, sprites, 6) for _ in range(4)])
        np.testing.assert_array_equal(first[i], want)
    other = take(ms.train_dataset(sprites, batch_size=4, seq_len=6, seed=12), 1)[0]
    assert not np.array_equal(first[0], other)


def test_train_dataset_start_step_continues_the_stream(sprites):
    base = take(ms.train_dataset(sprites, batch_size=2, seq_len=4, seed=3), 5)
    explicit = take(ms.train_dataset(sprites, batch_size=2, seq_len=4, seed=3, start_step=0), 1)
    np.testing.assert_array_equal(base[0], explicit[0])
    # A run resumed at step 3 sees batches 3, 4, ... of the uninterrupted run.
    resumed = take(ms.train_dataset(sprites, batch_size=2, seq_len=4, seed=3, start_step=3), 2)
    np.testing.assert_array_equal(resumed[0], base[3])
    np.testing.assert_array_equal(resumed[1], base[4])


def test_train_dataset_other_image_size(sprites):
    ds = ms.train_dataset(sprites, batch_size=2, seq_len=3, seed=0, num_sprites=1, image_size=40)
    assert ds.element_spec.shape.as_list() == [2, 3, 40, 40, 1]
    assert take(ds, 1)[0].shape == (2, 3, 40, 40, 1)


def test_test_dataset_fixed_and_independent_of_batch_size(sprites):
    kwargs = dict(num_sequences=7, seq_len=5, seed=99)
    by3 = take(ms.test_dataset(sprites, batch_size=3, **kwargs), 100)
    assert [len(b) for b in by3] == [3, 3, 1]
    by4 = take(ms.test_dataset(sprites, batch_size=4, **kwargs), 100)
    assert [len(b) for b in by4] == [4, 3]
    np.testing.assert_array_equal(np.concatenate(by3), np.concatenate(by4))
    again = take(ms.test_dataset(sprites, batch_size=3, **kwargs), 100)
    np.testing.assert_array_equal(np.concatenate(by3), np.concatenate(again))
    # Sequence i is rendered from default_rng([seed, i]).
    want = ms.render_sequence(np.random.default_rng([99, 5]), sprites, 5)
    np.testing.assert_array_equal(np.concatenate(by3)[5], want)
    other = take(ms.test_dataset(sprites, batch_size=7, num_sequences=7, seq_len=5, seed=98), 1)
    assert not np.array_equal(other[0], np.concatenate(by3))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(batch_size=0), "batch_size"),
        (dict(seq_len=0), "seq_len"),
        (dict(seed=-1), "seed"),
        (dict(num_sprites=0), "num_sprites"),
        (dict(image_size=30), "image_size"),
    ],
)
def test_datasets_validate_arguments(sprites, kwargs, match):
    train_kwargs = dict(batch_size=2, seq_len=3, seed=0) | kwargs
    with pytest.raises(ValueError, match=match):
        ms.train_dataset(sprites, **train_kwargs)
    test_kwargs = dict(num_sequences=4, batch_size=2, seq_len=3) | kwargs
    with pytest.raises(ValueError, match=match):
        ms.test_dataset(sprites, **test_kwargs)


def test_datasets_validate_sprites(sprites):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ms.train_dataset(sprites * 255.0, batch_size=2, seq_len=3, seed=0)
    with pytest.raises(ValueError, match=r"\[N, 32, 32\]"):
        ms.test_dataset(np.zeros((3, 28, 28)), num_sequences=2, seq_len=3, batch_size=2)
    with pytest.raises(ValueError, match="start_step"):
        ms.train_dataset(sprites, batch_size=2, seq_len=3, seed=0, start_step=-1)
