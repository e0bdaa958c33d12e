"""Video datasets from files: BAIR robot pushing, any TFDS video set, softmotion TFRecords.

Every reader yields whole clips as uint8 `[frames, h, w, c]`; pure transforms
then cut windows of `n_past + n_future` frames (a seeded random start for
training, a fixed start for testing), convert to float32 in [0, 1], shuffle,
batch and prefetch. Frames whose size differs from the model's are an error
naming both sizes, never a silent resize.

Sources:

- `bair`: `tfds.load("bair_robot_pushing_small")`, feature `image_main`
  (30 frames of 64x64x3 per clip; 256 test clips). About 30 GB to prepare
  once: `tfds build bair_robot_pushing_small --data_dir=DIR`.
- `tfds:NAME`: any TFDS dataset with a video feature `--video_key`.
- `bair_softmotion`: the original BAIR download (`softmotion30_44k/{train,test}/
  traj_*.tfrecords`): one `tf.train.Example` per clip with the raw bytes of
  frame t under `{t}/image_main/encoded`, read with `tf.data.TFRecordDataset`.
"""

from __future__ import annotations

import glob
import os

import tensorflow as tf

from svgpl_tf.choices import BAIR_FRAMES

# TFDS name of the BAIR robot pushing dataset used by SVG and SVG-PL.
BAIR_TFDS_NAME = "bair_robot_pushing_small"
# The camera stream SVG and SVG-PL use.
BAIR_VIDEO_KEY = "image_main"
# Height, width and channels of BAIR frames.
BAIR_FRAME_SHAPE = (64, 64, 3)
# Approximate size of the prepared BAIR dataset, for error messages.
BAIR_SIZE_TEXT = "about 30 GB"


def load_tfds_videos(
    name: str,
    split: str,
    video_key: str,
    data_dir: str | None = None,
    download: bool = False,
) -> tf.data.Dataset:
    """Clips of a TFDS video dataset, as uint8 `[frames, h, w, c]`.

    Args:
        name: TFDS dataset name, e.g. `bair_robot_pushing_small`.
        split: `train` or `test` (any TFDS split string).
        video_key: the feature holding the video.
        data_dir: TFDS data folder (None: TFDS's default, ~/tensorflow_datasets).
        download: let TFDS download and prepare the data when it is missing.

    Raises:
        ValueError: unknown dataset or video key.
        FileNotFoundError: the data is not prepared in `data_dir` (and was not
            to be, or could not be, downloaded); says how to prepare it.
    """
    import tensorflow_datasets as tfds

    where = data_dir or "the default TFDS folder (~/tensorflow_datasets)"
    try:
        ds = tfds.load(name, split=split, data_dir=data_dir, download=download, shuffle_files=False)
    except tfds.core.DatasetNotFoundError as e:
        raise ValueError(f"TFDS has no dataset {name!r}: check --dataset.") from e
    except AssertionError as e:  # TFDS's "could not find data in DIR"
        size = f" ({BAIR_SIZE_TEXT})" if name == BAIR_TFDS_NAME else ""
        raise FileNotFoundError(
            f"The TFDS dataset {name!r} is not prepared in {where}. Prepare it once{size} "
            f"with `tfds build {name} --data_dir=DIR` and pass --tfds_data_dir=DIR, "
            "or pass --tfds_download to let this run download it."
        ) from e
    except Exception as e:  # a download that failed, e.g. offline
        if not download:
            raise
        raise FileNotFoundError(
            f"The TFDS dataset {name!r} is not in {where} and could not be downloaded "
            f"({type(e).__name__}: {e}). Prepare it on a machine with network access "
            f"(`tfds build {name} --data_dir=DIR`) and pass --tfds_data_dir=DIR."
        ) from e
    if video_key not in ds.element_spec:
        raise ValueError(
            f"TFDS dataset {name!r} has no feature {video_key!r}; its features are "
            f"{sorted(ds.element_spec)}. Set --video_key."
        )
    return ds.map(lambda ex: ex[video_key], num_parallel_calls=tf.data.AUTOTUNE)


def softmotion_files(data_dir: str, split: str) -> list[str]:
    """The TFRecord files of one split of the original BAIR download."""
    folder = os.path.join(data_dir, split)
    files = sorted(glob.glob(os.path.join(folder, "*.tfrecord*")))
    if not files:
        raise FileNotFoundError(
            f"No *.tfrecords files in {folder}. --data_dir must be the folder of the "
            "original BAIR download that holds train/ and test/ (softmotion30_44k)."
        )
    return files


