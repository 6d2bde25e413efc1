"""allowed_models: routing restricted to a set of model names (access rights, required capabilities)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sirp import InputError, SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.backends.tokenization import TokenizedBatch
from sirp.errors import NoEligibleModelError
from sirp.providers.client import Dispatcher


def endpoint(name: str, tier: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": "http://127.0.0.1:9/v1", **kw}


def hard(batch: TokenizedBatch) -> dict[str, np.ndarray]:
    """Every text: maths, the small model fails and the large one succeeds (the policy escalates)."""
    n = len(batch)
    cat = np.zeros((n, 4), np.float32)
    cat[:, 3] = 8.0
    succ = np.tile(np.array([[-2.0, 2.0]], np.float32), (n, 1))
    return {"category_logits": cat, "success_logits": succ, "embedding": np.ones((n, 8), np.float32)}


@pytest.fixture
def config(mock_config: dict) -> dict:
    mock_config["models"] = [
        endpoint("small", "slm", local=True),
        endpoint("large", "llm"),
        endpoint("large-b", "llm"),
    ]
    mock_config["fallback"] = ["large-b", "small"]
    mock_config["policy"] = {"gain_threshold": 0.1, "privacy": {"pii_action": "local_only"}}
    return mock_config


@pytest.fixture
def router(mock_folder: Path, config: dict) -> SemanticRouter:
    return SemanticRouter(config, backend=MockBackend(ModelFolder.load(mock_folder).manifest, hard))


def rules(d: Any) -> list[str]:
    return [t.rule for t in d.trace]


def test_no_restriction_leaves_the_decision_alone(router: SemanticRouter) -> None:
    d = router.route("solve it")
    assert d.model == "large" and d.allowed_models is None and "eligibility.allowed" not in rules(d)


def test_an_allowed_choice_is_kept_and_traced(router: SemanticRouter) -> None:
    d = router.route("solve it", allowed_models={"large", "small", "not-configured"})
    assert d.model == "large"
    # only configured names are kept, cheapest tier first
    assert d.allowed_models == ["small", "large"]
    assert "eligibility.allowed" in rules(d)


def test_a_disallowed_choice_gives_way_to_the_nearest_allowed_model(router: SemanticRouter) -> None:
    d = router.route("solve it", allowed_models=["small"])
    assert (d.model, d.tier) == ("small", "slm")
    step = next(t for t in d.trace if t.rule == "eligibility.allowed")
    assert "large is not allowed" in step.detail and "small" in step.detail
    # another model of the same tier is nearer than a cheaper tier
    assert router.route("solve it", allowed_models=["small", "large-b"]).model == "large-b"


def test_nothing_allowed_is_a_clear_error(router: SemanticRouter) -> None:
    with pytest.raises(NoEligibleModelError, match="restricted to none"):
        router.route("solve it", allowed_models=[])
    with pytest.raises(NoEligibleModelError, match="restricted to ghost"):
        router.route("solve it", allowed_models={"ghost"})


def test_privacy_and_eligibility_combine(router: SemanticRouter) -> None:
    # personal data: only local models; "small" is the only local one
    assert router.route("x", pii=True, allowed_models={"small", "large"}).model == "small"
    with pytest.raises(NoEligibleModelError, match="none of the models it may use is local"):
        router.route("x", pii=True, allowed_models={"large", "large-b"})


def test_batch_and_async_take_the_restriction(router: SemanticRouter) -> None:
    assert [d.model for d in router.route_batch(["a", "b"], allowed_models={"small"})] == ["small", "small"]
    assert asyncio.run(router.aroute("a", allowed_models={"small"})).model == "small"
    assert [d.model for d in asyncio.run(router.aroute_batch(["a"], allowed_models={"large-b"}))] == ["large-b"]


@pytest.mark.parametrize("bad", ["small", b"small", 3, [1]])
def test_allowed_models_must_be_a_collection_of_names(router: SemanticRouter, bad: Any) -> None:
    with pytest.raises(InputError, match="allowed_models"):
        router.route("a", allowed_models=bad)


def test_fallbacks_and_pins_stay_among_the_allowed_models(router: SemanticRouter, config: dict) -> None:
    from sirp.config.schema import RouterConfig

    dispatcher = Dispatcher(RouterConfig.model_validate(config))
    d = router.route("solve it", allowed_models={"large", "small"})
    _, chain = dispatcher.plan(d, dispatcher.request("solve it", {}, stream=False))
    assert [m.name for m in chain] == ["large", "small"]  # large-b, a configured fallback, is skipped
    d2, _ = dispatcher.plan(d, dispatcher.request("solve it", {}, stream=False))
    assert "fallbacks limited to allowed models (large-b skipped)" in " ".join(t.detail for t in d2.trace)
    with pytest.raises(NoEligibleModelError, match="pins large-b, which this request may not use"):
        dispatcher.plan(d, dispatcher.request("solve it", {"model": "large-b"}, stream=False))


def test_complete_passes_the_restriction_to_routing(router: SemanticRouter) -> None:
    # the endpoint on port 9 never answers; the decision is made, and fails, before any network call
    with pytest.raises(NoEligibleModelError):
        router.complete("solve it", allowed_models=set(), time_budget_s=0.01)
    with pytest.raises(InputError, match="allowed_models"):
        router.complete("solve it", allowed_models="small")
