"""Fixtures for langchain-sirp's tests: a scripted classifier, recording tier chat models, the fake OpenAI server.

No network, no model download: the classifier is either sirp's ``MockBackend`` driven by a
script (category and predicted success chosen by the test) or the bundled model; tier chat
models are in-memory recorders, or ``ChatOpenAI`` against ``sirp.testing.fake_openai`` on
loopback.
"""

from __future__ import annotations

import gc
import inspect
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import Field

from sirp import SemanticRouter
from sirp.testing.fake_openai import FakeOpenAI
from sirp.testing.scripted import LARGE_REF, SMALL_REF, Script, scripted_router


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(collector: Any, name: str, obj: object) -> Generator[None, Any, None]:
    """Run ``async def`` tests (langchain-tests' standard ones are unmarked) with pytest-asyncio.

    The root suite runs pytest-asyncio in strict mode; LangChain's packages use auto mode. Marking
    here, as the items are made (before pytest-asyncio looks), keeps strict mode everywhere else.
    One event loop serves them all: langchain-openai caches its async HTTP client per base URL
    for the whole process, and a pooled connection cannot move to the next test's loop.
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


@pytest.fixture
def make_router(script: Script) -> Callable[..., SemanticRouter]:
    """``make_router(config)``: a router with the bundled tokenizer and labels whose backend follows ``script``."""

    def make(config: dict[str, Any] | None = None) -> SemanticRouter:
        return scripted_router(script, config or two_tier())

    return make


def two_tier(base_url: str | None = None, *, small: str = "qwen3", large: str = "openai", **extra: Any) -> dict:
    """A two-tier config (small, large); with ``base_url``, both are endpoints there of the given families."""
    cfg: dict[str, Any] = {
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": SMALL_REF},
            {"name": "llm", "model": "large", "reference_model": LARGE_REF},
        ],
    }
    if base_url is not None:
        cfg["models"] = [
            {"name": "small", "tier": "slm", "base_url": base_url, "family": small, "timeout_s": 10, "max_retries": 0},
            {"name": "large", "tier": "llm", "base_url": base_url, "family": large, "timeout_s": 10, "max_retries": 0},
        ]
    cfg.update(extra)
    return cfg


@pytest.fixture
def config_for() -> Callable[..., dict]:
    """``config_for(base_url=None, small=family, large=family, **sections)``: see :func:`two_tier`."""
    return two_tier


# -- tier chat models ---------------------------------------------------------------------------


class RecordingChatModel(BaseChatModel):
    """A tier chat model that answers ``"<name> says: <last message>"`` and records every call."""

    label: str = "recorder"
    calls: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _answer(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        tools = kwargs.get("tools") or []
        if tools and kwargs.get("tool_choice"):
            fn = tools[0]["function"]
            return AIMessage(content="", tool_calls=[{"name": fn["name"], "args": {}, "id": "call_1"}])
        return AIMessage(
            content=f"{self.label} says: {messages[-1].content}",
            response_metadata={"model_name": self.label},
            usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        )

    def _record(self, kind: str, messages: list[BaseMessage], stop: Any, run_manager: Any, kwargs: dict) -> None:
        self.calls.append(
            {"kind": kind, "messages": messages, "stop": stop, "run_manager": run_manager, "kwargs": kwargs}
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self._record("generate", messages, stop, run_manager, kwargs)
        return ChatResult(generations=[ChatGeneration(message=self._answer(messages, kwargs))], llm_output={"own": 1})

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        self._record("stream", messages, stop, run_manager, kwargs)
        text = str(self._answer(messages, kwargs).content)
        for word in text.split(" "):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
            if run_manager:
                run_manager.on_llm_new_token(word + " ", chunk=chunk)
            yield chunk

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> Runnable:
        self.calls.append({"kind": "bind_tools", "tools": tools, "tool_choice": tool_choice, "kwargs": kwargs})
        return self.bind(
            tools=[{"type": "function", "function": t["function"]} for t in tools], tool_choice=tool_choice
        )


class RecordingOpenAIStyle(RecordingChatModel):
    """Like :class:`RecordingChatModel`, with ``extra_body`` as OpenAI-compatible clients have it."""

    extra_body: dict[str, Any] | None = None


@pytest.fixture
def recording() -> type[RecordingChatModel]:
    return RecordingChatModel


@pytest.fixture
def recording_openai() -> type[RecordingOpenAIStyle]:
    return RecordingOpenAIStyle


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
