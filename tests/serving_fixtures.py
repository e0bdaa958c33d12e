"""The tiny trained and exported model that the export and client tests share.

One tiny SVG-PL run (2 steps) is trained and exported once per test session
(`conftest.py` loads this module as a plugin, so its fixtures are everywhere).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf
from helpers import tiny_config
from tensorflow_serving.apis import predict_pb2

from svgpl_tf import runs
from svgpl_tf.serving import export_lib
from svgpl_tf.training import loop

# Export settings of the shared export.
NUM_SAMPLES, HORIZON, MAX_NUM_SAMPLES, MAX_HORIZON = 3, 4, 8, 8
# Seeds of the test requests, one per sequence.
SEEDS = (3, 7)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A 2-step tiny SVG-PL run: the perceptual VGG16 exists during training."""
    config = tiny_config(
        steps=2,
        log_every=1,
        checkpoint_every=2,
        sample_every=0,
        perceptual_weight=1e-3,
        vgg_weights="random",
    )
    path = str(tmp_path_factory.mktemp("export") / "run")
    loop.train(config, path, verbose=0)
    return path


@pytest.fixture(scope="session")
def trained(workdir):
    model, _, _ = runs.restore_model(workdir)
    return model


@pytest.fixture(scope="session")
def exported(workdir, tmp_path_factory):
    base = str(tmp_path_factory.mktemp("serving"))
    return export_lib.export_savedmodel(
        workdir,
        base,
        num_samples=NUM_SAMPLES,
        horizon=HORIZON,
        max_num_samples=MAX_NUM_SAMPLES,
        max_horizon=MAX_HORIZON,
    )


@pytest.fixture(scope="session")
def loaded(exported):
    return tf.saved_model.load(exported.path)


def context_clip(batch=2, frames=2, seed=0):
    return tf.random.stateless_uniform([batch, frames, 64, 64, 1], seed=[seed, 1]).numpy()


def call_signature(loaded, signature, context, seeds, **counts):
    inputs = {"context": tf.constant(context), "seed": tf.constant(seeds, tf.int64)}
    inputs.update({k: tf.constant(v, tf.int32) for k, v in counts.items()})
    return loaded.signatures[signature](**inputs)["frames"].numpy()


def rest_to_inputs(body: dict, dtypes: dict) -> dict:
    """What TF Serving makes of a REST body: row instances stacked, columns as is."""
    text = json.loads(json.dumps(body))  # through JSON text, as on the wire
    if "instances" in text:
        rows = text["instances"]
        return {k: np.asarray([r[k] for r in rows], dtypes[k]) for k in rows[0]}
    return {k: np.asarray(v, dtypes[k]) for k, v in text["inputs"].items()}


def grpc_to_inputs(request) -> dict:
    """What TF Serving makes of a PredictRequest: its TensorProtos as arrays."""
    wire = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    return {k: tf.make_ndarray(v) for k, v in wire.inputs.items()}
