"""Fixtures for llama-index-llms-sirp's tests: a scripted classifier, recording tier LLMs, the fake OpenAI server.

No network, no model download: the classifier is either sirp's ``MockBackend`` driven by a
script (category and predicted success chosen by the test) or the bundled model; tier LLMs are
in-memory recorders, or OpenAI-compatible LLMs against ``sirp.testing.fake_openai`` on loopback.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import Field
from llama_index.core.llms import LLM

from sirp import SemanticRouter
from sirp.testing.fake_openai import FakeOpenAI
from sirp.testing.scripted import LARGE_REF, SMALL_REF, Script, scripted_router


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> Generator[None, Any, None]:
    """Run ``async def`` tests with pytest-asyncio without marking each (the root suite uses strict mode).

    One event loop serves them all, as for langchain-sirp's tests: HTTP clients that outlive a
    test must not meet a closed loop in the next one.
    """
    outcome = yield
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(getattr(item, "obj", None)):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"))


@pytest.fixture(autouse=True)
def _no_leaked_connections() -> Iterator[None]:
    """Collect garbage after each test: a connection left open warns here, in the test that left it.

    (Left to a later collection, the warning could land anywhere, even inside a traceback's
    ``ast.parse``, where CPython 3.11.7 reports it as an AST recursion-depth SystemError.)
    """
    yield
    gc.collect()


# -- the classifier ---------------------------------------------------------------------------


@pytest.fixture
def script() -> Script:
    return Script()


def two_tier(base_url: str | None = None, *, small: str = "qwen3", large: str = "openai", **extra: Any) -> dict:
    """A two-tier config (small, large); with ``base_url``, both are endpoints there of the given families."""
    cfg: dict[str, Any] = {
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": SMALL_REF},
            {"name": "llm", "model": "large", "reference_model": LARGE_REF},
        ],
    }
    if base_url is not None:
        common = {"base_url": base_url, "timeout_s": 10, "max_retries": 0}
        cfg["models"] = [
            {"name": "small", "tier": "slm", "family": small, "context_length": 32768, **common},
            {"name": "large", "tier": "llm", "family": large, "context_length": 131072, **common},
        ]
    cfg.update(extra)
    return cfg


@pytest.fixture
def config_for() -> Callable[..., dict]:
    """``config_for(base_url=None, small=family, large=family, **sections)``: see :func:`two_tier`."""
    return two_tier


@pytest.fixture
def make_router(script: Script) -> Callable[..., SemanticRouter]:
    """``make_router(config)``: a router with the bundled tokenizer and labels whose backend follows ``script``."""

    def make(config: dict[str, Any] | None = None) -> SemanticRouter:
        return scripted_router(script, config or two_tier())

    return make


# -- tier LLMs -----------------------------------------------------------------------------------


class RecordingLLM(LLM):
    """A tier LLM that answers ``"<label> says: <last message>"`` and records every call."""

    label: str = "recorder"
    window: int = 4096
    chat_model: bool = True
    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=self.window, num_output=256, is_chat_model=self.chat_model, model_name=self.label
        )

    def _say(self, text: str) -> str:
        return f"{self.label} says: {text}"

    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        self.calls.append({"kind": "chat", "messages": list(messages), "kwargs": kwargs})
        text = self._say(messages[-1].content or "")
        return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), raw={"by": self.label})

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.calls.append({"kind": "complete", "prompt": prompt, "formatted": formatted, "kwargs": kwargs})
        return CompletionResponse(text=self._say(prompt), raw={"by": self.label})

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        self.calls.append({"kind": "stream_chat", "messages": list(messages), "kwargs": kwargs})
        words = self._say(messages[-1].content or "").split(" ")

        def gen() -> ChatResponseGen:
            text = ""
            for w in words:
                text += w + " "
                yield ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=w + " ")

        return gen()

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        self.calls.append({"kind": "stream_complete", "prompt": prompt, "kwargs": kwargs})
        words = self._say(prompt).split(" ")

        def gen() -> CompletionResponseGen:
            text = ""
            for w in words:
                text += w + " "
                yield CompletionResponse(text=text, delta=w + " ")

        return gen()

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self.chat(messages, **kwargs)

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self.complete(prompt, formatted=formatted, **kwargs)

    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        sync = self.stream_chat(messages, **kwargs)

        async def gen() -> ChatResponseAsyncGen:
            for r in sync:
                yield r

        return gen()

    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        sync = self.stream_complete(prompt, formatted=formatted, **kwargs)

        async def gen() -> CompletionResponseAsyncGen:
            for r in sync:
                yield r

        return gen()


@pytest.fixture
def recording() -> type[RecordingLLM]:
    return RecordingLLM


# -- the fake OpenAI-compatible server ------------------------------------------------------------


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(call_tools=True) as server:
        yield server


@pytest.fixture(scope="session")
def bundled_router() -> Iterator[SemanticRouter]:
    """The bundled classifier with the default config (real decisions; about a second to load)."""
    with SemanticRouter() as router:
        yield router
