"""Tests of the SavedModel export (`svgpl_tf.serving.export_lib`) and its signatures.

The shared tiny export (`serving_fixtures.py`) is loaded the way TF Serving
does, in a process that cannot import `svgpl_tf`, and fed requests built by
`svgpl_tf.serving.client_lib`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from helpers import run_module
from serving_fixtures import (
    HORIZON,
    NUM_SAMPLES,
    SEEDS,
    call_signature,
    context_clip,
    grpc_to_inputs,
    rest_to_inputs,
)
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    prediction_log_pb2,
)

from svgpl_tf import runs
from svgpl_tf.config import Config
from svgpl_tf.serving import client_lib as client
from svgpl_tf.serving import export_lib

# ------------------------------------------------------------------ export


def test_export_layout_and_exported_variables(exported, trained):
    assert exported.version == 1 and exported.step == 2
    assert exported.path.endswith(os.path.join("svg", "1"))
    for name in ("saved_model.pb", "variables", export_lib.WARMUP_FILE, export_lib.INFO_FILE):
        assert os.path.exists(os.path.join(exported.path, name)), name
    assert os.listdir(os.path.dirname(exported.path)) == ["1"]  # no temporary folder left
    saved = tf.train.list_variables(os.path.join(exported.path, "variables", "variables"))
    names = [n for n, _ in saved if n != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    # The model's weights only: no optimizer slots, no perceptual VGG16.
    assert not [n for n in names if "optimizer" in n or "block" in n or "vgg" in n.lower()]
    assert sum(int(np.prod(s)) for n, s in saved if n in names) == sum(
        int(np.prod(w.shape)) for w in trained.weights
    )
    info = json.load(open(os.path.join(exported.path, export_lib.INFO_FILE)))
    assert info["num_samples"] == NUM_SAMPLES and info["horizon"] == HORIZON
    assert info["verified_max_abs_difference"] <= export_lib.VERIFY_ATOL


def test_same_seed_same_frames_as_the_python_model(loaded, trained):
    context = context_clip()
    frames = call_signature(loaded, "serving_default", context, SEEDS)
    assert frames.shape == (2, NUM_SAMPLES, HORIZON, 64, 64, 1)
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    want = trained.sample(context, HORIZON, NUM_SAMPLES, seed=tf.constant(SEEDS, tf.int64))
    np.testing.assert_allclose(frames, want.numpy(), atol=1e-5)
    np.testing.assert_array_equal(frames, call_signature(loaded, "serving_default", context, SEEDS))
    # Another seed changes that sequence's futures only.
    other = call_signature(loaded, "serving_default", context, (4, SEEDS[1]))
    assert np.abs(other[0] - frames[0]).max() > 1e-5  # an untrained model varies little
    np.testing.assert_allclose(other[1], frames[1], atol=1e-6)


def test_sample_signature_counts_and_longercontext_clip(loaded, trained):
    context = context_clip(frames=4, seed=1)
    frames = call_signature(loaded, "sample", context, SEEDS, num_samples=2, horizon=6)
    assert frames.shape == (2, 2, 6, 64, 64, 1)
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    # Frames before the last n_past are ignored.
    want = trained.sample(context[:, -2:], 6, 2, seed=tf.constant(SEEDS, tf.int64))
    np.testing.assert_allclose(frames, want.numpy(), atol=1e-5)
    # serving_default is `sample` with the export's counts.
    default = call_signature(loaded, "serving_default", context, SEEDS)
    counted = call_signature(
        loaded, "sample", context, SEEDS, num_samples=NUM_SAMPLES, horizon=HORIZON
    )
    np.testing.assert_allclose(default, counted, atol=1e-6)


def _bad(context=None, seeds=SEEDS, **counts):
    return (context_clip() if context is None else context, seeds, counts)


BAD_REQUESTS = {
    "rank": (_bad(context_clip()[0]), r"context must be float32 \[batch, time, 64, 64, 1\]"),
    "frame size": (_bad(np.zeros([2, 2, 32, 32, 1], np.float32)), "must be 64x64 pixels"),
    "channels": (_bad(np.zeros([2, 2, 64, 64, 3], np.float32)), r"must have 1 channel\(s\)"),
    "too few frames": (_bad(context_clip(frames=1)), "at least 2 frames per sequence"),
    "empty batch": (_bad(context_clip(batch=0), seeds=()), "no sequence"),
    "above 1": (_bad(context_clip() * 255.0), r"values must be in \[0, 1\]"),
    "negative": (_bad(context_clip() - 0.5), r"values must be in \[0, 1\]"),
    "nan": (_bad(np.full([2, 2, 64, 64, 1], np.nan, np.float32)), r"in \[0, 1\].*no NaN"),
    "seed count": (_bad(seeds=(1, 2, 3)), "one value per context sequence"),
    "seed rank": (_bad(seeds=[[1, 2]]), r"seed must be int64 \[batch\]"),
    "zero samples": (_bad(num_samples=0, horizon=2), "num_samples must be >= 1"),
    "zero horizon": (_bad(num_samples=1, horizon=0), "horizon must be >= 1"),
    "negative horizon": (_bad(num_samples=1, horizon=-3), "horizon must be >= 1"),
    "long horizon": (_bad(num_samples=1, horizon=9), "horizon must be <= 8, the maximum"),
    "many samples": (_bad(num_samples=9, horizon=2), "num_samples must be <= 8, the maximum"),
    "vector horizon": (_bad(num_samples=1, horizon=[2]), "horizon must be an int32 scalar"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_are_invalid_argument(loaded, case):
    (context, seeds, counts), message = BAD_REQUESTS[case]
    signature = "sample" if counts else "serving_default"
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call_signature(loaded, signature, context, seeds, **counts)


def test_warmup_file_holds_prediction_logs(exported, loaded):
    path = os.path.join(exported.path, export_lib.WARMUP_FILE)
    logs = [
        prediction_log_pb2.PredictionLog.FromString(r.numpy())
        for r in tf.data.TFRecordDataset(path)
    ]
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == [
        "serving_default",
        "sample",
    ]
    for log in logs:
        request = log.predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        frames = loaded.signatures[request.model_spec.signature_name](**inputs)["frames"]
        assert frames.shape == (1, NUM_SAMPLES, HORIZON, 64, 64, 1)


# ------------------------------------------------- as TF Serving loads it

# Runs in a fresh interpreter (-I, cwd elsewhere) where `svgpl_tf` and this
# repository cannot be imported: TF1 graph-mode loading with the `serve` tag
# and a Session, as tensorflow_model_server does, then `tf.saved_model.load`.
_SERVER_SCRIPT = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("svgpl_tf", "export"):
                raise ImportError(f"{name} is not importable here")

    sys.meta_path.insert(0, Block())
    try:
        import svgpl_tf  # noqa: F401
        importable = True
    except ImportError:
        importable = False

    import numpy as np
    import tensorflow as tf

    export_dir, cases_path, out_path = sys.argv[1:]
    cases = np.load(cases_path, allow_pickle=False)
    names = sorted({key.split("/")[0] for key in cases.files})
    outputs, errors = {}, {}
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], export_dir)
        for case in names:
            signature, _, label = case.partition(":")
            sig = meta.signature_def[signature]
            feed = {
                sig.inputs[key.split("/")[1]].name: cases[key]
                for key in cases.files
                if key.split("/")[0] == case
            }
            try:
                outputs["session/" + case] = sess.run(sig.outputs["frames"].name, feed)
            except tf.errors.OpError as e:
                errors[case] = [type(e).__name__, e.message]
    loaded = tf.saved_model.load(export_dir)
    for case in names:
        if case not in errors:
            signature = case.partition(":")[0]
            inputs = {
                key.split("/")[1]: tf.constant(cases[key])
                for key in cases.files
                if key.split("/")[0] == case
            }
            outputs["load/" + case] = loaded.signatures[signature](**inputs)["frames"].numpy()
    np.savez(out_path, **outputs)
    json.dump(
        {"importable": importable, "loaded": sorted(sys.modules), "errors": errors},
        open(out_path + ".json", "w"),
    )
    """
)


