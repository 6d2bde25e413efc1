"""Model endpoints, fallback order, reasoning budgets and dispatch settings: validated at load."""

from __future__ import annotations

import json

import pytest

from sirp import RouterConfig
from sirp.config import ModelConfig
from sirp.errors import ConfigError


def models_config(**overrides: object) -> dict:
    cfg: dict = {
        "tiers": [
            {"name": "slm", "model": "qwen3-8b", "reference_model": "a", "reasoning_budget_tokens": 1024},
            {"name": "llm", "model": "gpt-5", "reference_model": "b"},
        ],
        "models": [
            {
                "name": "qwen3-8b",
                "tier": "slm",
                "base_url": "http://localhost:8000/v1",
                "family": "qwen3",
                "local": True,
            },
            {
                "name": "gpt-5",
                "tier": "llm",
                "base_url": "https://api.openai.com/v1/",
                "api_key_env": "OPENAI_API_KEY",
                "family": "openai",
                "price_input_per_m": 1.25,
                "price_output_per_m": 10,
                "context_length": 400000,
                "timeout_s": 30,
                "max_retries": 3,
            },
        ],
        "fallback": ["gpt-5"],
    }
    cfg.update(overrides)
    return cfg


def test_a_full_config_loads() -> None:
    c = RouterConfig.from_dict(models_config())
    small, big = c.models
    assert (small.family, small.local, small.api_key_env, small.max_retries) == ("qwen3", True, None, 2)
    assert big.base_url == "https://api.openai.com/v1"  # trailing slash dropped
    assert big.cost_per_token == pytest.approx((1.25e-6, 10e-6))
    assert c.endpoint("gpt-5") is big and c.endpoint("nope") is None
    assert c.tiers[0].reasoning_budget_tokens == 1024 and c.tiers[1].reasoning_budget_tokens is None
    assert c.fallback == ["gpt-5"]
    assert c.dispatch.time_budget_s == 120


def test_defaults_need_no_models() -> None:
    c = RouterConfig()
    assert c.models == [] and c.fallback == []


def test_tier_model_must_be_configured_with_field_path() -> None:
    cfg = models_config()
    cfg["tiers"][1]["model"] = "gpt-6"
    with pytest.raises(ConfigError, match=r"tiers\.1\.model: 'gpt-6' is not a configured model \(models: qwen3-8b"):
        RouterConfig.from_dict(cfg)


def test_tier_must_agree_with_the_models_tier() -> None:
    cfg = models_config()
    cfg["models"][1]["tier"] = "lrm"
    with pytest.raises(ConfigError, match=r"tiers\.1\.model: 'gpt-5' is configured with tier 'lrm'"):
        RouterConfig.from_dict(cfg)


def test_fallback_names_configured_models() -> None:
    with pytest.raises(ConfigError, match=r"fallback\.1: 'claude' is not a configured model"):
        RouterConfig.from_dict(models_config(fallback=["gpt-5", "claude"]))
    with pytest.raises(ConfigError, match=r"fallback\.1: 'gpt-5' is listed twice"):
        RouterConfig.from_dict(models_config(fallback=["gpt-5", "gpt-5"]))
    with pytest.raises(ConfigError, match=r"fallback: names models, but no models are configured"):
        RouterConfig.from_dict({"fallback": ["x"]})


def test_model_names_are_unique() -> None:
    cfg = models_config()
    cfg["models"].append(dict(cfg["models"][0]))
    with pytest.raises(ConfigError, match=r"models\.2\.name: 'qwen3-8b' is configured twice"):
        RouterConfig.from_dict(cfg)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tier", "xl", r"models\.0\.tier: Input should be 'slm', 'srm', 'llm' or 'lrm'"),
        ("family", "claude", r"models\.0\.family: Input should be 'qwen3', 'deepseek'"),
        ("base_url", "localhost:8000", r"models\.0\.base_url: Value error, base_url must start with http://"),
        ("price_input_per_m", -1, r"models\.0\.price_input_per_m: Input should be greater than or equal to 0"),
        ("timeout_s", 0, r"models\.0\.timeout_s: Input should be greater than 0"),
        ("max_retries", -1, r"models\.0\.max_retries: Input should be greater than or equal to 0"),
        ("context_length", 0, r"models\.0\.context_length: Input should be greater than or equal to 1"),
        ("api_key", "x", r"models\.0\.api_key: Extra inputs are not permitted"),
    ],
)
def test_model_fields_are_checked(field: str, value: object, message: str) -> None:
    cfg = models_config()
    cfg["models"][0][field] = value
    with pytest.raises(ConfigError, match=message):
        RouterConfig.from_dict(cfg)


def test_a_key_pasted_into_api_key_env_is_refused_and_not_echoed() -> None:
    cfg = models_config()
    cfg["models"][1]["api_key_env"] = "sk-proj-SECRET123"
    with pytest.raises(ConfigError, match=r"models\.1\.api_key_env: api_key_env must be the NAME") as info:
        RouterConfig.from_dict(cfg)
    assert "SECRET123" not in str(info.value)


def test_reasoning_budget_and_dispatch_are_checked() -> None:
    cfg = models_config()
    cfg["tiers"][0]["reasoning_budget_tokens"] = 0
    with pytest.raises(ConfigError, match=r"tiers\.0\.reasoning_budget_tokens: Input should be greater than or equal"):
        RouterConfig.from_dict(cfg)
    with pytest.raises(ConfigError, match=r"dispatch\.time_budget_s: Input should be greater than 0"):
        RouterConfig.from_dict(models_config(dispatch={"time_budget_s": 0}))
    with pytest.raises(ConfigError, match=r"dispatch\.backoff_multiplier: Input should be greater than or equal to 1"):
        RouterConfig.from_dict(models_config(dispatch={"backoff_multiplier": 0.5}))


def test_model_config_alone() -> None:
    m = ModelConfig(name="m", tier="srm", base_url="http://h/v1")
    assert (m.family, m.price_input_per_m, m.local, m.timeout_s) == ("none", 0.0, False, 60.0)


def test_json_schema_describes_the_new_fields() -> None:
    schema = RouterConfig.model_json_schema()
    json.dumps(schema)
    props = schema["$defs"]["ModelConfig"]["properties"]
    assert {"name", "tier", "base_url", "api_key_env", "family", "price_input_per_m", "local"} <= set(props)
    assert "description" in props["family"]
    assert {"models", "fallback", "dispatch"} <= set(schema["properties"])
