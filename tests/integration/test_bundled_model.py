"""The model shipped inside the package: loads offline with no argument, and is good enough.

The quality figures asserted here are the issue's requirements, measured on held-out data
(MMLU-Pro test split, the seeds' everyday questions) that nothing in training or tuning saw.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sirp import SemanticRouter
from sirp.backends.model_folder import ModelFolder
from sirp.router import DEFAULT_MODEL_DIR

CATEGORIES = [
    "biology", "business", "chemistry", "computer science", "economics", "engineering", "health",
    "history", "law", "math", "other", "philosophy", "physics", "psychology",
]  # fmt: skip


@pytest.fixture(scope="module")
def router() -> SemanticRouter:
    return SemanticRouter()


def test_bundled_folder_is_complete_and_small() -> None:
    folder = ModelFolder.load(DEFAULT_MODEL_DIR)
    m = folder.manifest
    assert m.categories == CATEGORIES
    assert {"Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct"} <= set(m.reference_models)
    size = sum(f.stat().st_size for f in DEFAULT_MODEL_DIR.iterdir()) / 2**20
    assert size <= 25, f"bundled model is {size:.1f} MB"
    assert m.training["recipe"] == "bash scripts/default_model/make.sh"
    assert m.training["export_verification"]["int8_argmax_agreement"] >= 0.99
    assert m.training["export_verification"]["fp32_max_abs_diff"] <= 1e-4


def test_everyday_prompts_route_sensibly(router: SemanticRouter) -> None:
    expect = {
        "Why is the sky blue?": "physics",
        "How do I reverse a linked list in Python?": "computer science",
        "What is the derivative of x^3 * sin(x)?": "math",
        "Who was the first emperor of Rome?": "history",
        "What are the symptoms of iron deficiency?": "health",
    }
    got = {t: d.category for t, d in zip(expect, router.route_batch(list(expect)), strict=True)}
    assert got == expect


def test_decision_fields_and_tiers(router: SemanticRouter) -> None:
    d = router.route("What is the height of Mt. Everest?")
    assert d.tier in {"slm", "llm"} and d.model in {"llama-3.1-8b-instruct", "llama-3.1-70b-instruct"}
    assert set(d.scores) == set(CATEGORIES)
    assert 0 <= d.complexity <= 1 and set(d.success) == {"slm", "llm"}
    json.loads(d.model_dump_json())


def test_hard_maths_looks_harder_than_trivia(router: SemanticRouter) -> None:
    trivia = router.route("What is the capital of France?")
    hard = router.route(
        "Let f be a continuous function on [0,1] with f(0)=f(1). Prove that for every n there is an x with "
        "f(x)=f(x+1/n), and compute the number of such x for f(x)=sin(2πx)."
    )
    assert hard.complexity > trivia.complexity


def test_single_and_batched_decisions_agree(router: SemanticRouter) -> None:
    from sirp.bench.prompts import EVERYDAY_PROMPTS

    batched = router.route_batch(list(EVERYDAY_PROMPTS))
    single = [router.route(p) for p in EVERYDAY_PROMPTS]
    agree = np.mean([a.category == b.category for a, b in zip(batched, single, strict=True)])
    assert agree >= 0.95
    diffs = [abs(a.success["slm"] - b.success["slm"]) for a, b in zip(batched, single, strict=True)]
    # fp32 is padding-invariant (measured 6e-8 here; tests/integration/test_tiny_pipeline.py); dynamic int8
    # quantisation takes activation scales over the whole batch, so batching moves a probability
    # by as much as int8 moves it from fp32: on these prompts at most 0.057, 0.016 on average
    assert max(diffs) < 0.08 and float(np.mean(diffs)) < 0.025


def test_long_prompt_is_truncated_not_refused(router: SemanticRouter) -> None:
    d = router.route("Explain the history of the Roman empire. " * 200)
    assert d.truncated and d.category == "history"


@pytest.mark.data
def test_meets_the_quality_bar_on_held_out_data(router: SemanticRouter, shared_data: Path) -> None:
    from sirp.evaluation.report import evaluate

    r = evaluate(router.extractor, shared_data, n_boot=200)
    assert r["mmlu_pro"]["category"]["accuracy"] >= 0.78
    assert r["everyday"]["accuracy"] >= 0.78
    routing = r["mmlu_pro"]["routing"]
    assert routing["auc_small_wrong"] >= 0.65
    assert routing["pgr_at_50"]["pgr"] >= 0.53
