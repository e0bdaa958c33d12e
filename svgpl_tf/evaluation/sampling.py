"""Sampling the futures of test clips and measuring them: the evaluation's inner loop.

Test sequence `i` (its index in the fixed test split) draws its samples from
the stateless key `seed * 2**32 + i` (`sequence_seeds`), so results do not
depend on the batch size (except with `sampling_batchnorm="batch"`), and a job
split over several processes by sequence ranges gives the same numbers as one.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from svgpl_tf import files
from svgpl_tf.evaluation import metrics
from svgpl_tf.evaluation.lpips import LPIPS, lpips_of_samples
from svgpl_tf.evaluation.options import EvalOptions
from svgpl_tf.models.sampling import CompiledSampler
from svgpl_tf.models.svg import SVGModel

# Stride between the sample keys of two seeds: key of sequence i = seed * stride + i.
SEED_STRIDE = 2**32


def sequence_seeds(seed: int, indices) -> np.ndarray:
    """Sample seeds `[n]` int64 of the test sequences `indices`: `seed * 2**32 + i`.

    Example:
        >>> sequence_seeds(1, [0, 5]).tolist()
        [4294967296, 4294967301]
    """
    return seed * SEED_STRIDE + np.asarray(indices, np.int64)


@dataclasses.dataclass
class SampleMetrics:
    """Every metric of every evaluated sequence, sample and future step.

    `index [n]` are the sequences' positions in the test split; `ssim`,
    `psnr`, `mse` are `[n, samples, time]`; the baselines' `copy_last_*`
    (every predicted frame is the last context frame) and `blank_*` (every
    predicted frame is all zeros, the black background) are `[n, time]`.
    The LPIPS fields are None when the evaluation ran without LPIPS.
    """

    index: np.ndarray
    ssim: np.ndarray
    psnr: np.ndarray
    mse: np.ndarray
    copy_last_ssim: np.ndarray
    copy_last_psnr: np.ndarray
    copy_last_mse: np.ndarray
    blank_ssim: np.ndarray
    blank_psnr: np.ndarray
    blank_mse: np.ndarray
    lpips: np.ndarray | None = None
    copy_last_lpips: np.ndarray | None = None
    blank_lpips: np.ndarray | None = None

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The metrics measured: SSIM, PSNR, MSE, and LPIPS when it was."""
        return ("ssim", "psnr", "mse") + (("lpips",) if self.lpips is not None else ())

    @classmethod
    def concatenate(cls, parts: list[SampleMetrics]) -> SampleMetrics:
        """Joins the metrics of disjoint sets of sequences, sorted by index.

        Raises:
            ValueError: some parts measured LPIPS and others did not.
        """
        if len({p.lpips is None for p in parts}) > 1:
            raise ValueError("Some parts were evaluated with LPIPS and some without.")
        fields = {
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in _fields()
            if getattr(parts[0], f.name) is not None
        }
        order = np.argsort(fields["index"], kind="stable")
        return cls(**{name: value[order] for name, value in fields.items()})

    def save(self, path: str) -> None:
        """Writes the arrays as a `.npz` file, atomically."""
        arrays = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        files.write_atomically(path, lambda tmp: np.savez_compressed(tmp, **arrays), ".npz")

    @classmethod
    def load(cls, path: str) -> SampleMetrics:
        with np.load(path) as data:
            missing = [f.name for f in _fields() if f.name not in data and f.name not in _OPTIONAL]
            if missing:
                raise ValueError(
                    f"{path} has no {', '.join(missing)}: it was written by an older version "
                    "of the evaluation; evaluate the checkpoint again."
                )
            return cls(**{f.name: data[f.name] for f in _fields() if f.name in data})


# The fields of an evaluation run with --lpips=off are absent.
_OPTIONAL = ("lpips", "copy_last_lpips", "blank_lpips")


def _fields():
    return dataclasses.fields(SampleMetrics)