def test_loads_like_tf_serving_without_the_package(exported, trained, tmp_path):
    dtypes = {"context": np.float32, "seed": np.int64, "num_samples": np.int32, "horizon": np.int32}
    context = context_clip(seed=5)
    sample = dict(num_samples=2, horizon=5)
    requests = {
        "serving_default:grpc": grpc_to_inputs(client.predict_request(context, SEEDS)),
        "sample:grpc": grpc_to_inputs(
            client.predict_request(context, SEEDS, signature_name="sample", **sample)
        ),
        "serving_default:row": rest_to_inputs(client.rest_row_body(context, SEEDS), dtypes),
        "serving_default:columnar": rest_to_inputs(
            client.rest_columnar_body(context, SEEDS), dtypes
        ),
        "sample:columnar": rest_to_inputs(
            client.rest_columnar_body(context, SEEDS, "sample", **sample), dtypes
        ),
        "serving_default:bad_size": grpc_to_inputs(
            client.predict_request(np.zeros([1, 2, 48, 64, 1]), [0])
        ),
        "serving_default:bad_range": grpc_to_inputs(client.predict_request(context * 2, SEEDS)),
        "serving_default:few_frames": grpc_to_inputs(client.predict_request(context[:, :1], SEEDS)),
        "sample:bad_horizon": grpc_to_inputs(
            client.predict_request(
                context, SEEDS, signature_name="sample", num_samples=1, horizon=99
            )
        ),
    }
    requests["serving_default:bad_seed"] = {**requests["serving_default:grpc"], "seed": SEEDS[:1]}
    arrays = {
        f"{case}/{k}": np.asarray(v) for case, inputs in requests.items() for k, v in inputs.items()
    }
    cases_path = str(tmp_path / "cases.npz")
    np.savez(cases_path, **arrays)
    script = tmp_path / "serve.py"
    script.write_text(_SERVER_SCRIPT)
    out = str(tmp_path / "out.npz")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    run = subprocess.run(
        [sys.executable, "-I", str(script), exported.path, cases_path, out],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.load(open(out + ".json"))
    assert not report["importable"]
    assert not [m for m in report["loaded"] if m.split(".")[0] in ("svgpl_tf", "export")]
    results = np.load(out)

    seeds = tf.constant(SEEDS, tf.int64)
    default = trained.sample(context, HORIZON, NUM_SAMPLES, seed=seeds).numpy()
    sampled = trained.sample(context, 5, 2, seed=seeds).numpy()
    for case, want in [
        ("serving_default:grpc", default),
        ("serving_default:row", default),
        ("serving_default:columnar", default),
        ("sample:grpc", sampled),
        ("sample:columnar", sampled),
    ]:
        for loader in ("session", "load"):
            np.testing.assert_allclose(results[f"{loader}/{case}"], want, atol=1e-5)
    expected_errors = {
        "serving_default:bad_size": "must be 64x64 pixels",
        "serving_default:bad_range": r"values must be in [0, 1]",
        "serving_default:few_frames": "at least 2 frames",
        "serving_default:bad_seed": "one value per context sequence",
        "sample:bad_horizon": "horizon must be <= 8",
    }
    assert sorted(report["errors"]) == sorted(expected_errors)
    for case, message in expected_errors.items():
        kind, text = report["errors"][case]
        assert kind == "InvalidArgumentError" and message in text, (case, text)


# ----------------------------------------------------- versions and checks


def test_binary_writes_a_new_version(exported, workdir):
    base = os.path.dirname(os.path.dirname(exported.path))
    args = [f"--workdir={workdir}", f"--export_base={base}", "--num_samples=2", "--horizon=3"]
    run = run_module("svgpl_tf.export", *args)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "version 2" in run.stdout
    assert sorted(os.listdir(os.path.join(base, "svg"))) == ["1", "2"]
    info = json.load(open(os.path.join(base, "svg", "2", export_lib.INFO_FILE)))
    assert (info["num_samples"], info["horizon"]) == (2, 3)


def test_next_version(tmp_path):
    assert export_lib.next_version(str(tmp_path / "missing")) == 1
    for name in ("1", "3", ".tmp-export-x", "10a", "notes"):
        (tmp_path / name).mkdir()
    assert export_lib.next_version(str(tmp_path)) == 4


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(horizon=9), ValueError, "--horizon=9 is over --max_horizon=8"),
        (dict(num_samples=0), ValueError, "--num_samples=0"),
        (dict(max_num_samples=2), ValueError, "--num_samples=3 is over --max_num_samples=2"),
        (dict(model_name="a/b"), ValueError, "--model_name"),
        (dict(version=0), ValueError, "--version=0"),
        (dict(version=1), FileExistsError, "never overwritten"),
    ],
)
def test_bad_settings_fail_before_loading(exported, workdir, monkeypatch, kwargs, error, message):
    def no_restore(*args, **kw):
        raise AssertionError("the checkpoint was loaded")

    monkeypatch.setattr(runs, "restore_model", no_restore)
    settings = {**dict(num_samples=3, horizon=4, max_num_samples=8, max_horizon=8), **kwargs}
    base = os.path.dirname(os.path.dirname(exported.path))
    with pytest.raises(error, match=message):
        export_lib.export_savedmodel(workdir, base, **settings)


