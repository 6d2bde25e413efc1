"""Helpers of the server tests (unit and integration): prompts, a config over a FakeOpenAI, the app on MockBackend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.server import create_app
from sirp.testing.fake_openai import FakeOpenAI

SHORT = "hi there"  # few tokens: the mock classifier keeps it on the small tier
LONG = " ".join(["explain the derivation of the integral step by step"] * 4)  # many tokens: the large tier


def endpoint(name: str, tier: str, server: FakeOpenAI, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": server.base_url, "timeout_s": 5, "max_retries": 1, **kw}


def make_config(folder: Path, upstream: FakeOpenAI, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "classifier": {"model": str(folder)},
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": "small-model"},
            {"name": "llm", "model": "large", "reference_model": "large-model"},
        ],
        # with the mock classifier a stronger tier gains 0.23 (short prompts) to 0.36 (long ones)
        "policy": {"gain_threshold": 0.3},
        "models": [
            endpoint(
                "small", "slm", upstream, family="qwen3", local=True, price_input_per_m=1.0, price_output_per_m=2.0
            ),
            endpoint("large", "llm", upstream, family="openai", modalities=["text", "image"], context_length=128000),
            endpoint("backup", "llm", upstream, family="none", tool_calling=False),
        ],
        "fallback": ["backup"],
        "dispatch": {"backoff_initial_s": 0.01, "backoff_max_s": 0.02, "time_budget_s": 10},
    }
    cfg.update(overrides)
    return cfg


def build_app(folder: Path, config: dict[str, Any], **kwargs: Any) -> Any:
    return create_app(config, backend=MockBackend(ModelFolder.load(folder).manifest), **kwargs)
