"""SemanticRouter with the policy's new rules: categories checked at build, pii, the decision's new fields."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sirp import ConfigError, InputError, SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.backends.tokenization import TokenizedBatch
from sirp.errors import NoEligibleModelError


def endpoint(name: str, tier: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": "http://127.0.0.1:9/v1", **kw}


def build(folder: Path, config: dict[str, Any], handler: Any = None) -> SemanticRouter:
    return SemanticRouter(config, backend=MockBackend(ModelFolder.load(folder).manifest, handler))


def math_hard(batch: TokenizedBatch) -> dict[str, np.ndarray]:
    """Every text: surely maths (index 3), the small model fails, the large one succeeds."""
    n = len(batch)
    cat = np.zeros((n, 4), np.float32)
    cat[:, 3] = 8.0
    succ = np.tile(np.array([[-2.0, 2.0]], np.float32), (n, 1))
    return {"category_logits": cat, "success_logits": succ, "embedding": np.ones((n, 8), np.float32)}


def test_unknown_category_fails_when_the_router_is_built(mock_folder: Path, mock_config: dict) -> None:
    mock_config["categories"] = [{"name": "math"}, {"name": "law"}, {"name": "history"}, {"name": "cooking"}]
    with pytest.raises(
        ConfigError, match=r"categories\.3\.name: 'cooking' is not a label .*biology, history, law, math"
    ):
        build(mock_folder, mock_config)


def test_default_decision_fields_are_unchanged_without_new_config(mock_router: SemanticRouter) -> None:
    d = mock_router.route("what is the integral of the matrix?")
    assert d.category_config is None and d.local_only is False
    assert d.reasoning_budget_tokens is None
    assert not any(t.rule.startswith(("category.", "privacy.")) for t in d.trace)


def test_category_rules_reach_the_decision(mock_folder: Path, mock_config: dict) -> None:
    mock_config["categories"] = [
        {"name": "math", "use_reasoning": False, "reasoning_budget_tokens": 500, "model_scores": {"small": 1.0}},
    ]
    mock_config["policy"] = {"gain_threshold": 0.1}
    d = build(mock_folder, mock_config, math_hard).route("solve it")
    # the tier rule escalates to llm; math scores only "small", which is not an llm model
    assert (d.category, d.tier, d.model) == ("math", "llm", "large")
    assert d.category_config == "math" and not d.reasoning and d.reasoning_budget_tokens == 500
    mock_config["categories"][0]["override_tier"] = True
    d = build(mock_folder, mock_config, math_hard).route("solve it")
    assert (d.tier, d.model) == ("slm", "small") and "category.override" in [t.rule for t in d.trace]


def private_config(mock_config: dict) -> dict:
    mock_config["models"] = [endpoint("small", "slm", local=True), endpoint("large", "llm")]
    mock_config["policy"] = {"gain_threshold": 0.1, "privacy": {"pii_action": "local_only"}}
    return mock_config


def test_pii_keeps_the_request_local(mock_folder: Path, mock_config: dict) -> None:
    r = build(mock_folder, private_config(mock_config), math_hard)
    assert r.route("my card is 4111 1111 1111 1111").model == "large"
    d = r.route("my card is 4111 1111 1111 1111", pii=True)
    assert d.model == "small" and d.local_only and "privacy.local_only" in [t.rule for t in d.trace]
    many = r.route_batch(["a", "b", "c"], pii=[True, False, None])
    assert [x.model for x in many] == ["small", "large", "large"]
    assert [x.model for x in r.route_batch(["a", "b"], pii=True)] == ["small", "small"]
    assert asyncio.run(r.aroute("a", pii=True)).model == "small"
    assert [x.model for x in asyncio.run(r.aroute_batch(["a"], pii=[True]))] == ["small"]
    with pytest.raises(InputError, match="pii has 1 flags for 2 prompts"):
        r.route_batch(["a", "b"], pii=[True])


def test_pii_without_a_local_model_fails_clearly(mock_folder: Path, mock_config: dict) -> None:
    mock_config["policy"] = {"privacy": {"pii_action": "local_only"}}  # no models: none known to be local
    r = build(mock_folder, mock_config)
    assert r.route("fine").model in {"small", "large"}
    with pytest.raises(NoEligibleModelError, match="pii_action is local_only, but no model is local"):
        r.route("my name is Jane Doe", pii=True)


def test_embed_gives_the_classifier_embeddings(mock_router: SemanticRouter) -> None:
    vecs = mock_router.embed(["cell", "court", "war"])
    assert len(vecs) == 3 and all(v is not None and v.shape == (8,) for v in vecs)
