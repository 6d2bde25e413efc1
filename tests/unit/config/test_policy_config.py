"""Policy config: categories, tier rule and cut-points, privacy, tools — checked at load, errors at their path."""

from __future__ import annotations

from typing import Any

import pytest

from sirp import RouterConfig
from sirp.config import CategoryConfig, PolicyConfig
from sirp.errors import ConfigError

TIERS = [
    {"name": "slm", "model": "small", "reference_model": "a"},
    {"name": "srm", "model": "mid", "reference_model": "b"},
    {"name": "llm", "model": "large", "reference_model": "c"},
]


def endpoint(name: str, tier: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": "http://localhost:8000/v1", **kw}


def cfg(**overrides: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"tiers": TIERS}
    c.update(overrides)
    return c


def test_defaults_keep_the_gain_rule_and_everything_off() -> None:
    p = RouterConfig().policy
    assert p.tier_rule == "gain" and p.complexity_cutpoints == {}
    assert p.privacy.pii_action == "allow"
    assert (p.tools.enabled, p.tools.top_k) == (False, 8)
    assert p.min_category_confidence == 0.0
    assert RouterConfig().categories == []


def test_a_full_category_loads() -> None:
    c = RouterConfig.from_dict(
        cfg(
            categories=[
                {
                    "name": "math",
                    "description": "maths questions",
                    "model_scores": {"large": 0.9, "mid": 0.4},
                    "use_reasoning": True,
                    "reasoning_effort": "high",
                    "reasoning_budget_tokens": 4096,
                    "system_prompt": "You are a careful mathematician.",
                }
            ]
        )
    )
    math = c.category("math")
    assert isinstance(math, CategoryConfig)
    assert math.model_scores == {"large": 0.9, "mid": 0.4} and math.use_reasoning is True
    assert c.category("law") is None and c.category(None) is None


@pytest.mark.parametrize(
    ("categories", "match"),
    [
        ([{"name": "math"}, {"name": "law"}, {"name": "math"}], r"categories\.2\.name: 'math' is configured twice"),
        (
            [{"name": "math", "model_scores": {"nope": 0.5}}],
            r"categories\.0\.model_scores\.nope: 'nope' is not a configured model .*small, mid, large",
        ),
        (
            [{"name": "math", "model_scores": {"small": 1.5}}],
            r"categories\.0\.model_scores\.small: Input should be less",
        ),
        ([{"name": "math", "override_tier": True}], r"categories\.0\.override_tier: needs model_scores"),
        ([{"name": "math", "reasoning_effort": "max"}], r"categories\.0\.reasoning_effort: Input should be 'low'"),
        ([{"name": "math", "reasoning_budget_tokens": 0}], r"categories\.0\.reasoning_budget_tokens: Input should be"),
        ([{"name": "math", "use_reasoning": "sometimes"}], r"categories\.0\.use_reasoning: Input should be a valid"),
        ([{"name": "math", "colour": "red"}], r"categories\.0\.colour: Extra inputs are not permitted"),
        ([{"name": ""}], r"categories\.0\.name: String should have at least 1"),
    ],
)
def test_bad_categories_name_their_field(categories: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RouterConfig.from_dict(cfg(categories=categories))


def test_category_models_are_checked_against_models_when_there_are_endpoints() -> None:
    models = [endpoint("small", "slm"), endpoint("mid", "srm"), endpoint("large", "llm"), endpoint("spare", "llm")]
    c = RouterConfig.from_dict(cfg(models=models, categories=[{"name": "math", "model_scores": {"spare": 1.0}}]))
    assert c.categories[0].model_scores == {"spare": 1.0}
    with pytest.raises(ConfigError, match=r"categories\.0\.model_scores\.other: 'other' is not a configured model"):
        RouterConfig.from_dict(cfg(models=models, categories=[{"name": "math", "model_scores": {"other": 1.0}}]))


def test_complexity_rule_loads() -> None:
    c = RouterConfig.from_dict(
        cfg(policy={"tier_rule": "complexity", "complexity_cutpoints": {"srm": 0.4, "llm": 0.7}})
    )
    assert c.policy.complexity_cutpoints == {"srm": 0.4, "llm": 0.7}


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        (
            {"tier_rule": "complexity"},
            r"policy\.complexity_cutpoints: tier_rule complexity needs a cut-point .*srm, llm",
        ),
        (
            {"tier_rule": "complexity", "complexity_cutpoints": {"srm": 0.4}},
            r"policy\.complexity_cutpoints: .*missing: llm",
        ),
        ({"complexity_cutpoints": {"lrm": 0.9}}, r"policy\.complexity_cutpoints\.lrm: tier 'lrm' is not configured"),
        ({"complexity_cutpoints": {"slm": 0.1}}, r"policy\.complexity_cutpoints\.slm: slm is the cheapest tier"),
        ({"complexity_cutpoints": {"srm": 0.7, "llm": 0.5}}, r"policy\.complexity_cutpoints\.llm: 0\.5 is below srm"),
        ({"complexity_cutpoints": {"llm": 1.2}}, r"policy\.complexity_cutpoints\.llm: Input should be less"),
        ({"complexity_cutpoints": {"xlm": 0.2}}, r"policy\.complexity_cutpoints\.xlm\.\[key\]: Input should be 'slm'"),
        ({"tier_rule": "vibes"}, r"policy\.tier_rule: Input should be 'gain' or 'complexity'"),
        ({"min_category_confidence": 2}, r"policy\.min_category_confidence: Input should be less"),
        (
            {"privacy": {"pii_action": "redact"}},
            r"policy\.privacy\.pii_action: Input should be 'allow', 'mask' or 'local_only'",
        ),
        ({"tools": {"top_k": 0}}, r"policy\.tools\.top_k: Input should be greater than or equal to 1"),
        ({"tools": {"enable": True}}, r"policy\.tools\.enable: Extra inputs are not permitted"),
    ],
)
def test_bad_policy_names_its_field(policy: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RouterConfig.from_dict(cfg(policy=policy))


def test_local_only_needs_a_local_model_when_models_are_configured() -> None:
    models = [endpoint("small", "slm"), endpoint("mid", "srm"), endpoint("large", "llm")]
    with pytest.raises(
        ConfigError, match=r"policy\.privacy\.pii_action: local_only needs at least one model with local"
    ):
        RouterConfig.from_dict(cfg(models=models, policy={"privacy": {"pii_action": "local_only"}}))
    models[0]["local"] = True
    c = RouterConfig.from_dict(cfg(models=models, policy={"privacy": {"pii_action": "local_only"}}))
    assert c.policy.privacy.pii_action == "local_only"


def test_policy_config_is_importable_from_the_old_place() -> None:
    from sirp.config.schema import PolicyConfig as Old
    from sirp.config.schema import ReasoningConfig

    assert Old is PolicyConfig
    assert PolicyConfig(reasoning=ReasoningConfig(when_uncertain=False)).reasoning.when_uncertain is False


def test_schema_documents_the_new_fields() -> None:
    schema = RouterConfig.model_json_schema()
    defs = schema["$defs"]
    assert {"tier_rule", "complexity_cutpoints", "privacy", "tools", "min_category_confidence"} <= set(
        defs["PolicyConfig"]["properties"]
    )
    props = defs["CategoryConfig"]["properties"]
    assert all(p.get("description") for name, p in props.items()), props
