"""Client of an SVG model behind TensorFlow Serving: REST, gRPC, samples as a GIF.

Builds requests from a context clip for a running `tensorflow_model_server`,
parses its answers, and writes the sampled futures as an animated GIF (rows:
sequences, columns: samples; the context frames play first, with a white
border, then the predicted ones, with a grey border). The binary is
`svgpl-client` (`svgpl_tf/client.py`).

It imports nothing of the training code, the model or the export: only the
signature names (`svgpl_tf.serving.signatures`), `tensorflow-serving-api`
(which brings TensorFlow and gRPC) and Pillow.

- REST row format ("instances": one object per sequence) works for
  `serving_default` only: TF Serving requires every input of a row request to
  share the batch dimension, and the `sample` signature's `num_samples` and
  `horizon` are scalars.
- REST columnar format ("inputs": one value per input) and gRPC work for both
  signatures.

Example:
    >>> body = rest_row_body(np.zeros([1, 3, 64, 64, 1], np.float32), seeds=0)
    >>> sorted(body["instances"][0])
    ['context', 'seed']
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import tensorflow as tf
from PIL import Image, ImageSequence
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from svgpl_tf import frames as render
from svgpl_tf.serving.signatures import (
    CONTEXT,
    FRAMES,
    HORIZON,
    NUM_SAMPLES,
    SAMPLE,
    SEED,
    SERVING_DEFAULT,
)

# Default ports of tensorflow_model_server: gRPC and REST.
GRPC_PORT, REST_PORT = 8500, 8501
# Request formats of TF Serving's REST API.
REST_FORMATS = ("row", "columnar")

# ----------------------------------------------------------------- inputs


def as_context(context) -> np.ndarray:
    """Context frames as float32 `[batch, time, h, w, c]`.

    Args:
        context: `[time, h, w, c]` (one sequence) or `[batch, time, h, w, c]`,
            float in [0, 1] or uint8 in [0, 255].

    Example:
        >>> as_context(np.zeros([5, 64, 64, 1], np.uint8)).shape
        (1, 5, 64, 64, 1)
    """
    x = np.asarray(context)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5:
        raise ValueError(
            f"context must be [time, h, w, c] or [batch, time, h, w, c]; got shape {x.shape}."
        )
    return x


def as_seeds(seeds, batch: int) -> np.ndarray:
    """Seeds as int64 `[batch]`; an int `s` gives `s, s + 1, ...`.

    Example:
        >>> as_seeds(7, 3).tolist()
        [7, 8, 9]
    """
    if isinstance(seeds, (int, np.integer)):
        return int(seeds) + np.arange(batch, dtype=np.int64)
    out = np.asarray(seeds, np.int64).reshape([-1])
    if out.shape[0] != batch:
        raise ValueError(f"Give one seed per sequence: {out.shape[0]} seeds for {batch}.")
    return out


def _counts(signature_name: str, num_samples, horizon) -> dict:
    """The scalar inputs of `signature_name`, checked against it."""
    given = num_samples is not None or horizon is not None
    if signature_name == SAMPLE:
        if num_samples is None or horizon is None:
            raise ValueError("The 'sample' signature needs both num_samples and horizon.")
        return {NUM_SAMPLES: int(num_samples), HORIZON: int(horizon)}
    if given:
        raise ValueError(
            f"num_samples and horizon are fixed in {signature_name!r}; "
            f"use signature {SAMPLE!r} to choose them per request."
        )
    return {}


def predict_request(
    context,
    seeds,
    model_name: str = "svg",
    signature_name: str = SERVING_DEFAULT,
    num_samples: int | None = None,
    horizon: int | None = None,
    version: int | None = None,
):
    """A gRPC `PredictRequest` for the exported model.

    Args:
        context: frames `[batch, time, h, w, c]` (or one sequence), see `as_context`.
        seeds: one int per sequence, or an int for `s, s + 1, ...`.
        model_name: the model's name on the server.
        signature_name: `serving_default` or `sample`.
        num_samples: samples per sequence (the `sample` signature only).
        horizon: predicted frames (the `sample` signature only).
        version: a model version; None lets the server pick (the latest).

    Returns:
        `tensorflow_serving.apis.predict_pb2.PredictRequest`.

    Example:
        >>> request = predict_request(np.zeros([1, 5, 64, 64, 1]), [0])
        >>> sorted(request.inputs)
        ['context', 'seed']
    """
    context = as_context(context)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    request.inputs[CONTEXT].CopyFrom(tf.make_tensor_proto(context, tf.float32))
    seed = as_seeds(seeds, context.shape[0])
    request.inputs[SEED].CopyFrom(tf.make_tensor_proto(seed, tf.int64))
    for name, value in _counts(signature_name, num_samples, horizon).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value, tf.int32))
    return request


def rest_row_body(context, seeds, signature_name: str = SERVING_DEFAULT) -> dict:
    """A REST predict body in the row format: one instance per sequence.

    Only `serving_default` takes row requests (see the module docstring).

    Example:
        >>> body = rest_row_body(np.zeros([2, 5, 64, 64, 1]), [3, 4])
        >>> len(body["instances"]), body["instances"][1]["seed"]
        (2, 4)
    """
    if signature_name == SAMPLE:
        raise ValueError(
            "The 'sample' signature has scalar inputs, which TF Serving's row format "
            "cannot carry; use the columnar format or gRPC."
        )
    context = as_context(context)
    seed = as_seeds(seeds, context.shape[0])
    instances = [
        {CONTEXT: context[i].tolist(), SEED: int(seed[i])} for i in range(context.shape[0])
    ]
    return {"signature_name": signature_name, "instances": instances}


def rest_columnar_body(
    context,
    seeds,
    signature_name: str = SERVING_DEFAULT,
    num_samples: int | None = None,
    horizon: int | None = None,
) -> dict:
    """A REST predict body in the columnar format: one value per input.

    Example:
        >>> body = rest_columnar_body(np.zeros([1, 5, 64, 64, 1]), [0], "sample", 4, 10)
        >>> body["inputs"]["num_samples"], body["inputs"]["horizon"]
        (4, 10)
    """
    context = as_context(context)
    inputs = {
        CONTEXT: context.tolist(),
        SEED: as_seeds(seeds, context.shape[0]).tolist(),
        **_counts(signature_name, num_samples, horizon),
    }
    return {"signature_name": signature_name, "inputs": inputs}


# ---------------------------------------------------------------- outputs


def frames_from_rest(response: dict) -> np.ndarray:
    """Frames float32 `[batch, samples, horizon, h, w, c]` from a REST answer.

    A row request is answered with `{"predictions": [...]}`, a columnar one
    with `{"outputs": ...}`; an error with `{"error": "..."}`.
    """
    if "error" in response:
        raise RuntimeError(f"The server answered: {response['error']}")
    for key in ("predictions", "outputs"):
        if key in response:
            value = response[key]
            if isinstance(value, dict):  # named outputs
                value = value[FRAMES]
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                value = [row[FRAMES] for row in value]
            return np.asarray(value, np.float32)
    raise ValueError(f"Not a predict answer: keys {sorted(response)}.")


def frames_from_predict_response(response) -> np.ndarray:
    """Frames float32 `[batch, samples, horizon, h, w, c]` from a gRPC `PredictResponse`."""
    return tf.make_ndarray(response.outputs[FRAMES]).astype(np.float32)


# ------------------------------------------------------------- transport


def rest_url(server: str, model_name: str, version: int | None = None) -> str:
    """The predict URL, e.g. `http://localhost:8501/v1/models/svg:predict`."""
    base = server if "://" in server else f"http://{server}"
    path = f"/v1/models/{model_name}" + (f"/versions/{version}" if version is not None else "")
    return f"{base.rstrip('/')}{path}:predict"


def predict_rest(url: str, body: dict, timeout: float = 120.0) -> np.ndarray:
    """POSTs `body` to `url`; returns the frames or raises with the server's message."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return frames_from_rest(json.load(answer))
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            message = json.loads(text).get("error", text)
        except json.JSONDecodeError:
            message = text
        raise RuntimeError(f"{url} answered HTTP {e.code}: {message}") from e
    except urllib.error.URLError as e:
        raise RuntimeError(f"Cannot reach {url}: {e.reason}. Is the server running?") from e


