"""Caller overrides shared by every front door: a model pin and forced reasoning."""

from __future__ import annotations

import pytest

from sirp.errors import InputError
from sirp.policy.overrides import force_reasoning, pin_model
from tests.unit.providers.test_dispatch_policy import config, decision


def test_a_tier_pin_resolves_to_its_model_and_takes_its_budget() -> None:
    key, pinned = pin_model(config(), decision(category_config="math"), "slm", {"small", "large"})
    assert key == "small"
    assert (pinned.model, pinned.tier) == ("small", "slm")
    assert pinned.reasoning_budget_tokens == 3000  # the tier's 3000 is below the category's 5000
    assert pinned.trace[-1].rule == "pin.model" and "router chose large" in pinned.trace[-1].detail


def test_a_key_the_adapter_holds_is_used_as_is() -> None:
    key, pinned = pin_model(config(), decision(), "backup", ["backup", "small"])
    assert key == "backup" and (pinned.model, pinned.tier) == ("backup", "llm")


def test_an_unknown_pin_names_what_can_be_pinned() -> None:
    with pytest.raises(InputError, match=r"model='gpt-9'.*chat models \(small, large\)"):
        pin_model(config(), decision(), "gpt-9", ["small", "large"], what="chat models")
    # a tier whose model the adapter holds no client for cannot be pinned either
    with pytest.raises(InputError, match="model='llm'"):
        pin_model(config(), decision(), "llm", ["small"])


def test_forced_reasoning_effort_comes_from_decision_then_category_then_medium() -> None:
    on = force_reasoning(config(), decision(reasoning=False, reasoning_effort=None, category_config="law"), True)
    assert on.reasoning and on.reasoning_effort == "low"
    on = force_reasoning(config(), decision(reasoning=False, reasoning_effort=None), True)
    assert on.reasoning_effort == "medium"
    kept = force_reasoning(config(), decision(reasoning_effort="high", category_config="law"), True)
    assert kept.reasoning_effort == "high"
    off = force_reasoning(config(), decision(), False)
    assert not off.reasoning and off.reasoning_effort is None
    assert off.trace[-1].rule == "reasoning.forced" and "policy said on" in off.trace[-1].detail