@dataclasses.dataclass
class ShownSequence:
    """A test sequence kept for the figures: `clip [time, h, w, c]`, `samples [s, T, h, w, c]`."""

    index: int
    clip: np.ndarray
    samples: np.ndarray


def make_eval_step(
    model: SVGModel,
    n_past: int,
    n_future: int,
    num_samples: int,
    ssim_mode: str,
    frame_shape: tuple[int, int, int],
    jit_compile: bool = False,
    sampling_batchnorm: str = "moving",
    lpips_net: str = "off",
):
    """A function of compiled graphs: test clips -> metrics of their sampled futures.

    The function takes clips `[b, n_past + n_future, h, w, c]`, their sample
    seeds `[b]` and `keep`, and returns a dict of `ssim`, `psnr`, `mse`
    (and `lpips` unless `lpips_net` is `"off"`) `[b, num_samples, n_future]`,
    the baselines' `copy_last_*` and `blank_*` `[b, n_future]`, and `frames`,
    the samples of the first `keep` clips `[keep, num_samples, n_future, h,
    w, c]`. All samples of all clips are drawn in one `model.sample` call,
    compiled by XLA with `jit_compile`, with the BatchNorm statistics
    `sampling_batchnorm`.
    """
    spec = (
        tf.TensorSpec([None, n_past + n_future, *frame_shape], tf.float32),
        tf.TensorSpec([None], tf.int64),
        tf.TensorSpec([], tf.int32),
    )

    # The slice by `keep` below stays outside the (XLA-)compiled sampler.
    sampler = CompiledSampler(model, jit_compile=jit_compile, batchnorm=sampling_batchnorm)
    distance = None if lpips_net == "off" else LPIPS(lpips_net)

    # No autograph: every loop in here is a tf.while_loop or a static Python loop already.
    @tf.function(input_signature=spec, autograph=False)
    def sample_and_score(clips, seeds, keep):
        context, truth = clips[:, :n_past], clips[:, n_past:]  # [b, n_past | T, h, w, c]
        samples = sampler(context, n_future, num_samples, seeds)
        samples = tf.ensure_shape(
            samples, [None, num_samples, n_future, *frame_shape]
        )  # [b, s, T, h, w, c]
        target = truth[:, None]  # [b, 1, T, h, w, c]
        last = context[:, -1:]  # [b, 1, h, w, c], broadcast over T
        blank = tf.zeros_like(truth)  # [b, T, h, w, c]
        return {
            "ssim": metrics.ssim(samples, target, ssim_mode),
            "psnr": metrics.psnr(samples, target),
            "mse": metrics.mse(samples, target),
            "copy_last_ssim": metrics.ssim(last, truth, ssim_mode),
            "copy_last_psnr": metrics.psnr(last, truth),
            "copy_last_mse": metrics.mse(last, truth),
            "blank_ssim": metrics.ssim(blank, truth, ssim_mode),
            "blank_psnr": metrics.psnr(blank, truth),
            "blank_mse": metrics.mse(blank, truth),
            "frames": samples[:keep],
            "samples": samples,
        }

    # LPIPS in a graph of its own, so the sampler's graph, and with it every
    # other metric, is the same with and without it.
    @tf.function(autograph=False)
    def perceptual(samples, clips):
        truth = clips[:, n_past:]  # [b, T, h, w, c]
        last = clips[:, n_past - 1 : n_past]  # [b, 1, h, w, c], broadcast over T
        return {
            "lpips": lpips_of_samples(distance, samples, truth),
            "copy_last_lpips": distance(last, truth),
            "blank_lpips": distance(tf.zeros_like(truth), truth),
        }

    def step(clips, seeds, keep):
        out = sample_and_score(clips, seeds, keep)
        samples = out.pop("samples")  # [b, s, T, h, w, c]
        if distance is not None:
            out.update(perceptual(samples, clips))
        return out

    return step


