"""Reading answers as they stream past: SSE split anywhere, usage in each wire format, the size limit."""

from __future__ import annotations

import json

import pytest

from sirp.extproc.answers import SSEBuffer, assemble, reader_for
from tests.unit.extproc.support import completion, sse_chunks


@pytest.mark.parametrize("size", [1, 3, 17, 1000])
def test_events_are_found_wherever_the_chunks_are_cut(size: int) -> None:
    stream = b': comment\n\nevent: a\ndata: {"x": 1}\n\ndata: two\r\ndata: lines\r\n\r\ndata: [DONE]\n\n'
    buf = SSEBuffer()
    events = []
    for i in range(0, len(stream), size):
        found, _ = buf.feed(stream[i : i + size])
        events.extend((e.event, e.data) for e in found)
    assert events == [(None, ""), ("a", '{"x": 1}'), (None, "two\nlines"), (None, "[DONE]")]
    assert buf.pending == 0


def test_a_json_answer_gives_usage_and_the_completion() -> None:
    r = reader_for("/v1/chat/completions", "application/json; charset=utf-8", limit=10_000)
    assert r is not None
    raw = json.dumps(completion(usage=(7, 2))).encode()
    assert r.feed(raw[:10]) is None and r.feed(raw[10:]) is None
    a = r.finish()
    assert (a.usage.prompt_tokens, a.usage.completion_tokens) == (7, 2)
    assert a.complete and a.completion["choices"][0]["message"]["content"] == "4"


def test_a_json_answer_past_the_limit_is_not_read() -> None:
    r = reader_for("/v1/chat/completions", "application/json", limit=50)
    assert r is not None
    r.feed(json.dumps(completion()).encode())
    a = r.finish()
    assert a.overflow and a.usage is None and a.completion is None


def test_a_stream_past_the_limit_still_gives_its_usage_but_is_not_kept() -> None:
    r = reader_for("/v1/chat/completions", "text/event-stream", limit=200, keep=True)
    assert r is not None
    for c in sse_chunks("a long enough answer", usage=(3, 20)):
        r.feed(c)
    a = r.finish()
    assert a.overflow and a.usage.completion_tokens == 20 and a.completion is None


def test_a_streamed_chat_adds_up_to_a_completion_for_the_cache() -> None:
    r = reader_for("/v1/chat/completions", "text/event-stream", limit=100_000, keep=True, strip_usage=True)
    assert r is not None
    out = [r.feed(c) for c in sse_chunks("hey", usage=(4, 3))]
    assert out[-2] == b"" and all(o is None for o in out[:-2] + out[-1:])
    a = r.finish()
    assert a.complete and a.completion["choices"][0]["message"] == {"role": "assistant", "content": "hey"}
    assert a.completion["usage"]["completion_tokens"] == 3 and a.completion["object"] == "chat.completion"


def test_usage_on_the_last_content_chunk_is_taken_out_of_that_chunk_only() -> None:
    r = reader_for("/v1/chat/completions", "text/event-stream", limit=100_000, strip_usage=True)
    assert r is not None
    chunk = {
        "id": "c",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    new = r.feed(f"data: {json.dumps(chunk)}\n\n".encode())
    assert new is not None
    sent = json.loads(new.decode()[len("data: ") :])
    assert "usage" not in sent and sent["choices"] == chunk["choices"]
    assert r.finish().usage.total_tokens == 2


def test_a_stream_that_never_finished_is_not_complete() -> None:
    r = reader_for("/v1/chat/completions", "text/event-stream", limit=100_000, keep=True)
    assert r is not None
    for c in sse_chunks("cut")[:3]:
        r.feed(c)
    a = r.finish()
    assert not a.complete and a.completion is None


def test_a_responses_json_answer_gives_its_usage() -> None:
    r = reader_for("/v1/responses", "application/json", limit=10_000)
    assert r is not None
    r.feed(json.dumps({"status": "completed", "usage": {"input_tokens": 5, "output_tokens": 8}}).encode())
    a = r.finish()
    assert (a.usage.prompt_tokens, a.usage.completion_tokens, a.complete) == (5, 8, True)


def test_other_content_types_are_not_read() -> None:
    assert reader_for("/v1/chat/completions", "text/html", limit=10) is None


def test_assemble_gives_nothing_for_no_chunks() -> None:
    assert assemble([], None) is None