def test_missing_workdir_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="training workdir"):
        export_lib.export_savedmodel(str(tmp_path / "nothing"), str(tmp_path / "base"))


def test_verification_catches_another_model(exported, workdir):
    other = runs.build_model(dataclasses.replace(Config.load(workdir), seed=1))
    with pytest.raises(RuntimeError, match="does not reproduce the model"):
        export_lib.verify_export(exported.path, other, NUM_SAMPLES, HORIZON)


def test_failed_verification_leaves_no_version(workdir, tmp_path, monkeypatch):
    def save(module, path, signatures):  # skips the tracing; writes a file
        os.makedirs(path)
        open(os.path.join(path, "saved_model.pb"), "w").close()

    def fail(*args, **kwargs):
        raise RuntimeError("frames differ")

    monkeypatch.setattr(tf.saved_model, "save", save)
    monkeypatch.setattr(export_lib, "verify_export", fail)
    with pytest.raises(RuntimeError, match="frames differ"):
        export_lib.export_savedmodel(workdir, str(tmp_path), num_samples=1, horizon=1)
    assert os.listdir(tmp_path / "svg") == []


def test_bfloat16_xla_export_is_verified_and_runs_in_a_session(workdir, exported, tmp_path):
    result = export_lib.export_savedmodel(
        workdir,
        str(tmp_path / "serving"),
        num_samples=NUM_SAMPLES,
        horizon=HORIZON,
        precision="mixed_bfloat16",
        jit_compile=True,
    )
    info = json.load(open(os.path.join(result.path, export_lib.INFO_FILE)))
    assert (info["precision"], info["jit_compile"]) == ("mixed_bfloat16", True)
    # The export checked itself against the bfloat16 model under XLA.
    assert info["verified_max_abs_difference"] <= export_lib.VERIFY_ATOL
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(result.path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    library = proto.meta_graphs[0].graph_def.library
    nodes = [n for fn in library.function for n in fn.node_def]
    assert any(n.attr["_XlaMustCompile"].b for n in nodes)
    assert any(n.attr["T"].type == tf.bfloat16.as_datatype_enum for n in nodes)
    context = context_clip(seed=4)
    bf16 = call_signature(tf.saved_model.load(result.path), "serving_default", context, SEEDS)
    f32 = call_signature(tf.saved_model.load(exported.path), "serving_default", context, SEEDS)
    assert bf16.shape == f32.shape == (2, NUM_SAMPLES, HORIZON, 64, 64, 1)
    assert np.all(np.isfinite(bf16)) and 0 <= bf16.min() and bf16.max() <= 1
    # The way TF Serving runs it: a TF1 Session on the loaded MetaGraph.
    with tf.Graph().as_default(), tf.compat.v1.Session() as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], result.path)
        sig = meta.signature_def["serving_default"]
        feed = {sig.inputs["context"].name: context, sig.inputs["seed"].name: np.array(SEEDS)}
        in_session = sess.run(sig.outputs["frames"].name, feed)
    np.testing.assert_allclose(in_session, bf16, atol=1e-6)
