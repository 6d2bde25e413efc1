"""Reading the model's answer as Envoy streams it past: usage for metrics and cost, the completion for the cache.

A reader is fed each response body chunk and answers at once (it never holds a chunk back, so
the stream reaches the client as fast as without sirp); the work that takes time (cost, the
cache store) happens after the last chunk, off the data path. Four readers, one per wire format:

==========================  =================================================================
Chat Completions, JSON      ``usage`` of the completion; the completion itself for the cache
Chat Completions, SSE       the usage chunk (sirp asks for it with ``stream_options``; it is
                            taken out of the stream when the client did not ask for it); the
                            chunks, assembled into a completion for the cache
Responses, JSON             ``usage`` (``input_tokens``, ``output_tokens``)
Responses, SSE              the usage in ``response.completed`` / ``response.incomplete``
==========================  =================================================================

A JSON body over the size limit is passed on unread (its usage is then unknown); a stream over it
is still read for its usage, but not cached.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sirp.providers.usage import Usage

__all__ = ["Answer", "AnswerReader", "SSEBuffer", "reader_for"]

_SEPARATORS = (b"\r\n\r\n", b"\n\n", b"\r\r")


@dataclass
class Answer:
    """What a finished answer told: its usage, and (chat) the completion to cache."""

    usage: Usage | None = None
    completion: dict[str, Any] | None = None
    complete: bool = False
    overflow: bool = False


@dataclass(frozen=True)
class _Event:
    start: int
    end: int
    event: str | None
    data: str


class SSEBuffer:
    """Splits a byte stream into server-sent events, across chunk boundaries, without holding bytes back.

    :meth:`feed` returns the events completed by a chunk, with their byte offsets in the stream
    since the previous chunk's incomplete tail (``carried`` bytes of which came before this chunk).
    """

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> tuple[list[_Event], int]:
        """The events ``chunk`` completes, and how many bytes of their buffer came from earlier chunks."""
        carried = len(self._tail)
        data = self._tail + chunk
        events: list[_Event] = []
        pos = 0
        while True:
            ends = [(i, len(s)) for s in _SEPARATORS if (i := data.find(s, pos)) >= 0]
            if not ends:
                break
            i, n = min(ends)
            events.append(_parse_event(data[pos:i], pos, i + n))
            pos = i + n
        self._tail = data[pos:]
        return events, carried

    @property
    def pending(self) -> int:
        """Bytes of an event not finished yet."""
        return len(self._tail)


def _parse_event(raw: bytes, start: int, end: int) -> _Event:
    name: str | None = None
    lines: list[str] = []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            name = value
        elif key == "data":
            lines.append(value)
    return _Event(start, end, name, "\n".join(lines))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _responses_usage(usage: Any) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    details = usage.get("output_tokens_details")
    return Usage.from_openai(
        {
            "prompt_tokens": usage.get("input_tokens"),
            "completion_tokens": usage.get("output_tokens"),
            "completion_tokens_details": details if isinstance(details, dict) else None,
        }
    )


class AnswerReader:
    """Base: subclasses read one format. Past ``limit`` bytes a JSON body is no longer kept; a stream
    is still read for its usage, but its chunks are no longer kept for the cache."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.answer = Answer()

    def feed(self, chunk: bytes) -> bytes | None:
        """Read one body chunk; return the bytes to send instead of it, or ``None`` to send it as it is."""
        self.size += len(chunk)
        if self.size > self.limit and not self.answer.overflow:
            self.answer.overflow = True
            self._drop()
        return self._feed(chunk)

    def finish(self) -> Answer:
        """The body ended: what it told."""
        self._finish()
        return self.answer

    def _feed(self, chunk: bytes) -> bytes | None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Nothing more to read by default."""

    def _drop(self) -> None:
        """Free what was kept: past the limit nothing more is kept."""


class _Json(AnswerReader):
    def __init__(self, limit: int, *, responses: bool) -> None:
        super().__init__(limit)
        self.responses = responses
        self.parts: list[bytes] = []

    def _feed(self, chunk: bytes) -> bytes | None:
        if not self.answer.overflow:
            self.parts.append(chunk)
        return None

    def _drop(self) -> None:
        self.parts = []

    def _finish(self) -> None:
        if self.answer.overflow:
            return
        data = _json(b"".join(self.parts).decode("utf-8", errors="replace"))
        self.parts = []
        if not isinstance(data, dict):
            return
        if self.responses:
            self.answer.usage = _responses_usage(data.get("usage"))
            self.answer.complete = data.get("status") == "completed"
            return
        self.answer.usage = Usage.from_openai(data.get("usage"))
        if isinstance(data.get("choices"), list):
            self.answer.completion = data
            self.answer.complete = all(isinstance(c, dict) and c.get("finish_reason") for c in data["choices"])


@dataclass
class _ChatChunks:
    """The chunks of a streamed chat completion, kept for the cache (assembled only when stored)."""

    chunks: list[dict[str, Any]] = field(default_factory=list)
    finished: bool = False


class _ChatStream(AnswerReader):
    def __init__(self, limit: int, *, strip_usage: bool, keep: bool) -> None:
        super().__init__(limit)
        self.sse = SSEBuffer()
        self.strip_usage = strip_usage
        self.keep = keep
        self.kept = _ChatChunks()
        self.done = False

    def _drop(self) -> None:
        self.kept = _ChatChunks()
        self.keep = False

    def _feed(self, chunk: bytes) -> bytes | None:
        if self.sse.pending > self.limit:
            return None  # one event larger than the limit: not an answer sirp can read
        events, carried = self.sse.feed(chunk)
        edits: list[tuple[int, int, bytes]] = []
        for ev in events:
            if ev.data.strip() == "[DONE]":
                self.done = True
                continue
            data = _json(ev.data)
            if not isinstance(data, dict):
                continue
            choices = data.get("choices")
            if data.get("usage") is not None:
                self.answer.usage = Usage.from_openai(data["usage"])
                if self.strip_usage and ev.start >= carried:  # the whole event is in this chunk: edit it
                    if choices:
                        rest = {k: v for k, v in data.items() if k != "usage"}
                        edits.append((ev.start, ev.end, _sse(rest)))
                    else:
                        edits.append((ev.start, ev.end, b""))
            if isinstance(choices, list):
                if any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
                    self.kept.finished = True
                if self.keep and choices:
                    self.kept.chunks.append(data)
        if not edits:
            return None
        out = bytearray(chunk)
        for start, end, new in reversed(edits):
            out[start - carried : end - carried] = new
        return bytes(out)

    def _finish(self) -> None:
        self.answer.complete = self.kept.finished and self.done
        if self.keep and self.answer.complete:
            self.answer.completion = assemble(self.kept.chunks, self.answer.usage)


class _ResponsesStream(AnswerReader):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.sse = SSEBuffer()

    def _feed(self, chunk: bytes) -> bytes | None:
        if self.sse.pending > self.limit:
            return None  # one event larger than the limit: not an answer sirp can read
        events, _ = self.sse.feed(chunk)
        for ev in events:
            data = _json(ev.data)
            if not isinstance(data, dict):
                continue
            kind = data.get("type") or ev.event
            if kind in ("response.completed", "response.incomplete") and isinstance(data.get("response"), dict):
                self.answer.usage = _responses_usage(data["response"].get("usage"))
                self.answer.complete = kind == "response.completed"
        return None


def _sse(data: Any) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def assemble(chunks: list[dict[str, Any]], usage: Usage | None) -> dict[str, Any] | None:
    """The chat completion that streamed ``chunks`` add up to (openai's own stream accumulator), as JSON."""
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk
    from pydantic import ValidationError

    if not chunks:
        return None
    state: Any = ChatCompletionStreamState()
    try:
        for c in chunks:
            state.handle_chunk(ChatCompletionChunk.model_validate(c))
        snapshot = state.current_completion_snapshot.to_dict(exclude_none=True)
    except (ValidationError, ValueError, TypeError, KeyError):
        return None
    snapshot["object"] = "chat.completion"
    if usage is not None:
        snapshot["usage"] = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
    data: dict[str, Any] = json.loads(json.dumps(snapshot, default=str))
    return data


def reader_for(
    endpoint: str, content_type: str, *, limit: int, strip_usage: bool = False, keep: bool = False
) -> AnswerReader | None:
    """The reader of an answer to ``endpoint`` with this ``content-type``; ``None`` for one sirp cannot read."""
    media = content_type.split(";", 1)[0].strip().lower()
    responses = endpoint == "/v1/responses"
    if media == "text/event-stream":
        return _ResponsesStream(limit) if responses else _ChatStream(limit, strip_usage=strip_usage, keep=keep)
    if media == "application/json" or media.endswith("+json"):
        return _Json(limit, responses=responses)
    return None
