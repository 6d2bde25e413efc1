"""Streamed answers of the chosen model: chunks as they come, then the assembled result.

Retries and fallbacks happen before the first chunk (in :class:`~sirp.providers.Dispatcher`);
once a chunk is out, a broken stream is an error, not a retry, since part of the answer is
already delivered.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sirp.decision import RoutingDecision
from sirp.errors import InputError, UpstreamError
from sirp.providers.result import Attempt, RoutedCompletion
from sirp.providers.schedule import Schedule, Target
from sirp.providers.upstream import to_upstream_error

if TYPE_CHECKING:
    from openai import AsyncStream, Stream
    from openai.types.chat import ChatCompletionChunk

    from sirp.providers.client import Dispatcher

__all__ = ["AsyncRoutedStream", "RoutedStream"]


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


def _has_token(chunk: ChatCompletionChunk) -> bool:
    for choice in chunk.choices:
        delta = choice.delta
        extra = delta.model_extra or {}
        if delta.content or delta.tool_calls or extra.get("reasoning_content") or extra.get("reasoning"):
            return True
    return False


class _Accumulator:
    """Builds a stream's final completion, usage and time to first token from its chunks."""

    def __init__(
        self, dispatcher: Dispatcher, decision: RoutingDecision, target: Target, sched: Schedule, start: float
    ) -> None:
        from openai.lib.streaming.chat import ChatCompletionStreamState

        self.state: Any = ChatCompletionStreamState()
        self.dispatcher = dispatcher
        self.decision = decision
        self.target = target
        self.sched = sched
        self.model = target.model.name
        self.attempts = sched.attempts
        self.start = start
        self.chunks = 0
        self.finished = False
        self.first_at: float | None = None
        self.token_at: float | None = None
        self.result: RoutedCompletion | None = None

    def add(self, chunk: ChatCompletionChunk, at: float) -> None:
        self.state.handle_chunk(chunk)
        self.chunks += 1
        self.finished = self.finished or any(c.finish_reason for c in chunk.choices)
        if self.first_at is None:
            self.first_at = at
        if self.token_at is None and _has_token(chunk):
            self.token_at = at

    def finish(self) -> RoutedCompletion:
        if self.result is None:
            from openai.types.chat import ChatCompletion

            snapshot = self.state.current_completion_snapshot
            # A plain ChatCompletion: the snapshot class carries parsing fields that mean nothing here.
            completion = ChatCompletion.model_construct(**snapshot.to_dict())
            first = self.token_at if self.token_at is not None else self.first_at
            ttft = (first - self.start) * 1000 if first is not None else None
            self.result = self.dispatcher._result(completion, self.decision, self.target, self.sched, self.start, ttft)
        return self.result

    def ended(self) -> RoutedCompletion:
        """The stream ended; a stream whose answer never finished is an error, not a short answer."""
        if not self.finished:
            raise self.broken(
                UpstreamError(
                    "it ended without a finish_reason, so the answer is incomplete",
                    model=self.model,
                    kind="stream_broken",
                    is_retryable=True,
                )
            )
        return self.finish()

    def broken(self, err: UpstreamError) -> UpstreamError:
        # A stream that breaks midway counts against its provider's health like any failed call.
        self.dispatcher.balancer.record_failure(self.model, self.target.provider_name)
        self.attempts.append(
            Attempt(
                model=self.model,
                try_number=self.target.try_number,
                latency_ms=_ms(self.start),
                error=str(err),
                kind="stream_broken",
                status_code=err.status_code,
                retryable=err.is_retryable,
                provider=self.target.provider_name,
            )
        )
        return UpstreamError(
            f"the stream from {self.model!r} ({self.target.provider_name}) broke after {self.chunks} chunks: {err}. "
            "Part of the answer was already delivered, so sirp does not retry or fall back; call again to start over",
            model=self.model,
            kind="stream_broken",
            status_code=err.status_code,
            is_retryable=err.is_retryable,
        )


class RoutedStream:
    """The chunks of a streamed completion from the chosen model, then the whole result.

    Iterate it for ``openai`` ``ChatCompletionChunk`` objects; once exhausted, :attr:`result`
    holds the assembled :class:`~sirp.providers.RoutedCompletion` (usage, cost, time to first
    token). Retries and fallbacks happen before the first chunk; a stream that breaks after it
    raises :class:`~sirp.errors.UpstreamError` (``kind="stream_broken"``).
    """

    def __init__(self, stream: Stream[ChatCompletionChunk], first: ChatCompletionChunk, acc: _Accumulator) -> None:
        self._stream = stream
        self._pending: ChatCompletionChunk | None = first
        self._acc = acc
        self._done = False

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision (known before the first chunk)."""
        return self._acc.decision

    @property
    def model(self) -> str:
        """The model that is answering."""
        return self._acc.model

    @property
    def provider(self) -> str:
        """The provider of :attr:`model` that is answering."""
        return self._acc.target.provider_name

    @property
    def attempts(self) -> list[Attempt]:
        """Every call made so far."""
        return self._acc.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The assembled completion; only once the stream has been read to its end."""
        if not self._done:
            raise InputError("the stream is not finished; iterate it to its end before reading .result")
        return self._acc.finish()

    def __iter__(self) -> RoutedStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._pending is not None:
            chunk, self._pending = self._pending, None
            return chunk
        if self._done:
            raise StopIteration
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._acc.ended()
            self._done = True
            raise
        except Exception as exc:
            err = to_upstream_error(exc, self.model)
            self.close()
            if err is None:
                raise
            raise self._acc.broken(err) from exc
        self._acc.add(chunk, time.perf_counter())
        return chunk

    def until_done(self) -> RoutedCompletion:
        """Read the rest of the stream and return :attr:`result`."""
        for _ in self:
            pass
        return self.result

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._stream.close()

    def __enter__(self) -> RoutedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRoutedStream:
    """Async :class:`RoutedStream`: ``async for chunk in stream``, then :attr:`result`."""

    def __init__(self, stream: AsyncStream[ChatCompletionChunk], first: ChatCompletionChunk, acc: _Accumulator) -> None:
        self._stream = stream
        self._pending: ChatCompletionChunk | None = first
        self._acc = acc
        self._done = False

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision (known before the first chunk)."""
        return self._acc.decision

    @property
    def model(self) -> str:
        """The model that is answering."""
        return self._acc.model

    @property
    def provider(self) -> str:
        """The provider of :attr:`model` that is answering."""
        return self._acc.target.provider_name

    @property
    def attempts(self) -> list[Attempt]:
        """Every call made so far."""
        return self._acc.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The assembled completion; only once the stream has been read to its end."""
        if not self._done:
            raise InputError("the stream is not finished; iterate it to its end before reading .result")
        return self._acc.finish()

    def __aiter__(self) -> AsyncRoutedStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._pending is not None:
            chunk, self._pending = self._pending, None
            return chunk
        if self._done:
            raise StopAsyncIteration
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._acc.ended()
            self._done = True
            raise
        except Exception as exc:
            err = to_upstream_error(exc, self.model)
            await self.aclose()
            if err is None:
                raise
            raise self._acc.broken(err) from exc
        self._acc.add(chunk, time.perf_counter())
        return chunk

    async def until_done(self) -> RoutedCompletion:
        """Read the rest of the stream and return :attr:`result`."""
        async for _ in self:
            pass
        return self.result

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._stream.close()

    async def __aenter__(self) -> AsyncRoutedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
