"""The package's imports run one way: data -> models and losses -> runs -> the
jobs (training, evaluation, serving, benchmark) -> the binaries."""

import ast
import os
import tomllib

import pytest
from helpers import REPO

PACKAGE = os.path.join(REPO, "svgpl_tf")


def _modules() -> dict[str, set[str]]:
    """`{module: the svgpl_tf modules it imports}` for every module of the package."""
    out = {}
    for root, _, names in os.walk(PACKAGE):
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, REPO)[: -len(".py")].replace(os.sep, ".")
            module = rel[: -len(".__init__")] if rel.endswith(".__init__") else rel
            imported = set()
            for node in ast.walk(ast.parse(open(path).read())):
                if isinstance(node, ast.Import):
                    imported |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    base = node.module
                    imported.add(base)
                    imported |= {f"{base}.{a.name}" for a in node.names}
            out[module] = {m for m in imported if m.split(".")[0] in ("svgpl_tf", "export")}
    return out


MODULES = _modules()


def _imports(module: str, prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in MODULES[module])


def test_the_package_never_imports_the_export_folder():
    assert not [m for m, deps in MODULES.items() if any(d.split(".")[0] == "export" for d in deps)]


@pytest.mark.parametrize("layer", ["svgpl_tf.models", "svgpl_tf.losses", "svgpl_tf.data"])
def test_lower_layers_know_nothing_of_runs_or_jobs(layer):
    jobs = ("svgpl_tf.runs", "svgpl_tf.train_lib", "svgpl_tf.evaluation.job", "svgpl_tf.serving")
    for module in (m for m in MODULES if m.startswith(layer)):
        for job in jobs + ("svgpl_tf.flags", "svgpl_tf.evaluation", "svgpl_tf.benchmarks"):
            assert not _imports(module, job), (module, job)


def test_only_training_uses_the_training_loop():
    users = {m for m in MODULES if _imports(m, "svgpl_tf.train_lib")}
    assert users <= {"svgpl_tf.train", "svgpl_tf.quality", "svgpl_tf.time_to_quality"}, users


def test_only_binaries_import_the_flags():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        scripts = tomllib.load(f)["project"]["scripts"]
    binaries = {target.split(":")[0] for target in scripts.values()}
    binaries.add("svgpl_tf.entry")  # how the binaries start, and their flagfiles
    assert "svgpl_tf.predict" in binaries and "svgpl_tf.train" in binaries
    users = {m for m in MODULES if _imports(m, "svgpl_tf.flags")}
    assert users <= binaries, users - binaries


def test_config_and_the_client_stay_light():
    assert MODULES["svgpl_tf.config"] <= {
        "svgpl_tf",
        "svgpl_tf.files",
        *(m for m in MODULES["svgpl_tf.config"] if m.startswith("svgpl_tf.choices")),
    }
    client = MODULES["svgpl_tf.serving.client_lib"]
    assert {m.rsplit(".", 1)[0] for m in client} <= {
        "svgpl_tf.serving",
        "svgpl_tf.serving.signatures",
    }


def test_no_module_imports_anothers_private_names():
    bad = []
    for module, deps in MODULES.items():
        for dep in deps:
            name = dep.rsplit(".", 1)[-1]
            if name.startswith("_") and not name.startswith("__"):
                bad.append((module, dep))
    assert not bad, bad


# The top-level modules a stage package may use: the configuration, the run
# folder and the shared helpers. Everything else at the top is a binary or a
# job of another stage, above the stages.
_SHARED_TOP = {"config", "choices", "files", "runs", "machine", "flops"}


@pytest.mark.parametrize("stage", ["evaluation", "serving", "benchmarks"])
def test_stage_packages_import_no_binary_or_job_above_them(stage):
    top_modules = {
        name[: -len(".py")]
        for name in os.listdir(PACKAGE)
        if name.endswith(".py") and name != "__init__.py"
    }
    assert {"evaluate", "train_lib", "quality"} <= top_modules
    bad = []
    for module in (m for m in MODULES if m.startswith(f"svgpl_tf.{stage}")):
        for dep in MODULES[module]:
            parts = dep.split(".")
            if len(parts) > 1 and parts[1] in top_modules - _SHARED_TOP:
                bad.append((module, dep))
    assert not bad, bad
