"""``POST /v1/chat/completions``: OpenAI Chat Completions, routed by sirp; JSON or server-sent events.

The body is OpenAI's; every field sirp does not consume travels to the model as it came (tools,
``response_format``, vendor extensions such as ``chat_template_kwargs``). sirp consumes:

- ``model``: the auto name (``server.auto_model``) routes; a configured model or tier name pins;
- ``stream``, ``stream_options``: the answer is streamed as OpenAI chunks; sirp always asks the
  model for usage (for cost and rate limits) but passes the usage chunk on only when the caller
  asked for it (``stream_options.include_usage``);
- ``reasoning_effort`` (or ``reasoning: {effort}``): forces reasoning on (``low``, ``medium``,
  ``high``) or off (``none``, ``minimal``); the model's family decides how that is written.

Parameters of sirp's Python API that would reach around the server's rules (``allowed_models``,
``pii``, ``cache``, ``timeout``, ``extra_headers``, ...) are refused with a 400 that names the
header to use instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from sirp.server.errors import APIError, api_error
from sirp.server.http import SirpRoute, request_id, sse
from sirp.server.pipeline import parse_body, plan_request, read_json, routed_headers, state_of, stream_cache

__all__ = ["ChatCompletionRequest", "router"]

router = APIRouter(route_class=SirpRoute)

#: Headers of every event stream: no caching, no proxy buffering (nginx), so chunks flow as they come.
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


class ChatMessage(BaseModel):
    """One message; only what routing needs is checked, the rest travels as given."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """The fields of a chat completion request that sirp checks (every other field passes through)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    n: int | None = Field(default=None, ge=1, le=128)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None


# consumed by sirp: never forwarded as they came
_CONSUMED = ("model", "messages", "stream", "stream_options", "reasoning_effort")


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(request: Request) -> Response:
    """Route a chat completion and answer it (JSON, or SSE chunks with ``stream: true``)."""
    state = state_of(request)
    data = await read_json(request, state.server.max_request_bytes)
    body: ChatCompletionRequest = parse_body(ChatCompletionRequest, data)
    params = {k: v for k, v in data.items() if k not in _CONSUMED}
    routed = await plan_request(
        request,
        model=body.model,
        messages=data["messages"],
        params=params,
        tools=body.tools,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        reasoning_effort=body.reasoning_effort or effort_of(params.pop("reasoning", None)),
    )
    if body.stream:
        return await _stream(request, routed, include_usage=bool((body.stream_options or {}).get("include_usage")))
    try:
        result = await state.router.acomplete(routed.messages, **routed.params)
    except Exception as exc:
        state.metrics.attempts(getattr(exc, "attempts", []))
        raise
    state.metrics.decision("/v1/chat/completions", result.decision)
    state.metrics.completion(result)
    await state.access.record_usage(routed.admission, result.usage.total_tokens if result.usage else 0)
    headers = routed_headers(
        state, result.decision, answered_by=result.model, cache=result.cache, admission=routed.admission
    )
    return JSONResponse(result.completion.to_dict(mode="json"), headers=headers)


def effort_of(reasoning: Any) -> str | None:
    """The effort of a ``reasoning: {effort: ...}`` object (OpenRouter's and the Responses API's spelling)."""
    if reasoning is None:
        return None
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    if not isinstance(effort, str):
        raise APIError(
            400, "reasoning must be an object like {effort: high}; or send reasoning_effort", param="reasoning"
        )
    return effort


async def _stream(request: Request, routed: Any, *, include_usage: bool) -> Response:
    state = state_of(request)
    try:
        stream = await state.router.astream(routed.messages, **routed.params)
    except Exception as exc:
        state.metrics.attempts(getattr(exc, "attempts", []))
        raise
    decision = stream.decision
    state.metrics.decision("/v1/chat/completions", decision)
    headers = {
        **SSE_HEADERS,
        **routed_headers(
            state,
            decision,
            answered_by=stream.model,
            cache=stream_cache(state, stream, routed.params),
            admission=routed.admission,
        ),
    }
    rid = request_id(request)

    async def events() -> AsyncIterator[bytes]:
        try:
            async for chunk in stream:
                data = chunk.to_dict(mode="json")
                if not include_usage:
                    if not data.get("choices") and data.get("usage") is not None:
                        continue  # the usage chunk sirp asked for itself
                    data.pop("usage", None)
                yield sse(data)
            result = stream.result
            state.metrics.completion(result)
            await state.access.record_usage(routed.admission, result.usage.total_tokens if result.usage else 0)
            yield sse("[DONE]")
        except Exception as exc:  # the status is out already: the error goes in the stream
            state.metrics.attempts(getattr(exc, "attempts", []))
            err = api_error(exc, request_id=rid)
            state.metrics.errors.labels("/v1/chat/completions", err.type, str(err.status_code)).inc()
            yield sse(err.body())
        finally:
            with anyio.CancelScope(shield=True):  # the caller may have gone: still release the model's stream
                await stream.aclose()

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
