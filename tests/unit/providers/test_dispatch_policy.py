"""Dispatch applies the policy's per-request rules: privacy in the chain, category prompt and budget, tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from sirp.config.schema import RouterConfig
from sirp.decision import RoutingDecision
from sirp.errors import NoEligibleModelError
from sirp.providers.client import Dispatcher
from sirp.providers.tools import tool_name


def endpoint(name: str, tier: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": "http://127.0.0.1:9/v1", **kw}


def config(**overrides: Any) -> RouterConfig:
    cfg: dict[str, Any] = {
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": "a", "reasoning_budget_tokens": 3000},
            {"name": "llm", "model": "large", "reference_model": "b", "reasoning_budget_tokens": 20000},
        ],
        "models": [
            endpoint("small", "slm", local=True, family="anthropic"),
            endpoint("large", "llm", family="anthropic"),
            endpoint("backup", "llm", family="anthropic"),
            endpoint("local-backup", "slm", local=True, family="anthropic"),
        ],
        "fallback": ["backup", "local-backup"],
        "categories": [
            {"name": "math", "system_prompt": "Show your working.", "reasoning_budget_tokens": 5000},
            {"name": "law", "reasoning_effort": "low"},
        ],
    }
    cfg.update(overrides)
    return RouterConfig.from_dict(cfg)


def decision(model: str = "large", tier: str = "llm", **kw: Any) -> RoutingDecision:
    fields: dict[str, Any] = {
        "category": "math",
        "confidence": 0.9,
        "scores": {"math": 0.9, "law": 0.1},
        "success": {"slm": 0.3, "llm": 0.8},
        "complexity": 0.7,
        "tier": tier,
        "reasoning": True,
        "reasoning_effort": "high",
        "model": model,
        "truncated": False,
        "latency_ms": 1.0,
    }
    fields.update(kw)
    return RoutingDecision(**fields)


def test_local_only_decisions_fall_back_to_local_models_only() -> None:
    d = Dispatcher(config())
    req = d.request("my IBAN is DE89 3704 0044 0532 0130 00", {}, stream=False)
    _, chain = d.plan(decision("small", "slm"), req)
    assert [m.name for m in chain] == ["small", "backup", "local-backup"]
    planned, chain = d.plan(decision("small", "slm", local_only=True), req)
    assert [m.name for m in chain] == ["small", "local-backup"]
    step = planned.trace[-1]
    assert step.rule == "privacy.local_only" and "backup skipped" in step.detail


def test_local_only_refuses_a_pinned_remote_model() -> None:
    d = Dispatcher(config())
    for pin in ("large", "llm"):
        req = d.request("my IBAN is ...", {"model": pin}, stream=False)
        with pytest.raises(NoEligibleModelError, match="not local, but the request carries personal data"):
            d.plan(decision("small", "slm", local_only=True), req)
    planned, chain = d.plan(
        decision("small", "slm", local_only=True), d.request("x", {"model": "local-backup"}, stream=False)
    )
    assert [m.name for m in chain] == ["local-backup"] and planned.model == "local-backup"


def test_a_hand_made_remote_local_only_decision_with_no_local_chain_fails() -> None:
    d = Dispatcher(config(fallback=["backup"]))
    with pytest.raises(NoEligibleModelError, match="large is not local and no fallback is"):
        d.plan(decision("large", "llm", local_only=True), d.request("x", {}, stream=False))


def test_budget_is_per_model_tier_capped_by_the_category() -> None:
    d = Dispatcher(config())
    cfg = d.config
    small, large = cfg.endpoint("small"), cfg.endpoint("large")
    assert small is not None and large is not None
    plain = decision()
    assert d.budget(large, plain) == 20000 and d.budget(small, plain) == 3000
    math = decision(category_config="math")
    assert d.budget(large, math) == 5000 and d.budget(small, math) == 3000
    req = d.request("x", {}, stream=False)
    assert d.payload(large, math, req, stream=False)["thinking"] == {"type": "enabled", "budget_tokens": 5000}
    # a pin moves the decision's recorded budget to the pinned model's
    pinned, _ = d.plan(math, d.request("x", {"model": "small"}, stream=False))
    assert pinned.reasoning_budget_tokens == 3000


def test_forced_reasoning_takes_the_category_effort() -> None:
    d = Dispatcher(config())
    off = decision(reasoning=False, reasoning_effort=None, category="law", category_config="law")
    planned, _ = d.plan(off, d.request("x", {"reasoning": True}, stream=False))
    assert planned.reasoning and planned.reasoning_effort == "low"
    planned, _ = d.plan(
        decision(reasoning=False, reasoning_effort=None), d.request("x", {"reasoning": True}, stream=False)
    )
    assert planned.reasoning_effort == "medium"


def test_category_system_prompt_is_prepended_once() -> None:
    d = Dispatcher(config())
    req = d.request([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}], {}, stream=False)
    dec, req2 = d.prepare(decision(category_config="math"), req)
    assert req2.messages[0] == {"role": "system", "content": "Show your working.\n\nBe brief."}
    assert dec.trace[-1].rule == "category.system_prompt"
    dec, req3 = d.prepare(decision(category_config="math"), d.request("2+2?", {}, stream=False))
    assert req3.messages == [{"role": "system", "content": "Show your working."}, {"role": "user", "content": "2+2?"}]
    # no configured category (or one without a prompt): nothing changes
    same, req4 = d.prepare(decision(), req)
    assert req4 is req and same.trace == []
    same, req5 = d.prepare(decision(category="law", category_config="law"), req)
    assert req5 is req


def onehot_embed(texts: Sequence[str]) -> list[np.ndarray | None]:
    keys = ["weather", "email", "stock"]
    return [np.array([float(k in t.lower()) for k in keys] + [1e-3]) for t in texts]


TOOLS = [
    {"type": "function", "function": {"name": n, "description": d}}
    for n, d in [
        ("get_weather", "Weather forecast"),
        ("send_email", "Send an email"),
        ("get_stock", "Stock quote"),
        ("noop", "Does nothing"),
    ]
]


def test_tools_are_filtered_when_enabled() -> None:
    d = Dispatcher(config(policy={"tools": {"enabled": True, "top_k": 1}}), embed=onehot_embed)
    req = d.request("What is the weather tomorrow?", {"tools": TOOLS, "tool_choice": "auto"}, stream=False)
    dec, req2 = d.prepare(decision(), req)
    assert [tool_name(t) for t in req2.body["tools"]] == ["get_weather"]
    assert dec.trace[-1].rule == "tools.filter"
    body = d.payload(d.models["large"], dec, req2, stream=False)
    assert [t["function"]["name"] for t in body["tools"]] == ["get_weather"] and body["tool_choice"] == "auto"
    # off by default: every tool is sent
    plain = Dispatcher(config(), embed=onehot_embed)
    req = plain.request("What is the weather tomorrow?", {"tools": TOOLS}, stream=False)
    assert plain.prepare(decision(), req)[1].body["tools"] == TOOLS
