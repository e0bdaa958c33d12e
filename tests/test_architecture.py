"""The package's imports run one way. The stage packages stack as

    data -> losses -> models -> evaluation -> training -> serving, benchmarks

with the shared top-level modules (`config`, `runs`, ...) beside them and the
binaries above everything. Training sits above evaluation in the imports
because its time-to-quality probe scores with evaluation's sampling and
metrics; evaluation, serving and the benchmark restore models through `runs`
and never import training. Imports inside functions count as much as those at
the top of a module."""

import ast
import os
import subprocess
import sys
import tomllib

import pytest
from helpers import REPO, binary_env

PACKAGE = os.path.join(REPO, "svgpl_tf")


def _imported(source: str) -> set[str]:
    """The svgpl_tf (and export) modules and names that `source` imports, anywhere in it."""
    imported = set()
    for node in ast.walk(ast.parse(source)):  # every node: function bodies too
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            imported.add(base)
            imported |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in imported if m.split(".")[0] in ("svgpl_tf", "export")}


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
            with open(path) as f:
                out[module] = _imported(f.read())
    return out


MODULES = _modules()


def _imports(module: str, prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in MODULES[module])


def test_the_package_never_imports_the_export_folder():
    assert not [m for m, deps in MODULES.items() if any(d.split(".")[0] == "export" for d in deps)]


@pytest.mark.parametrize("layer", ["svgpl_tf.models", "svgpl_tf.losses", "svgpl_tf.data"])
def test_lower_layers_know_nothing_of_runs_or_jobs(layer):
    jobs = ("svgpl_tf.runs", "svgpl_tf.training", "svgpl_tf.evaluation.job", "svgpl_tf.serving")
    for module in (m for m in MODULES if m.startswith(layer)):
        for job in jobs + ("svgpl_tf.flags", "svgpl_tf.evaluation", "svgpl_tf.benchmarks"):
            assert not _imports(module, job), (module, job)


def test_only_training_uses_the_training_loop():
    users = {m for m in MODULES if _imports(m, "svgpl_tf.training.loop")}
    assert users <= {"svgpl_tf.train", "svgpl_tf.training.time_to_quality"}, users


def test_outside_training_only_its_binaries_and_runs_import_it():
    users = {
        m
        for m in MODULES
        if _imports(m, "svgpl_tf.training") and not m.startswith("svgpl_tf.training")
    }
    assert users <= {"svgpl_tf.train", "svgpl_tf.time_to_quality", "svgpl_tf.runs"}, users
    # `runs` builds models with the optimizer, and nothing else of training;
    # the package's __init__ imports nothing, so the loop stays unloaded.
    assert {m for m in MODULES["svgpl_tf.runs"] if m.startswith("svgpl_tf.training")} <= {
        "svgpl_tf.training.optimizer",
        *(
            f"svgpl_tf.training.optimizer.{n}"
            for n in ("LinearWarmup", "ScaledAdam", "lstm_bias_paths")
        ),
    }
    assert not MODULES["svgpl_tf.training"]


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
    # The frame renderer (numpy and Pillow) is the client's one import outside serving.
    client = MODULES["svgpl_tf.serving.client_lib"] - {"svgpl_tf", "svgpl_tf.frames"}
    assert {m.rsplit(".", 1)[0] for m in client} <= {
        "svgpl_tf.serving",
        "svgpl_tf.serving.signatures",
    }


def test_the_frame_renderer_needs_no_tensorflow():
    light = {"__future__", "collections", "json", "os", "typing", "numpy", "PIL", "av", "svgpl_tf"}
    for name in ("frames", "files"):
        with open(os.path.join(PACKAGE, f"{name}.py")) as f:
            tree = ast.parse(f.read())
        roots = {
            a.name.split(".")[0]
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
        }
        roots |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert roots <= light, (name, roots - light)
    assert MODULES["svgpl_tf.frames"] <= {"svgpl_tf", "svgpl_tf.files"}


