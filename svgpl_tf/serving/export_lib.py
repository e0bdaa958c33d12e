"""Export of a training workdir as a SavedModel in TF Serving's layout.

`export_savedmodel(workdir, export_base)` restores a checkpoint, wraps the
model in `SVGServingModule` and writes `export_base/<model_name>/<version>/`:

    saved_model.pb, variables/       the graph and the weights
    assets.extra/
      tf_serving_warmup_requests     PredictionLog records TF Serving replays at load
      export_info.json               the run, step, settings and signatures exported

The version is a new integer (one more than the largest there) unless given,
and an existing version is never overwritten. Everything is written to a
hidden temporary folder next to the versions (TF Serving only loads folders
named by an integer), reloaded and checked against the in-memory model, and
only then renamed to its version; a failed check removes it and raises.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import time
import uuid
from typing import Any

import numpy as np
import tensorflow as tf

from svgpl_tf import files, runs
from svgpl_tf.config import CONFIG_FILE, Config
from svgpl_tf.models.sampling import CompiledSampler
from svgpl_tf.models.svg import SVGModel
from svgpl_tf.serving import signatures
from svgpl_tf.serving.export_options import ExportOptions
from svgpl_tf.serving.signatures import SVGServingModule

# Where TF Serving looks for the warm-up requests, inside a version folder.
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
# Description of the export, next to the warm-up file.
INFO_FILE = os.path.join("assets.extra", "export_info.json")
# Largest |difference| allowed between reloaded and in-memory frames.
VERIFY_ATOL = 1e-4
# Seeds of the verification request (one per sequence).
VERIFY_SEEDS = (0, 12345)
# Model names that are safe as a folder and in a REST URL.
_MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclasses.dataclass(frozen=True)
class ExportResult:
    """What `export_savedmodel` wrote.

    Attributes:
        path: the version folder, `export_base/<model_name>/<version>`.
        version: the version number.
        step: the training step of the checkpoint exported.
        seconds: wall time of the export, verification included.
    """

    path: str
    version: int
    step: int
    seconds: float


def next_version(model_dir: str) -> int:
    """One more than the largest integer-named folder in `model_dir`, or 1.

    Example:
        >>> next_version("/tmp/does-not-exist")
        1
    """
    if not os.path.isdir(model_dir):
        return 1
    versions = [int(n) for n in os.listdir(model_dir) if re.fullmatch(r"\d+", n, re.ASCII)]
    return max(versions, default=0) + 1


def inference_copy(model: SVGModel) -> SVGModel:
    """A copy of `model` with its weights and nothing else to export.

    The copy has no optimizer (whose slots would triple the SavedModel) and
    only the pixel loss term (a perceptual term's VGG16 is for training only).
    """
    # The config holds the model's dtype policy, which every layer of the copy takes.
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable")}
    copy = SVGModel(**config)
    copy.build()
    weights = model.get_weights()
    if len(weights) != len(copy.weights):
        raise RuntimeError(
            f"The rebuilt model has {len(copy.weights)} weights, the trained one {len(weights)}."
        )
    copy.set_weights(weights)  # checks every shape
    return copy


def check_settings(workdir: str, options: ExportOptions) -> None:
    """Raises ValueError (or FileNotFoundError) naming the flag, before any work."""
    o = options.validate()
    model_name, num_samples, horizon = o.model_name, o.num_samples, o.horizon
    max_num_samples, max_horizon = o.max_num_samples, o.max_horizon
    if not workdir or not os.path.exists(os.path.join(workdir, CONFIG_FILE)):
        raise FileNotFoundError(
            f"--workdir={workdir!r} holds no {CONFIG_FILE}: is it a training workdir?"
        )
    if not _MODEL_NAME_RE.fullmatch(model_name or ""):
        raise ValueError(
            f"--model_name={model_name!r}: use letters, digits, '_', '.' or '-' "
            "(it is a folder and part of the REST URL)."
        )
    serving_apis()
    signatures.check_export_counts(
        num_samples, 1 if horizon is None else horizon, max_num_samples, max_horizon
    )


def serving_apis():
    """TF Serving's request protos, `(predict_pb2, prediction_log_pb2)`.

    Raises:
        ImportError: with the install command, when `tensorflow-serving-api`
            (the `[serving]` extra) is missing.
    """
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError as e:
        raise ImportError(
            f"Export writes TF Serving's warm-up requests and needs tensorflow-serving-api ({e}); "
            "install it with: pip install 'svgpl_tf[serving]'."
        ) from e
    return predict_pb2, prediction_log_pb2


def _predict_log(inputs: dict, model_name: str, signature_name: str):
    """A PredictionLog holding one PredictRequest with `inputs` (numpy arrays)."""
    predict_pb2, prediction_log_pb2 = serving_apis()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)
    )


def write_warmup_requests(export_dir: str, module: SVGServingModule, model_name: str) -> str:
    """Writes one warm-up request per signature (a batch of one grey clip).

    Args:
        export_dir: the SavedModel folder.
        module: the exported module (gives frame size and counts).
        model_name: the name in the requests' model spec.

    Returns:
        The path of the warm-up file.
    """
    size = module.image_size
    context = np.full([1, module.n_past, size, size, module.channels], 0.5, np.float32)
    seed = np.zeros([1], np.int64)
    default = {signatures.CONTEXT: context, signatures.SEED: seed}
    counts = {
        signatures.NUM_SAMPLES: np.int32(module.num_samples),
        signatures.HORIZON: np.int32(module.horizon),
    }
    logs = [
        _predict_log(default, model_name, signatures.SERVING_DEFAULT),
        _predict_log({**default, **counts}, model_name, signatures.SAMPLE),
    ]
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def verification_context(model: SVGModel, batch: int = len(VERIFY_SEEDS)) -> np.ndarray:
    """A fixed context clip `[batch, n_past, h, w, c]` in [0, 1] for checks."""
    shape = [batch, model.n_past, model.image_size, model.image_size, model.channels]
    return tf.random.stateless_uniform(shape, seed=[2024, 5]).numpy()


def verify_export(
    export_dir: str,
    model: SVGModel,
    num_samples: int,
    horizon: int,
    atol: float = VERIFY_ATOL,
    jit_compile: bool = False,
) -> float:
    """Reloads `export_dir` and checks it reproduces `model`'s frames.

    Both signatures are run on `verification_context` with `VERIFY_SEEDS`
    and compared with `model.sample` on the same seeds, run as a graph
    (`CompiledSampler`; XLA-compiled for `serving_default` when it was
    exported with `jit_compile`).

    Returns:
        The largest absolute difference found.

    Raises:
        RuntimeError: a signature is missing, a shape differs, or a frame
            differs by more than `atol`.
    """
    loaded = tf.saved_model.load(export_dir)
    context = verification_context(model)
    seeds = tf.constant(VERIFY_SEEDS, tf.int64)
    small = (min(2, num_samples), min(3, horizon))
    runs = [
        (signatures.SERVING_DEFAULT, {}, (num_samples, horizon)),
        (
            signatures.SAMPLE,
            {
                signatures.NUM_SAMPLES: tf.constant(small[0], tf.int32),
                signatures.HORIZON: tf.constant(small[1], tf.int32),
            },
            small,
        ),
    ]
    # Graph references: in 16-bit precision, eager and graph execution round
    # differently (oneDNN fuses ops in graphs), by a bfloat16 step or so. The
    # exported graphs run TensorFlow's element-wise kernels; so does `plain`.
    plain = CompiledSampler(model, compiled_elementwise=False)
    xla = CompiledSampler(model, jit_compile=True) if jit_compile else None
    worst = 0.0
    for name, counts, (s, t) in runs:
        if name not in loaded.signatures:
            raise RuntimeError(f"{export_dir} has no signature {name!r}.")
        got = loaded.signatures[name](context=tf.constant(context), seed=seeds, **counts)[
            signatures.FRAMES
        ].numpy()
        if xla is not None and name == signatures.SERVING_DEFAULT:
            want = xla(tf.constant(context), t, s, seed=seeds).numpy()
        else:
            want = plain(tf.constant(context), t, s, seed=seeds).numpy()
        if got.shape != want.shape:
            raise RuntimeError(
                f"Signature {name!r} of {export_dir} gives frames {got.shape}, "
                f"the model {want.shape}."
            )
        diff = float(np.max(np.abs(got - want)))
        if not diff <= atol:  # also catches NaN
            raise RuntimeError(
                f"Signature {name!r} of {export_dir} does not reproduce the model: "
                f"max |difference| {diff:.3g} > {atol:g} for seeds {list(VERIFY_SEEDS)}."
            )
        worst = max(worst, diff)
    return worst


def _write_info(export_dir: str, info: dict) -> None:
    files.write_json(os.path.join(export_dir, INFO_FILE), info, allow_nan=True)


def _signature_info(module: SVGServingModule) -> dict:
    frame = [module.image_size, module.image_size, module.channels]
    inputs = {"context": ["float32", ["batch", ">= n_past", *frame]], "seed": ["int64", ["batch"]]}
    return {
        signatures.SERVING_DEFAULT: {
            "inputs": inputs,
            "outputs": {
                "frames": ["float32", ["batch", module.num_samples, module.horizon, *frame]]
            },
        },
        signatures.SAMPLE: {
            "inputs": {**inputs, "num_samples": ["int32", []], "horizon": ["int32", []]},
            "outputs": {"frames": ["float32", ["batch", "num_samples", "horizon", *frame]]},
        },
    }


def _publish(tmp_dir: str, model_dir: str, version: int | None) -> int:
    """Renames `tmp_dir` to the next free (or the given) version; returns it."""
    for _ in range(100):
        chosen = version if version is not None else next_version(model_dir)
        target = os.path.join(model_dir, str(chosen))
        if os.path.exists(target):
            if version is not None:
                raise FileExistsError(f"{target} exists; versions are never overwritten.")
            continue
        try:
            os.rename(tmp_dir, target)
            return chosen
        except OSError:  # another export took this version meanwhile
            if version is not None or not os.path.exists(target):
                raise
    raise RuntimeError(f"Could not find a free version in {model_dir}.")


def export_savedmodel(
    workdir: str,
    export_base: str,
    options: ExportOptions | None = None,
    **fields: Any,
) -> ExportResult:
    """Exports a checkpoint of `workdir` to `export_base/<model_name>/<version>/`.

    Args:
        workdir: a training workdir (config.json and checkpoints/).
        export_base: TF Serving's base path; the model goes in `<model_name>/`.
        options: what to export (default: `ExportOptions()`).
        **fields: `ExportOptions` fields that replace those of `options`.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: bad settings (before the checkpoint is loaded).
        FileNotFoundError: no training run, or no checkpoint (of that step).
        FileExistsError: `version` exists already.
        RuntimeError: the checkpoint does not load, or the reloaded SavedModel
            does not reproduce the model; nothing is left in `export_base`.

    Example:
        >>> result = export_savedmodel("workdirs/quickstart", "/tmp/serving", num_samples=5)
        >>> result.path
        '/tmp/serving/svg/1'
    """
    start = time.time()
    options = dataclasses.replace(options or ExportOptions(), **fields)
    check_settings(workdir, options)
    model_name, version, step = options.model_name, options.version, options.step
    num_samples, horizon = options.num_samples, options.horizon
    max_num_samples, max_horizon = options.max_num_samples, options.max_horizon
    precision, jit_compile, verify = options.precision, options.jit_compile, options.verify
    config = Config.load(workdir)
    horizon = config.n_future if horizon is None else horizon
    signatures.check_export_counts(num_samples, horizon, max_num_samples, max_horizon)
    model_dir = os.path.join(export_base, model_name)
    if version is not None and os.path.exists(os.path.join(model_dir, str(version))):
        raise FileExistsError(
            f"{os.path.join(model_dir, str(version))} exists; versions are never overwritten. "
            "Leave --version out to take the next one."
        )
    os.makedirs(model_dir, exist_ok=True)

    trained, config, step = runs.restore_model(workdir, step, precision=precision)
    module = SVGServingModule(
        inference_copy(trained),
        num_samples,
        horizon,
        max_num_samples,
        max_horizon,
        jit_compile=jit_compile,
    )
    tmp_dir = os.path.join(model_dir, f".tmp-export-{uuid.uuid4().hex}")
    try:
        tf.saved_model.save(module, tmp_dir, signatures=module.signatures())
        write_warmup_requests(tmp_dir, module, model_name)
        max_diff = (
            verify_export(tmp_dir, trained, num_samples, horizon, jit_compile=jit_compile)
            if verify
            else None
        )
        info = {
            "model_name": model_name,
            "workdir": os.path.abspath(workdir),
            "step": step,
            "n_past": config.n_past,
            "image_size": config.image_size,
            "channels": config.channels,
            "num_samples": num_samples,
            "horizon": horizon,
            "max_num_samples": max_num_samples,
            "max_horizon": max_horizon,
            "precision": precision or config.precision,
            "jit_compile": jit_compile,
            "signatures": _signature_info(module),
            "verified_max_abs_difference": max_diff,
            "tensorflow": tf.__version__,
            "config": config.to_dict(),
        }
        _write_info(tmp_dir, info)
        version = _publish(tmp_dir, model_dir, version)
    finally:
        if os.path.exists(tmp_dir):
            shutil.rmtree(tmp_dir, ignore_errors=True)
    path = os.path.join(model_dir, str(version))
    return ExportResult(path=path, version=version, step=step, seconds=time.time() - start)
