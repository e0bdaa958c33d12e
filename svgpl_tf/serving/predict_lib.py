"""Sampled futures of the user's own clip, from any model source.

`predict(model, input, output_dir)` reads a clip (`svgpl_tf.data.clips`),
takes `n_past` of its frames as context (the last ones, or those from
`start`), samples `num_samples` futures of `horizon` frames and writes to
`output_dir`:

- `predictions.gif` (or `.mp4`): the context, then the samples side by side,
  one column each; the first column is the clip itself when it has frames
  after the context (context frames have a white border, predicted ones grey);
- `predictions.png`: one row per sample, the context then its future;
- `predictions.npy` (with `save_npy`): the sampled frames
  `[num_samples, horizon, h, w, c]` float32 in [0, 1];
- `prediction.json`: the model, the clip, the frames used and the settings.

The model is a training workdir or a shipped checkpoint (a folder with
`config.json` and `checkpoints/`, restored by `svgpl_tf.runs`), or an exported
SavedModel version folder (`saved_model.pb` and `assets.extra/export_info.json`,
sampled through its `sample` signature). Everything that can be checked
(the model's kind and shapes, the clip, its length, channels and size, the
counts) is checked before the weights are loaded.

Example:
    >>> predict("pretrained/smmnist5k_svgpl", "clip.gif", "out")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import numpy as np

from svgpl_tf import files
from svgpl_tf.choices import SEED_LIMIT, SEED_RULE, option, validate_options
from svgpl_tf.config import CONFIG_FILE, Config
from svgpl_tf.data import clips
from svgpl_tf.data.clips import ClipError
from svgpl_tf.frames import grid, tile, to_rgb, write_gif, write_mp4, write_png

# What the outputs are called inside output_dir.
VIDEO_NAME, GRID_FILE, NPY_FILE, INFO_FILE = (
    "predictions",
    "predictions.png",
    "predictions.npy",
    ("prediction.json"),
)
# Video formats of the animation.
VIDEO_FORMATS = ("gif", "mp4")
# Frames per second of the animation.
FPS = 4
# Border around each frame of the animation, in pixels; its grey levels.
BORDER, CONTEXT_LEVEL, PREDICTED_LEVEL = 2, 255, 128


@dataclasses.dataclass(frozen=True)
class PredictOptions:
    """How many futures, how long, from which frames; each field is a flag of `svgpl-predict`.

    Example:
        >>> PredictOptions(num_samples=3).validate().video_format
        'gif'
    """

    num_samples: int = option(5, "Sampled futures of the clip.", min=1)
    horizon: int | None = option(None, "Predicted frames (default: the model's n_future).", min=1)
    start: int | None = option(
        None,
        "First context frame in the clip (default: the last n_past frames are the context).",
        min=0,
    )
    seed: int = option(
        0, "Seed of the sampled futures.", min=0, less_than=SEED_LIMIT, message=SEED_RULE
    )
    resize: str | None = option(
        None,
        "Convert frames of another size: crop (centred square), pad (black borders) or "
        "stretch. Without it a size mismatch is an error.",
        choices=clips.RESIZE_MODES,
    )
    video_format: str = option("gif", "Animation format: gif or mp4.", choices=VIDEO_FORMATS)
    save_npy: bool = option(False, "Also write the sampled frames as predictions.npy.")

    def validate(self) -> PredictOptions:
        """Raises ValueError naming each bad option and the fix; returns self."""
        return validate_options(self, "Invalid prediction options")


@dataclasses.dataclass(frozen=True)
class ModelSource:
    """What a `--model` path holds, read from its small files only.

    Attributes:
        path: the folder.
        kind: `"workdir"` (a training workdir or shipped checkpoint) or `"savedmodel"`.
        n_past, image_size, channels, n_future: the model's shapes.
        precision: the policy the model computes in.
        max_horizon, max_num_samples: the SavedModel's bounds (None for a workdir).
    """

    path: str
    kind: str
    n_past: int
    image_size: int
    channels: int
    n_future: int
    precision: str = "float32"
    max_horizon: int | None = None
    max_num_samples: int | None = None


def describe_model(path: str) -> ModelSource:
    """Recognises `path` by what it holds; raises ValueError / FileNotFoundError naming it."""
    if not path or not os.path.isdir(path):
        raise FileNotFoundError(f"--model={path!r}: no such folder.")
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        from svgpl_tf.serving.export_lib import INFO_FILE as EXPORT_INFO

        info_path = os.path.join(path, EXPORT_INFO)
        if not os.path.isfile(info_path):
            raise ValueError(
                f"--model={path}: a SavedModel, but not one svgpl-export wrote (no {EXPORT_INFO}); "
                "give an SVG export's version folder, a training workdir or a shipped checkpoint."
            )
        try:
            with open(info_path) as f:
                info = json.load(f)
            return ModelSource(
                path=path,
                kind="savedmodel",
                n_past=int(info["n_past"]),
                image_size=int(info["image_size"]),
                channels=int(info["channels"]),
                n_future=int(info["horizon"]),
                precision=str(info.get("precision", "float32")),
                max_horizon=int(info["max_horizon"]),
                max_num_samples=int(info["max_num_samples"]),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"--model={path}: {info_path} is unreadable ({e}).") from e
    if os.path.isfile(os.path.join(path, CONFIG_FILE)):
        config = Config.load(path)
        return ModelSource(
            path=path,
            kind="workdir",
            n_past=config.n_past,
            image_size=config.image_size,
            channels=config.channels,
            n_future=config.n_future,
            precision=config.precision,
        )
    versions = sorted((n for n in os.listdir(path) if n.isdigit()), key=int)
    hint = (
        f" It holds versions {', '.join(versions)}: give one of them "
        f"(e.g. {os.path.join(path, versions[-1])})."
        if versions
        else ""
    )
    raise ValueError(
        f"--model={path}: neither a training workdir or shipped checkpoint (config.json) nor "
        f"an exported SavedModel version folder (saved_model.pb).{hint}"
    )


def context_window(
    frames: np.ndarray, n_past: int, start: int | None, source: str
) -> tuple[int, np.ndarray]:
    """`(start, frames[start:start + n_past])`: the last `n_past` frames unless `start`."""
    first = len(frames) - n_past if start is None else start
    if len(frames) < n_past or first + n_past > len(frames):
        raise ClipError(
            f"{source}: {len(frames)} frames, but the model takes {n_past} context frames"
            + (f" from frame {start}" if start is not None else "")
            + "; give a longer clip"
            + (" or an earlier --start." if start is not None else ".")
        )
    return first, frames[first : first + n_past]


class _Sampler:
    """The model behind `sample(context, horizon, num_samples, seed)`:
    context `[1, n, h, w, c]` float32 -> frames `[s, T, h, w, c]`."""

    def __init__(self, source: ModelSource):
        import tensorflow as tf

        self.tf = tf
        if source.kind == "savedmodel":
            loaded = tf.saved_model.load(source.path)
            if "sample" not in loaded.signatures:
                raise ValueError(
                    f"--model={source.path}: the SavedModel has no 'sample' signature."
                )
            self._signature = loaded.signatures["sample"]
            self._loaded = loaded  # keeps the variables alive
        else:
            from svgpl_tf import runs
            from svgpl_tf.models.sampling import CompiledSampler

            model, _, _ = runs.restore_model(source.path)
            self._sampler = CompiledSampler(model)
        self.kind = source.kind

    def sample(self, context: np.ndarray, horizon: int, num_samples: int, seed: int) -> np.ndarray:
        tf = self.tf
        if self.kind == "savedmodel":
            out = self._signature(
                context=tf.constant(context, tf.float32),
                seed=tf.constant([seed], tf.int64),
                num_samples=tf.constant(num_samples, tf.int32),
                horizon=tf.constant(horizon, tf.int32),
            )["frames"]
        else:
            out = self._sampler(context, horizon, num_samples, tf.constant([seed], tf.int64))
        return np.asarray(out)[0]  # [s, T, h, w, c]


def predict(
    model: str,
    input_path: str,
    output_dir: str,
    options: PredictOptions | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Samples futures of a clip and writes them to `output_dir` (see the module docstring).

    Args:
        model: a training workdir, a shipped checkpoint or a SavedModel version folder.
        input_path: a video file, a folder of frame images or a `.npy` array.
        output_dir: folder for the outputs (created).
        options: the settings (default `PredictOptions()`).
        **fields: `PredictOptions` fields replacing those of `options`.

    Returns:
        The description written to `prediction.json`.

    Raises:
        ClipError, ValueError, FileNotFoundError, PermissionError: bad input,
            each named, before any weight is loaded.
    """
    options = dataclasses.replace(options or PredictOptions(), **fields).validate()
    source = describe_model(model)
    horizon = options.horizon or source.n_future
    if source.max_horizon is not None and horizon > source.max_horizon:
        raise ValueError(
            f"--horizon={horizon} is over the SavedModel's max_horizon={source.max_horizon}; "
            "export again with a larger --max_horizon."
        )
    if source.max_num_samples is not None and options.num_samples > source.max_num_samples:
        raise ValueError(
            f"--num_samples={options.num_samples} is over the SavedModel's max_num_samples="
            f"{source.max_num_samples}; export again with a larger --max_num_samples."
        )
    frames = clips.convert_clip(
        clips.read_clip(input_path),
        source.channels,
        source.image_size,
        options.resize or "",
        source=input_path,
    )  # [t, h, w, c] uint8
    start, context = context_window(frames, source.n_past, options.start, input_path)
    files.ensure_writable_dir(output_dir, "--output_dir", "the predictions")

    sampler = _Sampler(source)
    context_f = context[None].astype(np.float32) / 255.0  # [1, n, h, w, c]
    samples = sampler.sample(context_f, horizon, options.num_samples, options.seed)  # [s, T, ...]
    after = frames[start + source.n_past : start + source.n_past + horizon]  # the clip goes on
    truth = after.astype(np.float32) / 255.0 if len(after) else None

    video = os.path.join(output_dir, f"{VIDEO_NAME}.{options.video_format}")
    animation = animation_frames(context_f[0], samples, truth)  # list of [H, W, 3] uint8
    write_animation(video, animation, options.video_format)
    rows = np.concatenate(
        [np.repeat(context_f, len(samples), axis=0), samples], axis=1
    )  # [s, n + T, h, w, c]
    write_png(os.path.join(output_dir, GRID_FILE), grid(rows))
    if options.save_npy:
        path = os.path.join(output_dir, NPY_FILE)
        files.write_atomically(path, lambda tmp: np.save(tmp, samples.astype(np.float32)), ".npy")
    info = {
        "model": os.path.abspath(model),
        "model_kind": source.kind,
        "input": os.path.abspath(input_path),
        "input_frames": int(len(frames)),
        "context_frames": [start, start + source.n_past - 1],
        "n_past": source.n_past,
        "horizon": horizon,
        "num_samples": options.num_samples,
        "seed": options.seed,
        "resize": options.resize,
        "frame_shape": [source.image_size, source.image_size, source.channels],
        "truth_shown": truth is not None,
        "outputs": sorted(os.listdir(output_dir)) + [INFO_FILE],
    }
    files.write_json(os.path.join(output_dir, INFO_FILE), info)
    return info


