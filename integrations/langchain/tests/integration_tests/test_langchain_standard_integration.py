"""langchain-tests' standard integration tests for ChatSemanticRouter, over real HTTP on loopback.

The tiers are ``ChatOpenAI`` clients (built from the sirp config) of ``sirp.testing.fake_openai``,
which answers with echoes, deterministic tool calls and structured JSON; the classifier is the
bundled model, so the routing is real. Both tiers run on the fake server: small is a Qwen3
(``chat_template_kwargs``), large an OpenAI reasoning model (``reasoning_effort``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import pytest
from langchain_core.messages import AIMessage
from langchain_sirp import ChatSemanticRouter, routing_decision
from langchain_tests.integration_tests import ChatModelIntegrationTests

from sirp import SemanticRouter
from sirp.testing.fake_openai import REASONING_TOKENS, FakeOpenAI

_STATE: dict[str, Any] = {}


def _shared() -> tuple[FakeOpenAI, SemanticRouter]:
    """One server and one router for the whole module (the standard tests make a model per test)."""
    if "server" not in _STATE:
        server = FakeOpenAI(call_tools=True).start()
        config = {
            "tiers": [
                {"name": "slm", "model": "small", "reference_model": "Meta-Llama-3_1-8B-Instruct"},
                {"name": "llm", "model": "large", "reference_model": "Meta-Llama-3_1-70B-Instruct"},
            ],
            "models": [
                {"name": "small", "tier": "slm", "base_url": server.base_url, "family": "qwen3", "max_retries": 0},
                {"name": "large", "tier": "llm", "base_url": server.base_url, "family": "openai", "max_retries": 0},
            ],
        }
        _STATE.update(server=server, router=SemanticRouter(config))
    return _STATE["server"], _STATE["router"]


@pytest.fixture(scope="module", autouse=True)
def _serve() -> Iterator[None]:
    yield
    if "server" in _STATE:
        _STATE.pop("server").stop()
        _STATE.pop("router").close()


class TestChatSemanticRouterIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatSemanticRouter]:
        return ChatSemanticRouter

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"router": _shared()[1]}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_model_override(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        # The bundled classifier sends "Hello" to the small tier: pinning the large one is a real override.
        return "large"

    @property
    def supported_usage_metadata_details(
        self,
    ) -> dict[
        Literal["invoke", "stream"],
        list[
            Literal[
                "audio_input",
                "audio_output",
                "reasoning_output",
                "cache_read_input",
                "cache_creation_input",
            ]
        ],
    ]:
        return {"invoke": ["reasoning_output"], "stream": ["reasoning_output"]}

    def invoke_with_reasoning_output(self, *, stream: bool = False) -> AIMessage:
        model = self.chat_model_class(**self.chat_model_params)
        prompt = "Prove that the square root of 2 is irrational."
        if stream:
            full: Any = None
            for chunk in model.stream(prompt, reasoning=True):
                full = chunk if full is None else full + chunk
            message: AIMessage = full
        else:
            message = model.invoke(prompt, reasoning=True)
        assert routing_decision(message).reasoning  # type: ignore[union-attr]
        assert message.usage_metadata is not None
        assert message.usage_metadata["output_token_details"]["reasoning"] == REASONING_TOKENS  # type: ignore[typeddict-item]
        return message