def predict_grpc(server: str, request, timeout: float = 120.0) -> np.ndarray:
    """Sends a `PredictRequest` through the PredictionService stub; returns the frames."""
    # Frames are large: lift gRPC's 4 MiB default message limit.
    options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(server, options=options) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            raise RuntimeError(f"{server} answered {e.code().name}: {e.details()}") from e
    return frames_from_predict_response(response)


# ------------------------------------------------------------------ files


def read_clip(path: str, channels: int = 1) -> np.ndarray:
    """Reads a context clip as float32 `[batch, time, h, w, c]` in [0, 1].

    Args:
        path: a `.npy` array (see `as_context`; `[time, h, w]` is grey) or an
            animated `.gif` (its frames are one sequence).
        channels: channels to convert GIF frames to (1 grey, 3 RGB).
    """
    if path.endswith(".npy"):
        x = np.load(path)
        if x.ndim == 3:
            x = x[..., None]
        return as_context(x)
    mode = {1: "L", 3: "RGB"}[channels]
    with Image.open(path) as image:
        frames = [np.asarray(f.convert(mode)) for f in ImageSequence.Iterator(image)]
    clip = np.stack(frames).reshape([len(frames), *frames[0].shape[:2], channels])
    return as_context(clip)


def write_gif(path: str, context, frames, ms_per_frame: int = 150, border: int = 2) -> str:
    """Writes context and sampled futures as an animated GIF.

    Args:
        path: the GIF to write.
        context: `[batch, n_ctx, h, w, c]` frames shown first in every sample.
        frames: `[batch, samples, horizon, h, w, c]` predicted frames.
        ms_per_frame: display time of each frame.
        border: pixels of the frame border: white on context frames, grey on
            predicted ones.

    Returns:
        `path`.

    Example:
        >>> write_gif("/tmp/s.gif", np.zeros([1, 2, 8, 8, 1]), np.ones([1, 3, 4, 8, 8, 1]))
        '/tmp/s.gif'
    """
    context = as_context(context)
    frames = np.asarray(frames, np.float32)
    batch, samples, horizon = frames.shape[:3]
    images = []
    for t in range(context.shape[1] + horizon):
        rows = []
        for b in range(batch):
            tiles = []
            for s in range(samples):
                if t < context.shape[1]:
                    tiles.append(render.tile(context[b, t], border, 255))
                else:
                    tiles.append(render.tile(frames[b, s, t - context.shape[1]], border, 128))
            rows.append(np.concatenate(tiles, axis=1))
        images.append(np.concatenate(rows, axis=0))
    return render.write_gif(path, images, ms_per_frame)
