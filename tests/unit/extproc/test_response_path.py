"""The whole exchange as Envoy streams it (request headers → body → response headers → body chunks):
decision headers for the client, usage and cost from JSON and SSE answers, the usage chunk sirp asked
for taken out, the semantic cache (store, then a hit answered by sirp), failing open and closed, a
client that goes away mid-stream, many streams at once, and the health service."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sirp.extproc.service import SERVICE_NAME
from tests.unit.extproc.support import (
    LONG,
    RESPONSES,
    SHORT,
    EnvoyStream,
    chat_body,
    completion,
    header_set,
    request_body,
    request_headers,
    response_body,
    response_headers,
    sse_chunks,
)

pytestmark = pytest.mark.asyncio

CHAT = "/v1/chat/completions"


async def request(s: EnvoyStream, body: bytes, path: str = CHAT, headers: dict | None = None) -> Any:
    first = await s.send(request_headers(path, body=body, headers=headers))
    assert first.WhichOneof("response") == "request_headers"
    return await s.send(request_body(body))


async def test_a_json_answer_gets_the_decision_headers_and_its_usage_is_counted(start: Any) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, chat_body(SHORT))
    answer = await s.send(response_headers(200, "application/json"))
    headers = header_set(answer.response_headers.response.header_mutation)
    assert headers["x-sirp-model"] == "small" and headers["x-sirp-decision"].startswith("model=small")
    assert not answer.HasField("mode_override")  # the body is wanted
    raw = json.dumps(completion(usage=(1000, 500))).encode()
    a1 = await s.send(response_body(raw[:40]))
    a2 = await s.send(response_body(raw[40:], end_of_stream=True))
    for a in (a1, a2):
        assert not a.response_body.response.HasField("body_mutation")  # passed on as it came
    await s.close()
    await svc.servicer.drain()
    assert svc.metric("sirp_tokens_total", {"model": "small", "kind": "prompt"}) == 1000
    assert svc.metric("sirp_tokens_total", {"model": "small", "kind": "completion"}) == 500
    assert svc.metric("sirp_cost_usd_total", {"model": "small"}) == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)
    assert svc.metric("sirp_requests_total", {"endpoint": CHAT, "method": "POST", "status": "200"}) == 1
    assert svc.metric("sirp_extproc_aborted_total", {"phase": "response_body"}) == 0


async def test_a_stream_is_passed_on_chunk_by_chunk_and_the_usage_chunk_sirp_asked_for_is_taken_out(
    start: Any,
) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, chat_body(SHORT, stream=True))
    await s.send(response_headers(200, "text/event-stream"))
    chunks = sse_chunks("four", usage=(20, 4))
    out = []
    for i, c in enumerate(chunks):
        a = await s.send(response_body(c, end_of_stream=i == len(chunks) - 1))
        common = a.response_body.response
        out.append(common.body_mutation.body if common.HasField("body_mutation") else c)
    await s.close()
    await svc.servicer.drain()
    assert out[:-2] == chunks[:-2]  # every content chunk untouched
    assert out[-2] == b""  # the usage chunk: the client did not ask for it
    assert out[-1] == b"data: [DONE]\n\n"
    assert svc.metric("sirp_tokens_total", {"model": "small", "kind": "completion"}) == 4


async def test_a_client_that_asked_for_usage_gets_the_usage_chunk(start: Any) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, chat_body(SHORT, stream=True, stream_options={"include_usage": True}))
    await s.send(response_headers(200, "text/event-stream"))
    chunks = sse_chunks("ok", usage=(5, 2))
    for i, c in enumerate(chunks):
        a = await s.send(response_body(c, end_of_stream=i == len(chunks) - 1))
        assert not a.response_body.response.HasField("body_mutation")
    await s.close()
    await svc.servicer.drain()
    assert svc.metric("sirp_tokens_total", {"model": "small", "kind": "prompt"}) == 5


async def test_usage_is_read_across_chunk_boundaries(start: Any) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, chat_body(SHORT, stream=True))
    await s.send(response_headers(200, "text/event-stream; charset=utf-8"))
    stream = b"".join(sse_chunks("split me", usage=(33, 7)))
    pieces = [stream[i : i + 7] for i in range(0, len(stream), 7)]  # events cut anywhere
    sent = b""
    for i, p in enumerate(pieces):
        a = await s.send(response_body(p, end_of_stream=i == len(pieces) - 1))
        common = a.response_body.response
        sent += common.body_mutation.body if common.HasField("body_mutation") else p
    await s.close()
    await svc.servicer.drain()
    assert sent == stream  # a usage event split across chunks cannot be edited: it goes on whole
    assert svc.metric("sirp_tokens_total", {"model": "small", "kind": "prompt"}) == 33


async def test_a_responses_stream_gives_its_usage_from_response_completed(start: Any) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, json.dumps({"model": "auto", "input": SHORT, "stream": True}).encode(), path=RESPONSES)
    await s.send(response_headers(200, "text/event-stream"))
    done = {
        "type": "response.completed",
        "response": {
            "id": "r",
            "status": "completed",
            "usage": {"input_tokens": 11, "output_tokens": 6, "output_tokens_details": {"reasoning_tokens": 2}},
        },
    }
    events = [
        b'event: response.created\ndata: {"type":"response.created"}\n\n',
        f"event: response.completed\ndata: {json.dumps(done)}\n\n".encode(),
    ]
    for i, e in enumerate(events):
        a = await s.send(response_body(e, end_of_stream=i == 1))
        assert not a.response_body.response.HasField("body_mutation")
    await s.close()
    await svc.servicer.drain()
    assert svc.metric("sirp_tokens_total", {"model": "small", "kind": "completion"}) == 6
    assert svc.metric("sirp_tokens_total", {"model": "small", "kind": "reasoning"}) == 2


async def test_an_upstream_error_is_passed_on_and_counted(start: Any) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, chat_body(SHORT))
    a = await s.send(response_headers(503, "application/json"))
    await s.close()
    assert a.mode_override.response_body_mode == 0  # NONE: nothing to read in an error
    assert svc.metric("sirp_errors_total", {"endpoint": CHAT, "type": "upstream_error", "status": "503"}) == 1
    assert svc.metric("sirp_requests_total", {"endpoint": CHAT, "method": "POST", "status": "503"}) == 1


async def test_a_pinned_answer_is_observed_too(start: Any) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, chat_body(LONG, model="large"))
    await s.send(response_headers(200, "application/json"))
    await s.send(response_body(json.dumps(completion(model="large", usage=(10, 100))).encode(), end_of_stream=True))
    await s.close()
    await svc.servicer.drain()
    assert svc.metric("sirp_tokens_total", {"model": "large", "kind": "completion"}) == 100
    assert svc.metric("sirp_cost_usd_total", {"model": "large"}) == pytest.approx(100 * 10.0 / 1e6)


async def test_a_compressed_answer_is_not_read(start: Any) -> None:
    svc = await start()
    s = EnvoyStream(svc.channel)
    await request(s, chat_body(SHORT))
    a = await s.send(response_headers(200, "application/json", content_encoding="gzip"))
    await s.close()
    assert a.mode_override.response_body_mode == 0
    assert header_set(a.response_headers.response.header_mutation)["x-sirp-model"] == "small"


# -- the semantic cache -------------------------------------------------------------------------


async def test_an_answer_is_cached_and_the_next_request_is_answered_from_it(start: Any) -> None:
    svc = await start(cache={"enabled": True, "threshold": 0.9})
    s = EnvoyStream(svc.channel)
    _, headers = (
        None,
        header_set((await request(s, chat_body("what is two plus two"))).request_body.response.header_mutation),
    )
    assert headers["x-sirp-cache"] == "miss"
    await s.send(response_headers(200, "application/json"))
    await s.send(response_body(json.dumps(completion("4", usage=(9, 1))).encode(), end_of_stream=True))
    await s.close()
    await svc.servicer.drain()
    assert svc.metric("sirp_cache_total", {"status": "miss"}) == 1

    s = EnvoyStream(svc.channel)
    body = chat_body("what is two plus two")
    await s.send(request_headers(body=body))
    hit = (await s.send(request_body(body))).immediate_response
    await s.close()
    assert hit.status.code == 200
    cached = json.loads(hit.body)
    assert cached["choices"][0]["message"]["content"] == "4"
    headers = header_set(hit.headers)
    assert headers["x-sirp-cache"] == "hit" and headers["x-vsr-cache-hit"] == "true"
    assert headers["content-type"] == "application/json" and "cache.hit" in headers["x-sirp-policy"]
    assert svc.metric("sirp_extproc_requests_total", {"endpoint": CHAT, "outcome": "cache_hit"}) == 1

    s = EnvoyStream(svc.channel)  # the same question, streamed: the cached answer as chunks
    body = chat_body("what is two plus two", stream=True)
    await s.send(request_headers(body=body))
    hit = (await s.send(request_body(body))).immediate_response
    await s.close()
    assert header_set(hit.headers)["content-type"] == "text/event-stream"
    events = [e for e in hit.body.decode().split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][len("data: ") :])["choices"][0]["delta"]["content"] == "4"


async def test_a_streamed_answer_is_cached_once_complete(start: Any) -> None:
    svc = await start(cache={"enabled": True, "threshold": 0.9})
    s = EnvoyStream(svc.channel)
    await request(s, chat_body("name a colour", stream=True))
    await s.send(response_headers(200, "text/event-stream"))
    chunks = sse_chunks("blue")
    for i, c in enumerate(chunks):
        await s.send(response_body(c, end_of_stream=i == len(chunks) - 1))
    await s.close()
    await svc.servicer.drain()
    s = EnvoyStream(svc.channel)
    body = chat_body("name a colour")
    await s.send(request_headers(body=body))
    hit = (await s.send(request_body(body))).immediate_response
    await s.close()
    assert json.loads(hit.body)["choices"][0]["message"]["content"] == "blue"


async def test_no_cache_and_no_store_headers_are_honoured(start: Any) -> None:
    svc = await start(cache={"enabled": True})
    s = EnvoyStream(svc.channel)
    a = await request(s, chat_body("hello cache"), headers={"cache-control": "no-store"})
    await s.close()
    assert header_set(a.request_body.response.header_mutation)["x-sirp-cache"] == "bypass"


async def test_a_client_that_goes_away_mid_stream_is_counted_and_nothing_is_cached(start: Any) -> None:
    svc = await start(cache={"enabled": True})
    s = EnvoyStream(svc.channel)
    await request(s, chat_body("tell me a long story", stream=True))
    await s.send(response_headers(200, "text/event-stream"))
    chunks = sse_chunks("once upon a time")
    for c in chunks[:3]:
        await s.send(response_body(c))
    s.call.cancel()  # Envoy resets the stream when its client disconnects
    for _ in range(100):
        if svc.metric("sirp_extproc_aborted_total", {"phase": "response_body"}) == 1:
            break
        await asyncio.sleep(0.02)
    assert svc.metric("sirp_extproc_aborted_total", {"phase": "response_body"}) == 1
    await svc.servicer.drain()
    assert len(svc.state.router.cache) == 0
    # the service goes on serving
    s = EnvoyStream(svc.channel)
    a = await request(s, chat_body(SHORT))
    await s.close()
    assert header_set(a.request_body.response.header_mutation)["x-sirp-destination"] == "small"


# -- failing open and closed ---------------------------------------------------------------------


def broken(batch: Any) -> Any:
    raise RuntimeError("the classifier broke")


def slow(batch: Any) -> Any:
    time.sleep(0.5)
    raise RuntimeError("too late anyway")


async def test_an_internal_failure_fails_open_by_default_and_is_counted(start: Any) -> None:
    svc = await start(broken)
    s = EnvoyStream(svc.channel)
    a = await request(s, chat_body(SHORT))
    common = a.request_body.response
    assert not common.HasField("body_mutation") and not common.HasField("header_mutation")  # unrouted, untouched
    a = await s.send(response_headers(200))
    assert a.mode_override.response_body_mode == 0
    await s.close()
    assert svc.metric("sirp_extproc_failures_total", {"phase": "request_body", "kind": "error"}) == 1
    assert svc.metric("sirp_extproc_requests_total", {"endpoint": CHAT, "outcome": "failed_open"}) == 1


async def test_an_internal_failure_fails_closed_when_configured(start: Any) -> None:
    svc = await start(broken, server={"extproc": {"fail_open": False}})
    s = EnvoyStream(svc.channel)
    a = await request(s, chat_body(SHORT))
    await s.close()
    imm = a.immediate_response
    err = json.loads(imm.body)["error"]
    assert imm.status.code == 500 and err["code"] == "internal_error" and "req-1" in err["message"]
    assert "RuntimeError" not in err["message"] and "classifier" not in err["message"]  # no internals
    assert svc.metric("sirp_extproc_requests_total", {"endpoint": CHAT, "outcome": "failed_closed"}) == 1


async def test_a_decision_past_its_timeout_fails_open(start: Any) -> None:
    svc = await start(slow, server={"extproc": {"decision_timeout_s": 0.1}})
    s = EnvoyStream(svc.channel)
    t0 = time.perf_counter()
    a = await request(s, chat_body(SHORT))
    await s.close()
    assert time.perf_counter() - t0 < 0.45
    assert not a.request_body.response.HasField("body_mutation")
    assert svc.metric("sirp_extproc_failures_total", {"phase": "request_body", "kind": "timeout"}) == 1


# -- concurrency and health --------------------------------------------------------------------


async def test_200_concurrent_streams_all_get_their_own_answers(start: Any) -> None:
    svc = await start()

    async def one(i: int) -> tuple[int, str, bytes]:
        s = EnvoyStream(svc.channel)
        text = LONG if i % 2 else SHORT
        a = await request(s, chat_body(f"{text} #{i}", stream=True, user=f"u{i}"))
        body = json.loads(a.request_body.response.body_mutation.body)
        await s.send(response_headers(200, "text/event-stream"))
        got = b""
        chunks = sse_chunks(f"answer {i}", model=body["model"], usage=(i + 1, 1))
        for k, c in enumerate(chunks):
            r = await s.send(response_body(c, end_of_stream=k == len(chunks) - 1))
            common = r.response_body.response
            got += common.body_mutation.body if common.HasField("body_mutation") else c
        await s.close()
        assert body["user"] == f"u{i}" and body["messages"][0]["content"].endswith(f"#{i}")
        return i, body["model"], got

    results = await asyncio.gather(*(one(i) for i in range(200)))
    await svc.servicer.drain()
    assert sorted(i for i, _, _ in results) == list(range(200))
    for i, _, got in results:
        events = [json.loads(e[len("data: ") :]) for e in got.decode().split("\n\n") if e and "[DONE]" not in e]
        assert "".join(c["delta"].get("content", "") for e in events for c in e["choices"]) == f"answer {i}"
        assert all("usage" not in e for e in events)  # taken out: the clients did not ask
    prompt_tokens = sum(
        svc.metric("sirp_tokens_total", {"model": m, "kind": "prompt"}) for m in ("small", "large", "backup")
    )
    assert prompt_tokens == sum(i + 1 for i in range(200))  # nothing lost, nothing counted twice
    assert svc.metric("sirp_requests_total", {"endpoint": CHAT, "method": "POST", "status": "200"}) == 200
    assert svc.metric("sirp_extproc_failures_total", {"phase": "request_body", "kind": "error"}) == 0
    assert svc.metric("sirp_extproc_aborted_total", {"phase": "response_body"}) == 0


async def test_the_health_service_says_serving(start: Any) -> None:
    svc = await start()
    stub = health_pb2_grpc.HealthStub(svc.channel)
    for name in ("", SERVICE_NAME):
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
