"""The default policy: tier by predicted gain, reasoning by category/complexity/entropy."""

from __future__ import annotations

import pytest

from sirp.config.schema import PolicyConfig, ReasoningConfig, TierConfig
from sirp.errors import ConfigError
from sirp.policy.default import DefaultPolicy
from sirp.signals.classifier import ClassifierSignals

TIERS = [
    TierConfig(name="slm", model="s", reference_model="S"),
    TierConfig(name="srm", model="m", reference_model="M"),
    TierConfig(name="llm", model="l", reference_model="L"),
]


def sig(success: dict[str, float], category: str = "math", conf: float = 0.9) -> ClassifierSignals:
    others = ["law", "history", "biology"]
    scores = {category: conf, **{o: (1 - conf) / len(others) for o in others}}
    return ClassifierSignals(scores=scores, success=success, embedding=None, truncated=False)


def policy(**kw: object) -> DefaultPolicy:
    return DefaultPolicy(TIERS, PolicyConfig(**kw), ["S", "M", "L"])


def test_no_gain_stays_cheap() -> None:
    out = policy(gain_threshold=0.1).decide(sig({"S": 0.8, "M": 0.82, "L": 0.85}))
    assert out.tier == "slm" and out.model == "s"
    assert out.trace[0].rule == "tier.gain"


def test_gain_escalates_to_the_tier_that_earns_it() -> None:
    out = policy(gain_threshold=0.1).decide(sig({"S": 0.3, "M": 0.35, "L": 0.6}))
    assert out.tier == "llm"
    out = policy(gain_threshold=0.1).decide(sig({"S": 0.3, "M": 0.5, "L": 0.55}))
    assert out.tier == "srm"


def test_hard_for_everyone_does_not_escalate() -> None:
    # Hardness alone is no reason to pay for the big model: nobody gets it right.
    out = policy(gain_threshold=0.1).decide(sig({"S": 0.05, "M": 0.06, "L": 0.08}))
    assert out.tier == "slm"
    assert out.complexity == pytest.approx(0.95)


def test_reasoning_on_for_reasoning_category_when_complex() -> None:
    out = policy().decide(sig({"S": 0.4, "M": 0.5, "L": 0.6}, category="math"))
    assert out.reasoning and out.reasoning_effort == "medium"
    assert any(t.rule == "reasoning.category" for t in out.trace)


def test_reasoning_off_for_easy_or_other_category() -> None:
    assert not policy().decide(sig({"S": 0.9, "M": 0.9, "L": 0.9}, category="math")).reasoning
    out = policy().decide(sig({"S": 0.5, "M": 0.5, "L": 0.5}, category="history"))
    assert not out.reasoning and out.reasoning_effort is None


def test_very_hard_reasons_in_any_category() -> None:
    out = policy().decide(sig({"S": 0.1, "M": 0.1, "L": 0.1}, category="history"))
    assert out.reasoning and out.reasoning_effort == "high"


def test_flat_distribution_takes_the_safe_choice() -> None:
    flat = ClassifierSignals(
        scores={"math": 0.26, "law": 0.25, "history": 0.25, "biology": 0.24},
        success={"S": 0.9, "M": 0.9, "L": 0.9},
        embedding=None,
        truncated=False,
    )
    out = DefaultPolicy(TIERS, PolicyConfig(reasoning=ReasoningConfig(when_uncertain=True)), ["S", "M", "L"]).decide(
        flat
    )
    assert out.reasoning
    assert any(t.rule == "reasoning.uncertain" for t in out.trace)


def test_unknown_reference_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"tiers\.2\.reference_model: 'L' is not a reference model"):
        DefaultPolicy(TIERS, PolicyConfig(), ["S", "M"])
