"""Every rule of the default policy beyond the gain rule: complexity cut-points, categories, privacy, budget."""

from __future__ import annotations

from typing import Any

import pytest

from sirp.config.schema import CategoryConfig, ModelConfig, PolicyConfig, TierConfig
from sirp.errors import ConfigError, NoEligibleModelError
from sirp.policy.default import DefaultPolicy, reasoning_budget
from sirp.signals.classifier import ClassifierSignals

TIERS = [
    TierConfig(name="slm", model="s", reference_model="S", reasoning_budget_tokens=2048),
    TierConfig(name="srm", model="m", reference_model="M"),
    TierConfig(name="llm", model="l", reference_model="L", reasoning_budget_tokens=8192),
]
LABELS = ["math", "law", "history", "biology"]


def sig(
    success: dict[str, float], category: str = "math", conf: float = 0.9, pii: bool | None = None
) -> ClassifierSignals:
    others = [c for c in LABELS if c != category]
    scores = {category: conf, **{o: (1 - conf) / len(others) for o in others}}
    return ClassifierSignals(scores=scores, success=success, embedding=None, truncated=False, pii_detected=pii)


FLAT = ClassifierSignals(
    scores={"math": 0.26, "law": 0.25, "history": 0.25, "biology": 0.24},
    success={"S": 0.6, "M": 0.6, "L": 0.6},
    embedding=None,
    truncated=False,
)


def model(name: str, tier: str, local: bool = False) -> ModelConfig:
    return ModelConfig(name=name, tier=tier, base_url="http://h/v1", local=local)  # type: ignore[arg-type]


def policy(
    categories: list[dict[str, Any]] = (),  # type: ignore[assignment]
    models: list[ModelConfig] = (),  # type: ignore[assignment]
    **kw: Any,
) -> DefaultPolicy:
    return DefaultPolicy(
        TIERS,
        PolicyConfig(**kw),
        ["S", "M", "L"],
        categories=[CategoryConfig(**c) for c in categories],
        labels=LABELS,
        models=models,
    )


def rules(out: Any) -> list[str]:
    return [t.rule for t in out.trace]


# -- tier by complexity ------------------------------------------------------------------------

CUTS = {"srm": 0.4, "llm": 0.7}


@pytest.mark.parametrize(("small_success", "tier"), [(0.9, "slm"), (0.6, "srm"), (0.4, "srm"), (0.3, "llm")])
def test_complexity_cutpoints_pick_the_tier(small_success: float, tier: str) -> None:
    out = policy(tier_rule="complexity", complexity_cutpoints=CUTS).decide(
        sig({"S": small_success, "M": 0.5, "L": 0.5})
    )
    assert out.tier == tier and out.model == {"slm": "s", "srm": "m", "llm": "l"}[tier]
    assert out.trace[0].rule == "tier.complexity"
    assert f"complexity {1 - small_success:.3f}" in out.trace[0].detail


def test_the_gain_rule_stays_the_default_even_with_cutpoints() -> None:
    # hard for everyone: complexity would escalate, gain does not
    out = policy(complexity_cutpoints=CUTS).decide(sig({"S": 0.05, "M": 0.06, "L": 0.07}))
    assert out.tier == "slm" and out.trace[0].rule == "tier.gain"


# -- categories --------------------------------------------------------------------------------


def test_category_names_must_be_classifier_labels() -> None:
    with pytest.raises(ConfigError, match=r"categories\.1\.name: 'cooking' is not a label .*math, law"):
        policy(categories=[{"name": "math"}, {"name": "cooking"}])
    # without labels (no classifier at hand) nothing is checked
    DefaultPolicy(TIERS, PolicyConfig(), ["S", "M", "L"], categories=[CategoryConfig(name="cooking")])


def test_model_scores_choose_among_the_models_of_the_chosen_tier() -> None:
    models = [model("s", "slm"), model("s2", "slm"), model("m", "srm"), model("l", "llm")]
    cats = [{"name": "math", "model_scores": {"s2": 0.9, "s": 0.5, "l": 1.0}}]
    out = policy(cats, models, gain_threshold=0.5).decide(sig({"S": 0.5, "M": 0.5, "L": 0.5}))
    # the tier rule says slm; among slm's models s2 scores best (l scores higher but is another tier)
    assert (out.tier, out.model) == ("slm", "s2")
    assert "category.model_scores" in rules(out)
    assert out.category_config == "math"


