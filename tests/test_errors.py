"""Every expected error is one clean line naming the flag or file and the fix;
speed switches that will be slow here say so."""

import errno
import io
import logging
import sys

import pytest
from helpers import TINY_FLAGS, run_module

from svgpl_tf import entry, machine
from svgpl_tf.training import callbacks, loop


def _one_clean_line(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    for needle in needles:
        assert needle in result.stderr, result.stderr[-2000:]


def test_vgg_weights_that_are_not_hdf5(tmp_path):
    fake = tmp_path / "vgg.weights.h5"
    fake.write_text("not hdf5")
    result = run_module(
        "svgpl_tf.train", *TINY_FLAGS, f"--workdir={tmp_path / 'run'}", "--steps=1",
        "--perceptual_weight=1e-3", f"--vgg_weights={fake}",
    )  # fmt: skip
    _one_clean_line(result, f"--vgg_weights={fake}: not an HDF5 weights file")


def test_mnist_path_that_is_not_an_npz(tmp_path):
    fake = tmp_path / "mnist.npz"
    fake.write_text("just text")
    result = run_module(
        "svgpl_tf.train", *TINY_FLAGS, f"--workdir={tmp_path / 'run'}", "--steps=1",
        "--sprites=mnist", f"--mnist_path={fake}",
    )  # fmt: skip
    _one_clean_line(result, f"--mnist_path='{fake}' is not a readable .npz archive")


def test_corrupt_config_json_of_a_workdir(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{ not json")
    result = run_module("svgpl_tf.evaluate", f"--workdir={run}", f"--output_dir={tmp_path / 'e'}")
    _one_clean_line(result, "config.json is not valid JSON")


def test_a_corrupt_video_dataset_file_names_it(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a.mp4").write_bytes(b"\x00" * 64)
    (videos / "b.mp4").write_bytes(b"\x00" * 64)
    result = run_module(
        "svgpl_tf.train", *TINY_FLAGS, f"--workdir={tmp_path / 'run'}", "--steps=1",
        f"--dataset=files:{videos}", "--channels=1",
    )  # fmt: skip
    _one_clean_line(result, "a.mp4: the video cannot be decoded", "--skip_bad_files")


def test_a_full_disk_is_one_line(capsys, monkeypatch):
    def main(argv):
        raise OSError(errno.ENOSPC, "No space left on device", "/data/run/ckpt-7.data")

    monkeypatch.setattr(sys, "argv", ["svgpl-train"])
    with pytest.raises(SystemExit) as done:
        entry.run(main)
    assert done.value.code == 1
    err = capsys.readouterr().err
    assert "no space left on the device writing /data/run/ckpt-7.data" in err
    assert err.count("\n") == 1
    # TensorFlow's own error for it carries only the message.
    assert entry._disk_full(RuntimeError("ResourceExhausted: No space left on device"))
    assert not entry._disk_full(OSError(errno.EACCES, "Permission denied"))


@pytest.mark.parametrize(
    "precision, native, gpu, warned",
    [
        ("mixed_bfloat16", False, False, True),
        ("mixed_bfloat16", True, False, False),
        ("mixed_float16", False, False, True),
        ("mixed_float16", False, True, False),
        ("float32", False, False, False),
    ],
)
def test_precision_warning_on_a_cpu_without_native_16_bit(
    monkeypatch, caplog, precision, native, gpu, warned
):
    monkeypatch.setattr(machine, "bfloat16_hardware", lambda: native)
    monkeypatch.setattr(
        machine.tf.config, "list_physical_devices", lambda kind=None: ["gpu"] if gpu else []
    )
    with caplog.at_level(logging.WARNING):
        message = machine.warn_precision(precision)
    assert (message is not None) == warned
    if warned:
        assert "Use --precision=float32 here" in message
        assert message in caplog.text


def test_progress_counts_the_runs_own_steps_without_escape_codes(tiny_config, tmp_path):
    import dataclasses

    stream = io.StringIO()  # not a terminal
    progress = callbacks.ProgressLine(start=0, total=2, every=600, stream=stream)
    config = dataclasses.replace(tiny_config, steps=2, log_every=600, sample_every=0)
    loop.train(config, str(tmp_path / "run"), verbose=0, extra_callbacks=[progress])
    text = stream.getvalue()
    assert text.startswith("step 2/2 ") and text.count("\n") == 1, text
    assert "600" not in text and "\r" not in text and "\x1b" not in text
    terminal = io.StringIO()
    progress = callbacks.ProgressLine(start=2, total=4, every=1, stream=terminal, terminal=True)
    config = dataclasses.replace(config, steps=4)
    loop.train(config, str(tmp_path / "run"), verbose=0, extra_callbacks=[progress])
    assert terminal.getvalue().startswith("\rstep ") and "step 4/4" in terminal.getvalue()


@pytest.mark.parametrize(
    "flags_, speedup, policy",
    [
        ([], None, "float32"),
        (["avx512_bf16"], 3.0, "mixed_bfloat16"),
        (["amx_bf16", "avx512_bf16"], 1.1, "float32"),
    ],
)
def test_auto_precision_picks_bfloat16_only_where_native_and_measured_faster(
    monkeypatch, flags_, speedup, policy
):
    monkeypatch.setattr(machine, "cpu_flags", lambda: ["avx2", *flags_])
    monkeypatch.setattr(machine.tf.config, "list_physical_devices", lambda kind=None: [])

    def measured():
        assert flags_, "no matmul is timed on a CPU without native bfloat16"
        return speedup

    monkeypatch.setattr(machine, "matmul_speedup", measured)
    chosen, reason = machine.resolve_precision("auto")
    assert chosen == policy
    assert (f"{speedup:.2f}x" in reason) if flags_ else ("no native bfloat16" in reason)
    assert machine.resolve_precision("mixed_float16") == ("mixed_float16", "asked for")


def test_matmul_speedup_is_a_positive_ratio():
    ratio = machine.matmul_speedup(size=64, repeats=3)
    assert 0.01 < ratio < 100


def test_auto_precision_run_records_its_choice(monkeypatch, tiny_config, tmp_path):
    import dataclasses
    import json

    monkeypatch.setattr(machine, "resolve_precision", lambda p: ("float32", "test's choice"))
    config = dataclasses.replace(tiny_config, steps=2, sample_every=0, precision="auto")
    loop.train(config, str(tmp_path / "run"), verbose=0)
    saved = json.load(open(tmp_path / "run" / "config.json"))
    info = json.load(open(tmp_path / "run" / "run_info.json"))
    assert saved["precision"] == "float32"
    assert info["precision"] == {
        "requested": "auto",
        "policy": "float32",
        "reason": "test's choice",
    }
    # Resumed without asking again: the record of the choice stays.
    loop.train(
        dataclasses.replace(config, steps=4, precision="float32"), str(tmp_path / "run"), verbose=0
    )
    info = json.load(open(tmp_path / "run" / "run_info.json"))
    assert info["precision"]["requested"] == "auto"