def load_softmotion_videos(
    data_dir: str,
    split: str,
    video_key: str = BAIR_VIDEO_KEY,
    num_frames: int = BAIR_FRAMES,
    frame_shape: tuple[int, int, int] = BAIR_FRAME_SHAPE,
) -> tf.data.Dataset:
    """Clips of the original BAIR TFRecords, as uint8 `[num_frames, h, w, c]`.

    Args:
        data_dir: folder with `train/` and `test/` of TFRecord files.
        split: `train` or `test`.
        video_key: camera stream; frame t is under `{t}/{video_key}/encoded`.
        num_frames: frames per clip.
        frame_shape: `(h, w, c)` of the raw frame bytes.
    """
    files = softmotion_files(data_dir, split)
    keys = [f"{t}/{video_key}/encoded" for t in range(num_frames)]
    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in keys}
    size = frame_shape[0] * frame_shape[1] * frame_shape[2]

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        frames = []
        for k in keys:
            raw = tf.io.decode_raw(ex[k], tf.uint8)
            tf.debugging.assert_equal(
                tf.size(raw),
                size,
                message=f"{k} does not hold {frame_shape} raw uint8 bytes",
            )
            frames.append(tf.reshape(raw, frame_shape))
        return tf.stack(frames)  # [num_frames, h, w, c]

    return tf.data.TFRecordDataset(files).map(parse, num_parallel_calls=tf.data.AUTOTUNE)


def check_frame_shape(ds: tf.data.Dataset, image_size: int, channels: int, source: str):
    """Fails unless clips are `[frames, image_size, image_size, channels]`.

    Static shapes are checked now; unknown ones by an assertion per clip.
    """
    shape = ds.element_spec.shape
    want = (image_size, image_size, channels)
    if shape.rank is not None and shape.rank != 4:
        raise ValueError(f"{source}: clips must be [frames, h, w, c], got shape {shape}.")
    got = tuple(shape[1:]) if shape.rank == 4 else (None, None, None)
    if all(d is not None for d in got) and got != want:
        raise ValueError(
            f"{source}: frames are {got[0]}x{got[1]}x{got[2]} but the model takes "
            f"{want[0]}x{want[1]}x{want[2]} (--image_size={image_size}, --channels={channels}). "
            "Resize the data beforehand or change the flags; frames are never resized silently."
        )
    if all(d is not None for d in got):
        return ds

    def check(video):
        tf.debugging.assert_equal(
            tf.shape(video)[1:],
            tf.constant(want),
            message=f"{source}: frame size differs from the model's {want}",
        )
        return video

    return ds.map(check)


def random_windows(ds: tf.data.Dataset, length: int, seed: int) -> tf.data.Dataset:
    """Cuts one window of `length` frames per clip at a seeded random start.

    Clip i of the stream gets its start from the stateless key (seed, i), so
    the stream is reproducible; a clip shorter than `length` is an error.
    """

    def cut(index, video):
        frames = tf.shape(video)[0]
        tf.debugging.assert_greater_equal(
            frames, length, message=f"a clip is shorter than the {length} frames needed"
        )
        key = tf.stack([tf.cast(seed, tf.int64), index])
        start = tf.random.stateless_uniform([], key, 0, frames - length + 1, dtype=tf.int32)
        return video[start : start + length]

    return ds.enumerate().map(cut, num_parallel_calls=tf.data.AUTOTUNE)


def fixed_windows(ds: tf.data.Dataset, length: int, start: int = 0) -> tf.data.Dataset:
    """Cuts frames `[start, start + length)` of every clip (the test protocol)."""

    def cut(video):
        tf.debugging.assert_greater_equal(
            tf.shape(video)[0],
            start + length,
            message=f"a clip is shorter than the {start + length} frames needed",
        )
        return video[start : start + length]

    return ds.map(cut, num_parallel_calls=tf.data.AUTOTUNE)


def to_unit_float(video: tf.Tensor) -> tf.Tensor:
    """uint8 frames -> float32 in [0, 1]."""
    return tf.cast(video, tf.float32) / 255.0


def train_pipeline(
    clips: tf.data.Dataset,
    *,
    length: int,
    batch_size: int,
    seed: int,
    shuffle_buffer: int = 256,
) -> tf.data.Dataset:
    """Infinite, shuffled batches `[batch, length, h, w, c]` in [0, 1]."""
    ds = clips.repeat().shuffle(shuffle_buffer, seed=seed)
    ds = random_windows(ds, length, seed).map(to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def test_pipeline(
    clips: tf.data.Dataset, *, length: int, batch_size: int, num_sequences: int, start: int = 0
) -> tf.data.Dataset:
    """The first `num_sequences` clips, frames `[start, start + length)`, in order."""
    ds = fixed_windows(clips.take(num_sequences), length, start)
    ds = ds.map(to_unit_float, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


test_pipeline.__test__ = False  # not a pytest test
