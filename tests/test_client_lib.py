"""Tests of the serving client (`svgpl_tf.serving.client_lib`, `svgpl-client`):
request bodies, answers, clips and GIFs, and talks with a stand-in TF Serving."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from absl import flags
from helpers import REPO, binary_env
from serving_fixtures import (
    HORIZON,
    NUM_SAMPLES,
    SEEDS,
    context_clip,
    grpc_to_inputs,
    rest_to_inputs,
)
from tensorflow_serving.apis import (
    predict_pb2,
    prediction_service_pb2_grpc,
)

from svgpl_tf import client as client_binary
from svgpl_tf.serving import client_lib as client
from svgpl_tf.serving import export_options

# ------------------------------------------------------------------ client


def test_client_bodies_and_requests():
    context = context_clip()
    row = client.rest_row_body(context, 5)
    assert [r["seed"] for r in row["instances"]] == [5, 6]
    np.testing.assert_array_equal(np.asarray(row["instances"][1]["context"]), context[1])
    request = client.predict_request(context[0], [9], "m", "sample", 2, 3, version=4)
    assert request.model_spec.version.value == 4
    assert tf.make_ndarray(request.inputs["context"]).shape == (1, 2, 64, 64, 1)
    assert int(tf.make_ndarray(request.inputs["horizon"])) == 3
    with pytest.raises(ValueError, match="row format"):
        client.rest_row_body(context, 0, "sample")
    with pytest.raises(ValueError, match="needs both"):
        client.rest_columnar_body(context, 0, "sample", num_samples=2)
    with pytest.raises(ValueError, match="fixed in 'serving_default'"):
        client.predict_request(context, 0, horizon=3)
    with pytest.raises(ValueError, match="one seed per sequence"):
        client.rest_columnar_body(context, [1, 2, 3])
    assert client.rest_url("localhost:8501", "svg") == "http://localhost:8501/v1/models/svg:predict"
    assert client.rest_url("https://h", "svg", 2).endswith("/v1/models/svg/versions/2:predict")


def test_client_parses_answers():
    frames = np.random.default_rng(0).random([2, 3, 4, 8, 8, 1]).astype(np.float32)
    row = {"predictions": frames.tolist()}
    columnar = {"outputs": frames.tolist()}
    named = {"outputs": {"frames": frames.tolist()}}
    for answer in (row, columnar, named):
        np.testing.assert_array_equal(
            client.frames_from_rest(json.loads(json.dumps(answer))), frames
        )
    with pytest.raises(RuntimeError, match="horizon must be"):
        client.frames_from_rest({"error": "horizon must be >= 1"})
    response = predict_pb2.PredictResponse()
    response.outputs["frames"].CopyFrom(tf.make_tensor_proto(frames))
    np.testing.assert_array_equal(client.frames_from_predict_response(response), frames)


def test_client_gif_and_clip_files(tmp_path):
    context = context_clip(batch=1, frames=2)
    frames = np.random.default_rng(1).random([1, 3, 4, 64, 64, 1]).astype(np.float32)
    path = client.write_gif(str(tmp_path / "out" / "s.gif"), context, frames)
    clip = client.read_clip(path)
    assert clip.shape == (1, 2 + 4, 64 + 4, 3 * (64 + 4), 1)
    np.save(tmp_path / "clip.npy", (context[0, ..., 0] * 255).astype(np.uint8))
    np.testing.assert_allclose(client.read_clip(str(tmp_path / "clip.npy")), context, atol=1 / 255)


# ------------------------------------------- client against a stand-in server


class _StandInServer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Serves the loaded SavedModel over REST and gRPC, converting requests
    and errors the way TF Serving documents it (not TF Serving itself)."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.dtypes = {"context": np.float32, "seed": np.int64}
        self.dtypes.update(num_samples=np.int32, horizon=np.int32)

    def run(self, signature, inputs):
        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        return self.loaded.signatures[signature](**tensors)["frames"].numpy()

    def Predict(self, request, context):  # noqa: N802 (gRPC method name)
        try:
            frames = self.run(request.model_spec.signature_name, grpc_to_inputs(request))
        except tf.errors.InvalidArgumentError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, e.message)
        response = predict_pb2.PredictResponse()
        response.outputs["frames"].CopyFrom(tf.make_tensor_proto(frames))
        return response

    def rest(self, body: dict) -> tuple[int, dict]:
        try:
            frames = self.run(body["signature_name"], rest_to_inputs(body, self.dtypes))
        except tf.errors.InvalidArgumentError as e:
            return 400, {"error": e.message}
        key = "predictions" if "instances" in body else "outputs"
        return 200, {key: frames.tolist()}


@pytest.fixture(scope="module")
def stand_in(loaded):
    server = _StandInServer(loaded)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server method name)
            assert self.path == "/v1/models/svg:predict", self.path
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            code, answer = server.rest(body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    http_server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(server, grpc_server)
    grpc_port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    yield f"127.0.0.1:{http_server.server_port}", f"127.0.0.1:{grpc_port}"
    http_server.shutdown()
    grpc_server.stop(None)


def test_client_talks_rest_and_grpc(stand_in, trained):
    rest, grpc_target = stand_in
    context = context_clip(seed=9)
    url = client.rest_url(rest, "svg")
    seeds = tf.constant(SEEDS, tf.int64)
    want = trained.sample(context, HORIZON, NUM_SAMPLES, seed=seeds).numpy()
    for frames in (
        client.predict_rest(url, client.rest_row_body(context, SEEDS)),
        client.predict_rest(url, client.rest_columnar_body(context, SEEDS)),
        client.predict_grpc(grpc_target, client.predict_request(context, SEEDS)),
    ):
        np.testing.assert_allclose(frames, want, atol=1e-5)
    request = client.predict_request(
        context, SEEDS, signature_name="sample", num_samples=1, horizon=2
    )
    assert client.predict_grpc(grpc_target, request).shape == (2, 1, 2, 64, 64, 1)
    with pytest.raises(RuntimeError, match="(?s)HTTP 400.*must be 64x64 pixels"):
        client.predict_rest(url, client.rest_row_body(np.zeros([1, 2, 32, 64, 1]), [0]))
    with pytest.raises(RuntimeError, match="(?s)INVALID_ARGUMENT.*horizon must be <= 8"):
        request = client.predict_request(context, SEEDS, "svg", "sample", 1, 50)
        client.predict_grpc(grpc_target, request)


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_client_binary_writes_a_gif(stand_in, tmp_path, protocol):
    rest, grpc_target = stand_in
    clip = (context_clip(batch=1)[0] * 255).astype(np.uint8)  # [time, h, w, 1]
    np.save(tmp_path / "clip.npy", clip)
    output = str(tmp_path / f"{protocol}.gif")
    argv = [
        "client",
        f"--server={rest if protocol == 'rest' else grpc_target}",
        f"--protocol={protocol}",
        f"--context={tmp_path / 'clip.npy'}",
        f"--output={output}",
        "--request_format=columnar",
        "--num_samples=2",
        "--horizon=3",
    ]
    try:
        flags.FLAGS(argv)
        client_binary.main(argv[:1])
    finally:
        flags.FLAGS.unparse_flags()
    assert client.read_clip(output).shape[1] == 2 + 3  # context, then predicted frames


def test_models_config_parses():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    with open(os.path.join(REPO, "export", "models.config")) as f:
        config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert (model.name, model.base_path) == (export_options.DEFAULT_MODEL_NAME, "/models/svg")


def test_client_imports_nothing_of_the_training_code():
    code = (
        "import sys, svgpl_tf.client; "
        "print(','.join(sorted(m for m in sys.modules if m.startswith('svgpl_tf'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=binary_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = set(done.stdout.split()[-1].split(","))
    allowed = {"svgpl_tf", "svgpl_tf.client", "svgpl_tf.entry", "svgpl_tf.serving"}
    allowed |= {"svgpl_tf.serving.client_lib", "svgpl_tf.serving.signatures"}
    allowed |= {"svgpl_tf.frames", "svgpl_tf.files"}  # the frame renderer: numpy and Pillow
    assert loaded <= allowed, sorted(loaded - allowed)
