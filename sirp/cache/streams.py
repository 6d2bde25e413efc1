"""Streams around the cache: a hit replayed as chunks, and a live stream stored once complete.

Both are :class:`~sirp.providers.RoutedStream` (or the async twin) to their callers, so
``router.stream()`` keeps one return type whether or not the cache answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sirp.cache.entry import CacheOutcome
from sirp.decision import RoutingDecision
from sirp.errors import InputError
from sirp.providers.result import Attempt, RoutedCompletion
from sirp.providers.streams import AsyncRoutedStream, RoutedStream

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionChunk

__all__ = ["AsyncCachedStream", "AsyncStoringStream", "CachedStream", "StoringStream", "chunks_of"]


def chunks_of(response: dict[str, Any]) -> list[ChatCompletionChunk]:
    """A cached chat completion (JSON) as the chunks a server would have streamed: one delta per choice.

    Content, tool calls and extra message fields (``reasoning_content``) travel in the delta, so
    a client that adds chunks up gets the cached message back; no usage chunk (nothing was spent).
    """
    from openai.types.chat import ChatCompletionChunk

    choices = []
    for i, choice in enumerate(response.get("choices") or []):
        message = dict(choice.get("message") or {})
        delta = {k: v for k, v in message.items() if v is not None and k not in ("tool_calls", "audio", "annotations")}
        calls = message.get("tool_calls") or []
        if calls:
            delta["tool_calls"] = [{**call, "index": j} for j, call in enumerate(calls)]
        choices.append({"index": choice.get("index", i), "delta": delta, "finish_reason": choice.get("finish_reason")})
    chunk = {
        "id": response.get("id") or "sirp-cache",
        "object": "chat.completion.chunk",
        "created": response.get("created") or 0,
        "model": response.get("model") or "",
        "choices": choices,
    }
    return [ChatCompletionChunk.model_validate(chunk)]


class CachedStream(RoutedStream):
    """A cache hit served through the streaming API: its chunks, then its :attr:`result`."""

    def __init__(self, result: RoutedCompletion, response: dict[str, Any]) -> None:
        # Deliberately not calling RoutedStream.__init__: there is no upstream stream to hold.
        self._hit = result
        self._chunks = chunks_of(response)
        self._at = 0
        self._finished = False

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision."""
        return self._hit.decision

    @property
    def model(self) -> str:
        """The model whose cached answer this is."""
        return self._hit.model

    @property
    def attempts(self) -> list[Attempt]:
        """No call was made: empty."""
        return self._hit.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The cached completion; only once the stream has been read to its end (like a live stream)."""
        if not self._finished:
            raise InputError("the stream is not finished; iterate it to its end before reading .result")
        return self._hit

    def __next__(self) -> ChatCompletionChunk:
        if self._at < len(self._chunks):
            self._at += 1
            return self._chunks[self._at - 1]
        self._finished = True
        raise StopIteration

    def close(self) -> None:
        """Nothing to release."""


class StoringStream(RoutedStream):
    """A live stream from the model that stores its answer in the cache once it has ended complete.

    A stream that breaks, ends without a ``finish_reason`` or is not read to its end stores nothing.
    """

    def __init__(self, inner: RoutedStream, store: Callable[[RoutedCompletion], None], label: CacheOutcome) -> None:
        self._inner = inner
        self._store = store
        self._label = label
        self._stored = False

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision."""
        return self._inner.decision

    @property
    def model(self) -> str:
        """The model that is answering."""
        return self._inner.model

    @property
    def attempts(self) -> list[Attempt]:
        """Every call made so far."""
        return self._inner.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The assembled completion, with ``cache`` set; only once the stream has been read to its end."""
        return replace(self._inner.result, cache=self._label)

    def __next__(self) -> ChatCompletionChunk:
        try:
            return next(self._inner)
        except StopIteration:
            # The inner stream checked the answer is complete before ending; only then store it.
            if not self._stored:
                self._stored = True
                self._store(self._inner.result)
            raise

    def close(self) -> None:
        """Stop reading and release the connection (nothing is stored)."""
        self._inner.close()


class AsyncCachedStream(AsyncRoutedStream):
    """Async :class:`CachedStream`."""

    def __init__(self, result: RoutedCompletion, response: dict[str, Any]) -> None:
        self._sync = CachedStream(result, response)

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision."""
        return self._sync.decision

    @property
    def model(self) -> str:
        """The model whose cached answer this is."""
        return self._sync.model

    @property
    def attempts(self) -> list[Attempt]:
        """No call was made: empty."""
        return self._sync.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The cached completion, once the stream has been read to its end."""
        return self._sync.result

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            return next(self._sync)
        except StopIteration:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Nothing to release."""


class AsyncStoringStream(AsyncRoutedStream):
    """Async :class:`StoringStream`."""

    def __init__(
        self, inner: AsyncRoutedStream, store: Callable[[RoutedCompletion], Awaitable[None]], label: CacheOutcome
    ) -> None:
        self._inner = inner
        self._store = store
        self._label = label
        self._stored = False

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision."""
        return self._inner.decision

    @property
    def model(self) -> str:
        """The model that is answering."""
        return self._inner.model

    @property
    def attempts(self) -> list[Attempt]:
        """Every call made so far."""
        return self._inner.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The assembled completion, with ``cache`` set, once the stream has been read to its end."""
        return replace(self._inner.result, cache=self._label)

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            if not self._stored:
                self._stored = True
                await self._store(self._inner.result)
            raise

    async def aclose(self) -> None:
        """Stop reading and release the connection (nothing is stored)."""
        await self._inner.aclose()
