"""CachedDispatch: lookup before dispatch, store after a complete answer, bypass/refresh, streams, async.

The dispatcher here is a fake that counts calls, so every assertion is about what the cache did.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sirp.cache import SemanticCache
from sirp.cache.dispatch import CachedDispatch, pop_cache_mode
from sirp.cache.streams import chunks_of
from sirp.config.cache import CacheConfig
from sirp.decision import RoutingDecision
from sirp.errors import InputError, UpstreamError
from sirp.providers.result import RoutedCompletion
from sirp.providers.streams import AsyncRoutedStream, RoutedStream
from tests.unit.cache.helpers import FakeClock, bow, response

pytest.importorskip("openai", reason="completions are openai types")
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletion


def decision(category: str = "law", allowed: list[str] | None = None) -> RoutingDecision:
    return RoutingDecision(
        category=category,
        confidence=0.9,
        scores={category: 0.9},
        success={},
        complexity=0.2,
        tier="slm",
        reasoning=False,
        reasoning_effort=None,
        model="small",
        truncated=False,
        latency_ms=1.0,
        allowed_models=allowed,
    )


def route(messages: Any, category: str = "law", allowed: list[str] | None = None):
    from sirp.prompts import to_routing_text

    return decision(category, allowed), bow(to_routing_text(messages, window=0).text)


def result(d: RoutingDecision, content: str, model: str = "small") -> RoutedCompletion:
    return RoutedCompletion(
        completion=ChatCompletion.model_validate(response(content, model)),
        decision=d,
        model=model,
        usage=None,
        cost_usd=None,
        latency_ms=1.0,
    )


class FakeStream(RoutedStream):
    def __init__(self, d: RoutingDecision, text: str, complete: bool = True) -> None:
        self._d, self._text, self._complete = d, text, complete
        self._chunks = chunks_of(response(text))
        self._i = 0
        self._done = False

    @property
    def decision(self) -> RoutingDecision:
        return self._d

    @property
    def model(self) -> str:
        return "small"

    @property
    def attempts(self) -> list:
        return []

    @property
    def result(self) -> RoutedCompletion:
        if not self._done:
            raise InputError("not finished")
        return result(self._d, self._text)

    def __next__(self):
        if self._i < len(self._chunks):
            self._i += 1
            return self._chunks[self._i - 1]
        if not self._complete:
            raise UpstreamError("ended without a finish_reason", model="small", kind="stream_broken")
        self._done = True
        raise StopIteration

    def close(self) -> None:
        pass


class FakeAsyncStream(AsyncRoutedStream):
    def __init__(self, d: RoutingDecision, text: str, complete: bool = True) -> None:
        self._sync = FakeStream(d, text, complete)

    @property
    def result(self) -> RoutedCompletion:
        return self._sync.result

    async def __anext__(self):
        try:
            return next(self._sync)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        pass


class FakeDispatcher:
    """Answers with an echo; counts calls; streams end incomplete when told."""

    def __init__(self) -> None:
        self.calls = 0
        self.complete_streams = True

    def _answer(self, messages: Any, route: Any) -> tuple[RoutingDecision, str]:
        self.calls += 1
        d = route(messages)
        text = messages if isinstance(messages, str) else messages[-1]["content"]
        return d, f"answer {self.calls} to {text}"

    def complete(self, messages, params, route):
        d, text = self._answer(messages, route)
        return result(d, text)

    async def acomplete(self, messages, params, aroute):
        self.calls += 1
        d = await aroute(messages)
        return result(d, f"answer {self.calls}")

    def stream(self, messages, params, route):
        d, text = self._answer(messages, route)
        return FakeStream(d, text, self.complete_streams)

    async def astream(self, messages, params, aroute):
        self.calls += 1
        d = await aroute(messages)
        return FakeAsyncStream(d, f"answer {self.calls}", self.complete_streams)


@pytest.fixture
def setup():
    fake = FakeDispatcher()
    clock = FakeClock()
    cache = SemanticCache(CacheConfig(enabled=True, threshold=0.9), clock=clock)
    return CachedDispatch(cache, lambda: fake), fake, clock


def test_second_reworded_call_is_a_hit_without_a_model_call(setup) -> None:
    cd, fake, clock = setup
    first = cd.complete("What is the capital of France?", {}, route)
    clock.advance(12)
    second = cd.complete("what is the capital of FRANCE", {}, route)
    assert (first.cache, second.cache, fake.calls) == ("miss", "hit", 1)
    assert second.content == first.content and second.model == "small"
    assert second.attempts == [] and second.usage is None and second.cost_usd == 0.0
    step = second.decision.trace[-1]
    assert step.rule == "cache.hit" and "cached 12 s ago" in step.detail and "similarity 1.000" in step.detail


def test_other_parameters_miss(setup) -> None:
    cd, fake, _ = setup
    cd.complete("Tell me a joke", {"temperature": 0}, route)
    assert cd.complete("Tell me a joke", {"temperature": 1}, route).cache == "miss"
    assert fake.calls == 2


def test_bypass_neither_looks_up_nor_stores(setup) -> None:
    cd, fake, _ = setup
    assert cd.complete("q one", {}, route, "bypass").cache == "bypass"
    assert len(cd.cache) == 0
    cd.complete("q one", {}, route)
    assert cd.complete("q one", {}, route, "bypass").cache == "bypass"
    assert fake.calls == 3


def test_refresh_calls_the_model_and_replaces_the_answer(setup) -> None:
    cd, fake, _ = setup
    cd.complete("q two", {}, route)
    refreshed = cd.complete("q two", {}, route, "refresh")
    again = cd.complete("q two", {}, route)
    assert (refreshed.cache, again.cache, fake.calls, len(cd.cache)) == ("refresh", "hit", 2, 1)
    assert again.content == refreshed.content == "answer 2 to q two"


def test_pop_cache_mode() -> None:
    params: dict[str, Any] = {"cache": "refresh", "temperature": 0}
    assert pop_cache_mode(params) == "refresh" and params == {"temperature": 0}
    assert pop_cache_mode({"cache": "refresh"}, pii=True) == "bypass"  # personal data never enters the cache
    assert pop_cache_mode({}) is None
    with pytest.raises(InputError, match="'bypass' or 'refresh'"):
        pop_cache_mode({"cache": "off"})


def test_a_cached_answer_from_a_model_the_caller_may_not_use_is_not_served(setup) -> None:
    cd, fake, _ = setup
    cd.complete("q three", {}, route)
    only_large = cd.complete("q three", {}, lambda m: route(m, allowed=["large"]))
    assert only_large.cache == "miss" and fake.calls == 2
    assert cd.complete("q three", {}, lambda m: route(m, allowed=["small", "large"])).cache == "hit"


def test_excluded_category_bypasses(setup) -> None:
    cd, fake, _ = setup
    cd.cache.config = cd.cache.config.model_copy(update={"exclude_categories": ["law"]})
    assert cd.complete("q four", {}, route).cache == "bypass"
    assert cd.complete("q four", {}, route).cache == "bypass" and fake.calls == 2


def test_an_unreadable_request_goes_to_the_dispatcher_uncached(setup) -> None:
    cd, fake, _ = setup
    calls = []

    def route_anything(messages):
        calls.append(messages)
        return decision(), None

    assert cd.complete("fine text", {}, route_anything).cache == "bypass"  # no embedding: truncated text
    assert len(cd.cache) == 0 and fake.calls == 1


def test_a_corrupt_entry_is_evicted_and_the_model_answers(setup) -> None:
    cd, fake, _ = setup
    cd.complete("q five", {}, route)
    entry = next(iter(cd.cache.store._entries.values()))
    entry.response["choices"] = "not a list"  # what a damaged entry would hold
    assert cd.complete("q five", {}, route).cache == "miss"
    assert fake.calls == 2 and len(cd.cache) == 1


def test_a_complete_stream_is_stored_and_then_replayed(setup) -> None:
    cd, fake, _ = setup
    live = cd.stream("Stream me an answer", {}, route)
    with pytest.raises(InputError):
        _ = live.result  # not read yet
    assert len(cd.cache) == 0
    live_text = "".join(c.choices[0].delta.content or "" for c in live)
    assert live.result.cache == "miss" and len(cd.cache) == 1
    replay = cd.stream("stream me an answer", {}, route)
    state = ChatCompletionStreamState()
    for chunk in replay:
        state.handle_chunk(chunk)
    assert replay.result.cache == "hit" and fake.calls == 1
    assert state.current_completion_snapshot.choices[0].message.content == live_text
    assert state.current_completion_snapshot.choices[0].finish_reason == "stop"


def test_an_incomplete_or_unread_stream_is_not_stored(setup) -> None:
    cd, fake, _ = setup
    fake.complete_streams = False
    broken = cd.stream("a broken stream", {}, route)
    with pytest.raises(UpstreamError):
        for _ in broken:
            pass
    fake.complete_streams = True
    unread = cd.stream("an unread stream", {}, route)
    next(unread)
    unread.close()
    assert len(cd.cache) == 0
    assert cd.stream("a broken stream", {}, route).decision.category == "law" and fake.calls == 3


def test_streams_are_not_stored_when_cache_streams_is_off(setup) -> None:
    cd, fake, _ = setup
    cd.cache.config = cd.cache.config.model_copy(update={"cache_streams": False})
    assert fake.calls == 0
    s = cd.stream("no stream storage", {}, route)
    s.until_done()
    assert s.result.cache == "bypass" and len(cd.cache) == 0


def test_async_complete_and_stream(setup) -> None:
    cd, fake, _ = setup

    async def run():
        a = await cd.acomplete("async question here", {}, route)
        b = await cd.acomplete("question here async", {}, route)
        s = await cd.astream("an async stream", {}, route)
        chunks = [c async for c in s]
        r = await cd.astream("AN ASYNC STREAM", {}, route)
        replay = [c async for c in r]
        return a, b, s, chunks, r, replay

    a, b, s, chunks, r, replay = asyncio.run(run())
    assert (a.cache, b.cache, s.result.cache, r.result.cache) == ("miss", "hit", "miss", "hit")
    assert fake.calls == 2 and len(chunks) == len(replay) == 1
    assert replay[0].choices[0].delta.content == chunks[0].choices[0].delta.content


def test_chunks_of_carries_tool_calls_and_reasoning() -> None:
    resp = response("")
    resp["choices"][0]["message"] = {
        "role": "assistant",
        "content": None,
        "reasoning_content": "thinking",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    resp["choices"][0]["finish_reason"] = "tool_calls"
    (chunk,) = chunks_of(resp)
    delta = chunk.choices[0].delta
    assert delta.tool_calls[0].index == 0 and delta.tool_calls[0].function.name == "f"
    assert (delta.model_extra or {}).get("reasoning_content") == "thinking"
    assert chunk.choices[0].finish_reason == "tool_calls"


def test_a_separate_encoder_runs_beside_the_router_and_its_vectors_are_used() -> None:
    from tests.unit.cache.helpers import BowEncoder

    fake = FakeDispatcher()
    enc = BowEncoder()
    cache = SemanticCache(CacheConfig(enabled=True), encoder=enc)
    cd = CachedDispatch(cache, lambda: fake)

    def route_without_embedding(messages):
        return decision(), None  # the classifier has no embedding: only the separate encoder can key

    assert cd.complete("separate encoder question", {}, route_without_embedding).cache == "miss"
    assert cd.complete("QUESTION separate encoder", {}, route_without_embedding).cache == "hit"
    assert enc.calls == 2 and fake.calls == 1
    cache.close()
    assert cache._pool is None