def test_model_scores_for_no_model_of_the_tier_leave_the_tier_model() -> None:
    models = [model("s", "slm"), model("m", "srm"), model("l", "llm")]
    out = policy([{"name": "math", "model_scores": {"l": 1.0}}], models, gain_threshold=0.5).decide(
        sig({"S": 0.5, "M": 0.5, "L": 0.5})
    )
    assert out.model == "s" and "category.model_scores" not in rules(out)


def test_override_tier_takes_the_best_scored_model_anywhere() -> None:
    cats = [{"name": "law", "model_scores": {"m": 0.8, "l": 0.3}, "override_tier": True}]
    out = policy(cats, gain_threshold=0.5).decide(sig({"S": 0.5, "M": 0.5, "L": 0.5}, category="law"))
    assert (out.tier, out.model) == ("srm", "m")
    assert "category.override" in rules(out)
    # other categories are untouched
    assert policy(cats, gain_threshold=0.5).decide(sig({"S": 0.5, "M": 0.5, "L": 0.5})).model == "s"


def test_uncertain_category_does_not_apply_its_rules() -> None:
    cats = [{"name": "math", "model_scores": {"m": 1.0}, "override_tier": True, "use_reasoning": False}]
    out = policy(cats, min_category_confidence=0.95).decide(sig({"S": 0.1, "M": 0.1, "L": 0.1}, conf=0.9))
    assert out.model == "s" and out.category_config is None
    assert "category.uncertain" in rules(out) and "confidence 0.90 < 0.95" in out.trace[1].detail
    assert out.reasoning  # the default rules decide: very hard → reasons
    flat = policy([{"name": "math", "use_reasoning": False}]).decide(FLAT)
    assert flat.category_config is None and "category.uncertain" in rules(flat)
    assert flat.reasoning and "reasoning.uncertain" in rules(flat)


def test_category_use_reasoning_overrides_the_complexity_rules() -> None:
    hard = sig({"S": 0.1, "M": 0.1, "L": 0.1}, category="history")
    easy = sig({"S": 0.95, "M": 0.95, "L": 0.95}, category="history")
    assert policy().decide(hard).reasoning and not policy().decide(easy).reasoning
    off = policy([{"name": "history", "use_reasoning": False}]).decide(hard)
    on = policy([{"name": "history", "use_reasoning": True}]).decide(easy)
    assert not off.reasoning and off.reasoning_effort is None
    assert on.reasoning and on.reasoning_effort == "low"
    assert "reasoning.category_config" in rules(on) and "reasoning.category_config" in rules(off)
    # None leaves the policy's own rules in charge
    assert policy([{"name": "history"}]).decide(hard).reasoning


def test_category_effort_replaces_the_complexity_effort() -> None:
    out = policy([{"name": "math", "reasoning_effort": "high"}]).decide(sig({"S": 0.5, "M": 0.5, "L": 0.5}))
    assert out.reasoning and out.reasoning_effort == "high"
    assert "reasoning.effort" in rules(out)
    assert policy().decide(sig({"S": 0.5, "M": 0.5, "L": 0.5})).reasoning_effort == "medium"


# -- reasoning budget --------------------------------------------------------------------------


def test_budget_is_the_smaller_of_tier_and_category() -> None:
    assert reasoning_budget(TIERS[0], None) == 2048
    assert reasoning_budget(TIERS[1], None) is None
    assert reasoning_budget(TIERS[0], CategoryConfig(name="math", reasoning_budget_tokens=1024)) == 1024
    assert reasoning_budget(TIERS[2], CategoryConfig(name="math", reasoning_budget_tokens=16000)) == 8192
    assert reasoning_budget(TIERS[1], CategoryConfig(name="math", reasoning_budget_tokens=500)) == 500
    assert reasoning_budget(None, None) is None