class Progress:
    """One progress line: sequences done, sequence-samples per second, ETA."""

    def __init__(self, total: int, num_samples: int, enabled: bool = True, stream=None):
        self.total = total
        self.num_samples = num_samples
        self.enabled = enabled
        self.stream = stream or sys.stdout
        self.start = time.monotonic()
        self.done = 0
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        rate = self.done * self.num_samples / max(elapsed, 1e-9)
        eta = (self.total - self.done) * self.num_samples / max(rate, 1e-9)
        line = (
            f"sequences {self.done}/{self.total} ({100 * self.done / self.total:3.0f}%)"
            f" | {rate:,.0f} sequence-samples/s | elapsed {elapsed:.0f}s | eta {eta:.0f}s"
        )
        end = "\n" if not self._tty or self.done >= self.total else ""
        print(("\r" if self._tty else "") + line, end=end, file=self.stream, flush=True)


def options_step(model: SVGModel, n_past: int, n_future: int, options: EvalOptions) -> Callable:
    """`make_eval_step` for `model` with the sampling settings of `options`.

    Example:
        >>> step = options_step(model, 5, 10, options)  # doctest: +SKIP
        >>> step(clips, seeds, tf.constant(0))["ssim"].shape  # doctest: +SKIP
        TensorShape([16, 100, 10])
    """
    return make_eval_step(
        model,
        n_past,
        n_future,
        options.num_samples,
        options.ssim_mode,
        (model.image_size, model.image_size, model.channels),
        jit_compile=options.jit_compile,
        sampling_batchnorm=options.sampling_batchnorm,
        lpips_net=options.lpips,
    )


def collect(
    model: SVGModel,
    test: tf.data.Dataset,
    *,
    n_past: int,
    n_future: int,
    options: EvalOptions,
    first_index: int = 0,
    step: Callable | None = None,
) -> tuple[SampleMetrics, list[ShownSequence]]:
    """Samples futures of every test clip and measures them.

    Args:
        model: the trained model.
        test: batches of test clips `[b, n_past + n_future, h, w, c]`, in
            test-split order starting at sequence `first_index`.
        n_past: context frames.
        n_future: predicted frames.
        options: sample count, SSIM mode, seed, sequences shown, progress.
        first_index: test-split index of the first clip of `test`.
        step: the traced step of `options_step(model, n_past, n_future,
            options)`, kept by a caller that measures the same model again
            (the time-to-quality probe), so the sampler is traced once; made
            here when None.

    Returns:
        The metrics of every clip, and the clips and samples of the first
        `options.num_shown` ones.
    """
    if step is None:
        step = options_step(model, n_past, n_future, options)
    first, stop = options.shard_range
    progress = Progress(stop - first, options.num_samples, options.verbose)
    parts, shown = [], []
    index = first_index
    for clips in test:  # [b, n_past + n_future, h, w, c]
        b = int(clips.shape[0])
        indices = np.arange(index, index + b)
        keep = max(0, min(b, options.num_shown - index))  # the first sequences of the split
        out = step(clips, sequence_seeds(options.seed, indices), tf.constant(keep, tf.int32))
        out = {k: v.numpy() for k, v in out.items()}
        for name in ("ssim", "psnr", "mse", "lpips"):
            if name in out and not np.all(np.isfinite(out[name])):
                raise RuntimeError(
                    f"Non-finite {name} for test sequences {index}..{index + b - 1}: the model "
                    "produced NaN or infinite frames; check the checkpoint."
                )
        frames = out.pop("frames")
        clips = clips.numpy()
        shown += [ShownSequence(int(indices[i]), clips[i], frames[i]) for i in range(keep)]
        parts.append(SampleMetrics(index=indices, **out))
        index += b
        progress.update(b)
    if not parts:
        raise ValueError("The test split is empty: nothing to evaluate.")
    return SampleMetrics.concatenate(parts), shown
