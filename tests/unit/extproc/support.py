"""Envoy's side of the ext_proc protocol, for tests: the messages it sends, a client that sends them like Envoy.

Envoy sends one message and waits for its answer before the next (request headers, request
body, response headers, response body chunks); :class:`EnvoyStream` does the same over a real
gRPC stream to a real ``grpc.aio`` server on loopback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc
from google.protobuf import struct_pb2

from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.router import SemanticRouter

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
SHORT = "hi there"  # the mock classifier keeps it on the small tier
LONG = " ".join(["explain the derivation of the integral step by step"] * 4)  # the large tier


def endpoint(name: str, tier: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": f"http://{name}.models:8000/v1", **kw}


def make_config(folder: Path, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "classifier": {"model": str(folder)},
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": "small-model"},
            {"name": "llm", "model": "large", "reference_model": "large-model"},
        ],
        "policy": {"gain_threshold": 0.3},
        "models": [
            endpoint("small", "slm", family="qwen3", local=True, price_input_per_m=1.0, price_output_per_m=2.0),
            endpoint("large", "llm", family="openai", modalities=["text", "image"], price_output_per_m=10.0),
            endpoint("backup", "llm", family="none", tool_calling=False),
        ],
        "fallback": ["backup"],
    }
    cfg.update(overrides)
    return cfg


def build_router(folder: Path, config: dict[str, Any], handler: Any = None) -> SemanticRouter:
    return SemanticRouter(config, backend=MockBackend(ModelFolder.load(folder).manifest, handler))


def _headers(pairs: dict[str, str]) -> Any:
    return base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in pairs.items()])


def request_headers(
    path: str = CHAT,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    end_of_stream: bool = False,
    peer: str | None = "10.0.0.7:51234",
) -> Any:
    h = {":method": method, ":path": path, ":authority": "router.local", ":scheme": "http"}
    if body is not None:
        h["content-type"] = "application/json"
        h["content-length"] = str(len(body))
    h["x-request-id"] = "req-1"
    h.update(headers or {})
    req = ep.ProcessingRequest(request_headers=ep.HttpHeaders(headers=_headers(h), end_of_stream=end_of_stream))
    if peer is not None:
        attrs = struct_pb2.Struct()
        attrs.update({"source.address": peer})
        req.attributes["envoy.filters.http.ext_proc"].CopyFrom(attrs)
    return req


def request_body(body: bytes, *, end_of_stream: bool = True) -> Any:
    return ep.ProcessingRequest(request_body=ep.HttpBody(body=body, end_of_stream=end_of_stream))


def response_headers(status: int = 200, content_type: str = "application/json", **extra: str) -> Any:
    h = {":status": str(status), "content-type": content_type, **{k.replace("_", "-"): v for k, v in extra.items()}}
    return ep.ProcessingRequest(response_headers=ep.HttpHeaders(headers=_headers(h)))


def response_body(body: bytes, *, end_of_stream: bool = False) -> Any:
    return ep.ProcessingRequest(response_body=ep.HttpBody(body=body, end_of_stream=end_of_stream))


def chat_body(content: str = SHORT, model: str = "auto", **params: Any) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": content}], **params}).encode()


def completion(content: str = "4", model: str = "small", usage: tuple[int, int] = (12, 3)) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }


def sse_chunks(text: str = "four", model: str = "small", usage: tuple[int, int] | None = (12, 3)) -> list[bytes]:
    """A streamed chat completion as SSE events, one per token, then the usage chunk and [DONE]."""
    events = []
    base = {"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": model}
    events.append({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for ch in text:
        events.append({**base, "choices": [{"index": 0, "delta": {"content": ch}, "finish_reason": None}]})
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if usage is not None:
        u = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
        events.append({**base, "choices": [], "usage": u})
    out = [f"data: {json.dumps(e)}\n\n".encode() for e in events]
    out.append(b"data: [DONE]\n\n")
    return out


def header_set(common: Any) -> dict[str, str]:
    """The headers a CommonResponse / ImmediateResponse sets, as a dict."""
    return {h.header.key: (h.header.raw_value or h.header.value.encode()).decode() for h in common.set_headers}


class EnvoyStream:
    """One ``Process`` stream, driven like Envoy: send a message, wait for its answer."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.call = ep_grpc.ExternalProcessorStub(channel).Process()

    async def send(self, message: Any) -> Any:
        await self.call.write(message)
        return await self.call.read()

    async def close(self) -> None:
        await self.call.done_writing()
