"""Shared fixtures: tiny model sizes so the suite runs in minutes on 2 cores."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import helpers  # noqa: E402
import pytest  # noqa: E402

pytest_plugins = ["serving_fixtures"]


@pytest.fixture
def tiny_config():
    """A valid configuration with tiny sizes, procedural sprites, 4 steps."""
    return helpers.tiny_config()


@pytest.fixture(autouse=True)
def no_global_dtype_policy():
    """No test may leave Keras's global dtype policy changed: models keep their
    precision to themselves (`runs.build_model`)."""
    import keras

    before = keras.config.dtype_policy().name
    yield
    assert keras.config.dtype_policy().name == before, "the global dtype policy leaked"
