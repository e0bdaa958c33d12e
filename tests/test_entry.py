"""Tests of the binaries' start: installed flagfiles found by name from anywhere,
and expected errors as one line."""

import os
import sys

import pytest
from absl import flags
from helpers import run_module

from svgpl_tf import entry
from svgpl_tf import flags as svg_flags


def test_flagfiles_resolve_by_name_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no experiments/ folder here
    installed = os.path.join(entry.FLAGFILE_DIR, "quickstart.flags")
    argv = ["svgpl-train", "--flagfile=quickstart", "--flagfile", "quickstart.flags", "--steps=2"]
    assert entry.resolve_flagfiles(argv) == [
        "svgpl-train",
        f"--flagfile={installed}",
        f"--flagfile={installed}",
        "--steps=2",
    ]
    # Commands written against the repository's old layout still find it.
    old = entry.resolve_flagfiles(["x", "--flagfile=experiments/quickstart.flags"])
    assert old == ["x", f"--flagfile={installed}"]
    # A file that exists is taken as given, even with an installed name.
    (tmp_path / "quickstart.flags").write_text("--steps=3\n")
    assert entry.resolve_flagfiles(["x", "--flagfile=quickstart.flags"]) == [
        "x",
        "--flagfile=quickstart.flags",
    ]
    # An unknown name is left for absl to report.
    assert entry.resolve_flagfiles(["x", "--flagfile=nope"]) == ["x", "--flagfile=nope"]


@pytest.mark.parametrize("name", entry.flagfile_names())
def test_every_installed_flagfile_gives_a_valid_config(name):
    values = flags.FlagValues()
    svg_flags.define_config_flags(values)
    values(entry.resolve_flagfiles(["x", f"--flagfile={name}"]))
    config, explicit = svg_flags.config_from_flags(values)
    assert explicit, name  # the file set something
    assert config.validate() is config


def test_included_flagfiles_expand_in_order(tmp_path, monkeypatch):
    """smmnist5k_svgfp.flags includes smmnist5k_svglp.flags and then sets the prior;
    the included file resolves wherever the command runs, and later flags win."""
    monkeypatch.chdir(tmp_path)
    args = entry.resolve_flagfiles(["x", "--flagfile=smmnist5k_svgfp", "--steps=5"])
    assert not any(a.startswith("--flagfile") for a in args)
    assert args.index("--prior=fixed") > args.index("--prior=learned")
    assert args[-1] == "--steps=5"
    values = flags.FlagValues()
    svg_flags.define_config_flags(values)
    values(args)
    assert values["prior"].value == "fixed" and values["steps"].value == 5


def test_the_experiments_are_installed():
    names = entry.flagfile_names()
    for name in ("quickstart", "reference_training", "smmnist5k_svgpl", "bair_svglp"):
        assert name in names


@pytest.mark.parametrize(
    "error, line",
    [
        (ValueError("--batch_size=0: must be >= 1."), "Error: --batch_size=0: must be >= 1.\n"),
        (FileNotFoundError("run/a.json is missing"), "Error: run/a.json is missing\n"),
        (RuntimeError("refused:\n  no model"), "Error: refused: no model\n"),
        (ImportError("pip install grpcio"), "Error: pip install grpcio\n"),
    ],
)  # fmt: skip
def test_run_ends_an_expected_error_with_one_line(error, line, capsys, monkeypatch):
    def main(argv):
        raise error

    monkeypatch.setattr(sys, "argv", ["svgpl-evaluate"])
    with pytest.raises(SystemExit) as done:
        entry.run(main)
    assert done.value.code == 1
    assert capsys.readouterr().err == line


@pytest.mark.parametrize("bug", [KeyError("step"), TypeError("x"), NotImplementedError("y")])
def test_run_keeps_the_traceback_of_a_bug(bug, monkeypatch):
    def main(argv):
        raise bug

    monkeypatch.setattr(sys, "argv", ["svgpl-evaluate"])
    with pytest.raises(type(bug)):
        entry.run(main)


def test_run_refuses_positional_arguments_before_main(capsys, monkeypatch):
    called = []
    monkeypatch.setattr(sys, "argv", ["svgpl-train", "extra"])
    with pytest.raises(SystemExit) as done:
        entry.run(called.append)
    assert done.value.code == 1 and called == []
    assert "Unexpected arguments: ['extra']" in capsys.readouterr().err


def test_compare_on_a_missing_folder_is_one_line(tmp_path):
    result = run_module("svgpl_tf.compare", str(tmp_path / "nope"), str(tmp_path / "nope2"))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "nope/metrics.json does not exist" in last