def test_budget_is_in_the_outcome_and_the_trace() -> None:
    out = policy([{"name": "math", "reasoning_budget_tokens": 1000}]).decide(sig({"S": 0.5, "M": 0.5, "L": 0.5}))
    assert out.reasoning and out.reasoning_budget_tokens == 1000
    step = next(t for t in out.trace if t.rule == "reasoning.budget")
    assert "at most 1000" in step.detail and "tier slm 2048" in step.detail and "category math 1000" in step.detail
    plain = policy(gain_threshold=0.0).decide(sig({"S": 0.5, "M": 0.5, "L": 0.6}))
    assert plain.tier == "llm" and plain.reasoning_budget_tokens == 8192
    none = policy(tier_rule="complexity", complexity_cutpoints=CUTS).decide(sig({"S": 0.5, "M": 0.5, "L": 0.5}))
    assert none.tier == "srm" and none.reasoning_budget_tokens is None
    assert "family's default" in next(t for t in none.trace if t.rule == "reasoning.budget").detail


def test_no_budget_step_when_not_reasoning() -> None:
    out = policy().decide(sig({"S": 0.95, "M": 0.95, "L": 0.95}, category="law"))
    assert not out.reasoning and "reasoning.budget" not in rules(out)
    assert out.reasoning_budget_tokens == 2048  # still the chosen model's cap, should it be forced to reason


# -- privacy -----------------------------------------------------------------------------------

LOCAL = [model("s", "slm", local=True), model("m", "srm", local=True), model("l", "llm"), model("l2", "llm")]
HARD = {"S": 0.2, "M": 0.3, "L": 0.9}  # the gain rule sends this to llm


def test_pii_local_only_moves_to_the_nearest_local_model() -> None:
    p = policy(models=LOCAL, privacy={"pii_action": "local_only"})
    assert p.decide(sig(HARD)).model == "l"  # no PII: the tier rule stands
    out = p.decide(sig(HARD), pii=True)
    assert (out.tier, out.model, out.local_only) == ("srm", "m", True)
    step = next(t for t in out.trace if t.rule == "privacy.local_only")
    assert "l is not local" in step.detail and "m (tier srm)" in step.detail


def test_pii_can_come_from_the_signals() -> None:
    p = policy(models=LOCAL, privacy={"pii_action": "local_only"})
    assert p.decide(sig(HARD, pii=True)).model == "m"
    assert p.decide(sig(HARD, pii=True), pii=False).model == "l"  # the caller's word wins


def test_pii_with_a_local_choice_stays() -> None:
    out = policy(models=LOCAL, privacy={"pii_action": "local_only"}).decide(
        sig({"S": 0.9, "M": 0.9, "L": 0.9}), pii=True
    )
    assert out.model == "s" and out.local_only
    assert "s is local" in next(t for t in out.trace if t.rule == "privacy.local_only").detail


def test_pii_allow_is_traced_but_changes_nothing() -> None:
    out = policy(models=LOCAL).decide(sig(HARD), pii=True)
    assert out.model == "l" and not out.local_only and "privacy.allow" in rules(out)


def test_pii_local_only_prefers_the_stronger_tier_on_a_tie_and_the_category_score_within_it() -> None:
    models = [model("s", "slm", local=True), model("m", "srm"), model("l", "llm", local=True)]
    out = policy(models=models, privacy={"pii_action": "local_only"}, gain_threshold=0.5).decide(
        sig({"S": 0.2, "M": 0.9, "L": 0.9}), pii=True
    )
    # the gain rule picks srm (gain 0.7 ≥ 0.5); slm and llm are equally near: the stronger wins
    assert out.model == "l"
    models = [
        model("s", "slm"),
        model("m", "srm"),
        model("l", "llm"),
        model("l-a", "llm", True),
        model("l-b", "llm", True),
    ]
    out = policy(
        [{"name": "math", "model_scores": {"l-b": 0.9, "l-a": 0.1}}],
        models,
        privacy={"pii_action": "local_only"},
    ).decide(sig(HARD), pii=True)
    assert out.model == "l-b"


def test_pii_local_only_without_a_local_model_is_a_clear_error() -> None:
    # no endpoints at all: no model is known to be local
    p = policy(privacy={"pii_action": "local_only"})
    with pytest.raises(
        NoEligibleModelError, match=r"no model is local \(models: s, m, l\); mark a model .*local: true"
    ):
        p.decide(sig(HARD), pii=True)
    assert p.decide(sig(HARD)).model == "l"


def test_no_eligible_model_is_a_sirp_error() -> None:
    from sirp.errors import SirpError

    assert issubclass(NoEligibleModelError, SirpError)
