"""Asks an SVG model behind TensorFlow Serving for sampled futures. Usage:

    svgpl-client --context=clip.npy --output=samples.gif
    svgpl-client --context=clip.gif --protocol=grpc --server=localhost:8500
    svgpl-client --context=clip.npy --num_samples=20 --horizon=30 --request_format=columnar

(or `python -m svgpl_tf.client`). Writes the context and the sampled futures
as an animated GIF; see `svgpl_tf/serving/client_lib.py`. It imports nothing
of the training code.
"""

from collections.abc import Sequence

from absl import app, flags

from svgpl_tf import entry
from svgpl_tf.serving.client_lib import (
    GRPC_PORT,
    REST_FORMATS,
    REST_PORT,
    predict_grpc,
    predict_request,
    predict_rest,
    read_clip,
    rest_columnar_body,
    rest_row_body,
    rest_url,
    write_gif,
)
from svgpl_tf.serving.signatures import SAMPLE, SERVING_DEFAULT

_SERVER = flags.DEFINE_string(
    "server", None, f"host:port of the server (default localhost:{REST_PORT} or :{GRPC_PORT})."
)
_PROTOCOL = flags.DEFINE_enum("protocol", "rest", ["rest", "grpc"], "How to reach the server.")
_REQUEST_FORMAT = flags.DEFINE_enum(
    "request_format", "row", list(REST_FORMATS), "REST body: row 'instances' or columnar 'inputs'."
)
_MODEL_NAME = flags.DEFINE_string("model_name", "svg", "Model name on the server.")
_MODEL_VERSION = flags.DEFINE_integer("model_version", None, "Version to ask for (default latest).")
_CONTEXT = flags.DEFINE_string(
    "context", None, "Context clip: .npy ([time, h, w(, c)] or [batch, time, h, w, c]) or .gif."
)
_CHANNELS = flags.DEFINE_integer("channels", 1, "Channels of the model's frames (GIF input).")
_FIRST_SEED = flags.DEFINE_integer("first_seed", 0, "Seed of sequence 0; sequence i gets +i.")
_SAMPLES = flags.DEFINE_integer(
    "num_samples", None, "Samples per sequence; with --horizon, uses the 'sample' signature."
)
_HORIZON = flags.DEFINE_integer(
    "horizon", None, "Predicted frames; with --num_samples, uses the 'sample' signature."
)
_OUTPUT = flags.DEFINE_string("output", "samples.gif", "Where to write the GIF.")
_TIMEOUT = flags.DEFINE_float("timeout", 120.0, "Seconds to wait for the answer.")


def main(argv: Sequence[str]) -> None:
    if not _CONTEXT.value:
        raise app.UsageError("--context is required: a .npy or .gif clip.")
    counts_given = _SAMPLES.value is not None or _HORIZON.value is not None
    signature = SAMPLE if counts_given else SERVING_DEFAULT
    context = read_clip(_CONTEXT.value, _CHANNELS.value)
    if _PROTOCOL.value == "grpc":
        request = predict_request(
            context,
            _FIRST_SEED.value,
            _MODEL_NAME.value,
            signature,
            _SAMPLES.value,
            _HORIZON.value,
            _MODEL_VERSION.value,
        )
        server = _SERVER.value or f"localhost:{GRPC_PORT}"
        frames = predict_grpc(server, request, _TIMEOUT.value)
    else:
        if _REQUEST_FORMAT.value == "row":
            body = rest_row_body(context, _FIRST_SEED.value, signature)
        else:
            body = rest_columnar_body(
                context, _FIRST_SEED.value, signature, _SAMPLES.value, _HORIZON.value
            )
        server = _SERVER.value or f"localhost:{REST_PORT}"
        url = rest_url(server, _MODEL_NAME.value, _MODEL_VERSION.value)
        frames = predict_rest(url, body, _TIMEOUT.value)
    path = write_gif(_OUTPUT.value, context, frames)
    print(f"Frames {list(frames.shape)} [batch, samples, horizon, h, w, c] -> {path}")


def run() -> None:
    """The console script's entry point."""
    entry.run(main)


if __name__ == "__main__":
    run()