def _bordered(frame: np.ndarray, level: int) -> np.ndarray:
    """float `[h, w, c]` in [0, 1] -> uint8 RGB `[h + 2B, w + 2B, 3]` with a grey border."""
    return tile(to_rgb(frame), BORDER, level)


def animation_frames(
    context: np.ndarray, samples: np.ndarray, truth: np.ndarray | None = None
) -> list[np.ndarray]:
    """The animation: the context in every column, then the samples side by side.

    Args:
        context: `[n, h, w, c]` in [0, 1].
        samples: `[s, T, h, w, c]` in [0, 1].
        truth: the clip's own frames after the context, `[<= T, h, w, c]`, shown
            as a first column (black once the clip ends), or None.

    Returns:
        `n + T` uint8 RGB images, with even sides (as MP4's encoders need).
    """
    columns = len(samples) + (truth is not None)
    out = []
    for t in range(len(context) + samples.shape[1]):
        if t < len(context):
            tiles = [_bordered(context[t], CONTEXT_LEVEL)] * columns
        else:
            k = t - len(context)
            tiles = [_bordered(s[k], PREDICTED_LEVEL) for s in samples]
            if truth is not None:
                real = truth[k] if k < len(truth) else np.zeros_like(context[0])
                tiles.insert(0, _bordered(real, CONTEXT_LEVEL))
        image = np.concatenate(tiles, axis=1)
        pad = [(0, image.shape[0] % 2), (0, image.shape[1] % 2), (0, 0)]
        out.append(np.pad(image, pad))
    return out


def write_animation(path: str, frames: list[np.ndarray], video_format: str, fps: int = FPS) -> None:
    """Writes uint8 RGB frames as a looping GIF (Pillow) or an H.264 MP4 (PyAV), atomically."""
    if video_format == "gif":
        write_gif(path, frames, int(1000 / fps))
    else:
        write_mp4(path, frames, fps)
