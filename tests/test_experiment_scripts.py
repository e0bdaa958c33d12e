"""The experiment scripts parse, and stop on missing arguments with one line.

A script that bash cannot parse fails only after hours of training, at its
evaluation or shipping step; `bash -n` finds it at once. (A quote inside a
`${1:?message}` expansion, for one, opens a string that never closes.)
"""

import glob
import os
import subprocess

import pytest
from helpers import REPO

SCRIPTS = sorted(glob.glob(os.path.join(REPO, "experiments", "*.sh")))


def test_there_are_scripts():
    names = {os.path.basename(p) for p in SCRIPTS}
    assert {"smmnist5k_5to10_ship.sh", "smmnist5k_5to10_continue.sh"} <= names


@pytest.mark.parametrize("path", SCRIPTS, ids=os.path.basename)
def test_script_parses(path):
    result = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_bash_rejects_a_quote_in_a_required_argument_message(tmp_path):
    script = tmp_path / "bad.sh"
    script.write_text("RUN=${1:?give the run's folder}\n")
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode != 0


def test_ship_script_names_its_missing_argument_and_its_models():
    ship = os.path.join(REPO, "experiments", "smmnist5k_5to10_ship.sh")
    result = subprocess.run(["bash", ship], capture_output=True, text=True, cwd=REPO)
    assert result.returncode != 0
    assert "give the folder of the training run" in result.stderr
    env = {**os.environ, "MODEL": "svgxx"}
    result = subprocess.run(["bash", ship, "r", "1", "n"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == "MODEL=svgxx: choose svglp, svgpl or svgfp"
