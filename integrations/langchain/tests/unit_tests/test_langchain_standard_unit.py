"""langchain-tests' standard unit tests for ChatSemanticRouter (no network: nothing is called).

The tier models are ChatOpenAI clients built from a sirp config whose endpoints are never
reached; the bundled classifier is named in the config but not loaded (routing is lazy).
"""

from __future__ import annotations

from typing import Any

from langchain_sirp import ChatSemanticRouter
from langchain_tests.unit_tests import ChatModelUnitTests

UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: nothing is ever sent in these tests


class TestChatSemanticRouterUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatSemanticRouter]:
        return ChatSemanticRouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {
            "router_config": {
                "tiers": [
                    {"name": "slm", "model": "small", "reference_model": "Meta-Llama-3_1-8B-Instruct"},
                    {"name": "llm", "model": "large", "reference_model": "Meta-Llama-3_1-70B-Instruct"},
                ],
                "models": [
                    {"name": "small", "tier": "slm", "base_url": UNREACHABLE, "family": "qwen3"},
                    {"name": "large", "tier": "llm", "base_url": UNREACHABLE, "family": "openai"},
                ],
            }
        }

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "large"
