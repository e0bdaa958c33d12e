"""Shared fixtures: tiny model sizes so the suite runs in minutes on 2 cores."""

import dataclasses
import gc
import os
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import helpers  # noqa: E402
import pytest  # noqa: E402

pytest_plugins = ["serving_fixtures"]

# Test files whose session fixtures are costly and shared run on one worker
# process, so that the fixtures are built once: the trained and exported
# model of `serving_fixtures`.
SHARED_WORKER = {
    "test_export_lib.py": "serving",
    "test_predict_lib.py": "serving",
    "test_client_lib.py": "serving",
}
# The longest groups (a minute or more on 2 cores) are handed out first, so that
# no worker starts one of them while the others run out of work.
LONGEST_FIRST = (
    "serving",
    "test_benchmark.py",
    "test_time_to_quality.py",
    "test_evaluate.py",
    "test_faults.py",
    "test_train.py",
    "test_fast_paths.py",
    "test_distribute.py",
    "test_jax_mirror.py",
    "test_warm_start.py",
)


def _group(item) -> str:
    return SHARED_WORKER.get(item.path.name, item.path.name)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """Every test file is one group of `--dist loadgroup` (its module fixtures
    are built once), the files of `SHARED_WORKER` one group together; the
    groups of `LONGEST_FIRST` come first, in that order."""
    rank = {group: i for i, group in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item), len(rank)))  # stable: files keep their order
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))


@pytest.fixture
def tiny_config():
    """A valid configuration with tiny sizes, procedural sprites, 4 steps."""
    return helpers.tiny_config()


@pytest.fixture(scope="session")
def _tiny_run_once(tmp_path_factory) -> helpers.TrainedRun:
    """The tiny run trained once per worker process (tracing a training step
    costs seconds; most tests of checkpoints only need a finished run)."""
    from svgpl_tf.training import loop

    config = helpers.tiny_config()
    workdir = str(tmp_path_factory.mktemp("tiny_run") / "run")
    model = loop.train(config, workdir, verbose=0)
    return helpers.TrainedRun.of(model, config, workdir)


@pytest.fixture
def tiny_run(_tiny_run_once, tmp_path) -> helpers.TrainedRun:
    """A finished tiny run of 4 steps (checkpoints at steps 2 and 4, with
    Adam's slots) copied to `tmp_path / "run"`, the test's own to change."""
    workdir = str(tmp_path / "run")
    shutil.copytree(_tiny_run_once.workdir, workdir)
    return dataclasses.replace(_tiny_run_once, workdir=workdir)


@pytest.fixture(autouse=True)
def frozen_survivors():
    """Collects the garbage of the tests before, then moves what survives out
    of the collector's sight (`gc.freeze`). A worker accumulates about two
    million objects of the models and graphs that its fixtures and module
    caches keep; without this, scanning them in the collector's full passes
    took about a fifth of each worker's time (96-106 s of a 9-minute suite,
    measured with `gc.callbacks`)."""
    gc.collect()
    gc.freeze()
    yield


@pytest.fixture(autouse=True)
def no_global_dtype_policy():
    """No test may leave Keras's global dtype policy changed: models keep their
    precision to themselves (`runs.build_model`)."""
    import keras

    before = keras.config.dtype_policy().name
    yield
    assert keras.config.dtype_policy().name == before, "the global dtype policy leaked"