# Binaries whose flags are all defined without TensorFlow: it loads in their
# main(), once the flags are parsed and checked, so that a bad flag or --help
# answers at once. svgpl-compare never needs it: it reads finished reports.
LIGHT_BINARIES = (
    "train",
    "evaluate",
    "time_to_quality",
    "weights_only",
    "compare",
    "predict",
    "export",
    "benchmark",
)


@pytest.mark.parametrize("binary", LIGHT_BINARIES)
def test_light_binaries_load_tensorflow_only_in_main(binary):
    heavy = "{'tensorflow', 'keras'}"
    code = f"import sys, svgpl_tf.{binary}; print(sorted({heavy} & set(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=binary_env(), cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_report_protocol_imports_nothing_of_the_package():
    assert MODULES["svgpl_tf.evaluation.protocol"] == set()


def test_no_module_imports_anothers_private_names():
    bad = []
    for module, deps in MODULES.items():
        for dep in deps:
            name = dep.rsplit(".", 1)[-1]
            if name.startswith("_") and not name.startswith("__"):
                bad.append((module, dep))
    assert not bad, bad


# The top-level modules a stage package may use: the configuration, the run
# folder and the shared helpers. Everything else at the top is a binary (or
# `entry` and `flags`, which serve the binaries).
_SHARED_TOP = {"config", "choices", "files", "runs", "machine", "frames"}

# The stage packages each stage may import, besides itself.
_BELOW = {
    "data": set(),
    "losses": set(),
    "models": {"losses"},
    "evaluation": {"data", "losses", "models"},
    "training": {"data", "losses", "models", "evaluation"},
    "serving": {"data", "losses", "models", "evaluation"},
    "benchmarks": {"data", "losses", "models", "evaluation", "serving"},
}


def _stage_violations(stage: str, modules: dict[str, set[str]]) -> list[tuple[str, str]]:
    """`(module, import)` for every import of `stage` that is neither a stage
    below it, nor itself, nor a shared top-level module."""
    bad = []
    for module in (m for m in modules if m.split(".")[:2] == ["svgpl_tf", stage]):
        for dep in modules[module]:
            parts = dep.split(".")
            if parts[0] != "svgpl_tf" or len(parts) < 2 or parts[1] == stage:
                continue
            allowed = _BELOW[stage] if parts[1] in _BELOW else _SHARED_TOP
            if parts[1] not in allowed:
                bad.append((module, dep))
    return bad


def test_every_stage_package_is_checked():
    packages = {
        n for n in os.listdir(PACKAGE) if os.path.isfile(os.path.join(PACKAGE, n, "__init__.py"))
    }
    assert packages == set(_BELOW), packages ^ set(_BELOW)
    top_modules = {n[: -len(".py")] for n in os.listdir(PACKAGE) if n.endswith(".py")}
    assert _SHARED_TOP <= top_modules, _SHARED_TOP - top_modules


@pytest.mark.parametrize("stage", sorted(_BELOW))
def test_stage_packages_import_no_binary_and_no_later_stage(stage):
    assert not _stage_violations(stage, MODULES)


@pytest.mark.parametrize("stage", ["evaluation", "serving", "benchmarks"])
def test_evaluation_serving_and_benchmarks_never_import_training(stage):
    assert "training" not in _BELOW[stage]
    assert not [
        (m, d)
        for m, deps in MODULES.items()
        if m.split(".")[:2] == ["svgpl_tf", stage]
        for d in deps
        if d.startswith("svgpl_tf.training")
    ]


def test_the_check_sees_imports_inside_functions_and_top_level_libraries():
    source = (
        "from svgpl_tf.evaluate_lib import METRICS_FILE\n"  # a top-level library, not shared
        "def f():\n"
        "    from svgpl_tf.training import loop\n"  # a late import, in a function
        "    import svgpl_tf.train\n"
    )
    modules = {"svgpl_tf.evaluation.comparison": _imported(source)}
    assert {dep for _, dep in _stage_violations("evaluation", modules)} == {
        "svgpl_tf.evaluate_lib",
        "svgpl_tf.evaluate_lib.METRICS_FILE",
        "svgpl_tf.training",
        "svgpl_tf.training.loop",
        "svgpl_tf.train",
    }
