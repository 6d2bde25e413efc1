"""The OpenAI Responses API: ``POST /v1/responses``, ``GET``/``DELETE /v1/responses/{id}``,
``GET /v1/responses/{id}/input_items``, with ``previous_response_id`` chaining.

A request is translated into a chat completion (``responses_format.py``), routed and answered
like ``/v1/chat/completions``, and the answer translated back. With ``store`` (the default) the
response is kept in the response store (``server.responses``) together with its input and the
context it continued from, so that a later request can continue it by ``previous_response_id``
on any replica that shares the store. As in OpenAI's API, ``instructions`` are not carried over
to a chained response. When the access layer knows the caller (user, tenant), a stored response
is theirs: anyone else gets a 404 for it, as if it did not exist.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal

import anyio
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from sirp.server.chat import SSE_HEADERS
from sirp.server.errors import APIError, api_error
from sirp.server.http import SirpRoute, request_id, sse
from sirp.server.pipeline import (
    Routed,
    ServerState,
    parse_body,
    plan_request,
    read_json,
    routed_headers,
    state_of,
    stream_cache,
)
from sirp.server.responses_format import (
    ResponseEvents,
    chat_params,
    input_items,
    new_id,
    output_items,
    response_object,
    to_messages,
    usage_object,
)
from sirp.server.store import StoredResponse

__all__ = ["ResponsesRequest", "router"]

router = APIRouter(route_class=SirpRoute)

_ENDPOINT = "/v1/responses"


class ResponsesRequest(BaseModel):
    """The fields of a Responses request that sirp checks (other fields pass through or are ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[Any]
    instructions: str | None = None
    previous_response_id: str | None = None
    stream: bool = False
    store: bool = True
    tools: list[Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1)
    reasoning: dict[str, Any] | None = None
    metadata: dict[str, str] | None = None


def owner_of(admission: Any) -> dict[str, str | None] | None:
    """Who an admission says is calling (user, tenant), or ``None`` when nobody is known."""
    identity = getattr(admission, "identity", None)
    user, tenant = getattr(identity, "user", None), getattr(identity, "tenant", None)
    return {"user": user, "tenant": tenant} if user or tenant else None


def _may_use(record: StoredResponse, admission: Any) -> bool:
    return record.owner is None or record.owner == owner_of(admission)


async def _owned(request: Request, response_id: str) -> StoredResponse:
    """The stored response, when the caller may use it (the access layer admits the request first)."""
    state = state_of(request)
    admission = await state.access.admit(
        request.headers,
        request.client.host if request.client else None,
        model=state.server.auto_model,
        estimated_tokens=0,
    )
    request.state.admission_headers = dict(admission.headers)
    record = await state.store.get(response_id)
    if record is None or not _may_use(record, admission):
        raise _not_found(response_id)
    return record


def _not_found(response_id: str, param: str | None = None) -> APIError:
    return APIError(
        404,
        f"no response with id {response_id!r}: it was never stored, or it expired or was deleted",
        code="response_not_found",
        param=param,
    )


@router.post(_ENDPOINT, response_model=None)
async def create_response(request: Request) -> Response:
    """Route a Responses request and answer it (a Response object, or its stream of events)."""
    state = state_of(request)
    data = await read_json(request, state.server.max_request_bytes)
    body: ResponsesRequest = parse_body(ResponsesRequest, data)
    params = chat_params(data)  # 400 for what cannot be served, before any routing
    items = input_items(body.input)
    previous: StoredResponse | None = None
    if body.previous_response_id is not None:
        previous = await state.store.get(body.previous_response_id)
        if previous is None:
            raise _not_found(body.previous_response_id, "previous_response_id")
    history = previous.context() if previous is not None else []
    messages = to_messages([*history, *items], body.instructions)
    effort = (body.reasoning or {}).get("effort")
    routed = await plan_request(
        request,
        model=body.model,
        messages=messages,
        params=params,
        tools=params.get("tools"),
        max_tokens=body.max_output_tokens,
        reasoning_effort=effort if isinstance(effort, str) else None,
    )
    if previous is not None and not _may_use(previous, routed.admission):
        raise _not_found(previous.id, "previous_response_id")  # not the caller's: as if it did not exist
    turn = _Turn(state, data, body, items, history, routed)
    if body.stream:
        return await turn.stream(request)
    return await turn.complete()


class _Turn:
    """One Responses request on its way: routed, answered, stored."""

    def __init__(
        self,
        state: ServerState,
        data: dict[str, Any],
        body: ResponsesRequest,
        items: list[dict[str, Any]],
        history: list[dict[str, Any]],
        routed: Routed,
    ) -> None:
        self.state = state
        self.data = data
        self.body = body
        self.items = items
        self.history = history
        self.routed = routed
        self.response_id = new_id("resp")
        self.created_at = time.time()

    def _effort(self, decision: Any) -> str | None:
        return decision.reasoning_effort if decision.reasoning else None

    async def _store(self, response: dict[str, Any]) -> None:
        if self.body.store:
            record = StoredResponse(
                response=response, input_items=self.items, history=self.history, owner=owner_of(self.routed.admission)
            )
            await self.state.store.put(record)

    async def complete(self) -> Response:
        state = self.state
        try:
            result = await state.router.acomplete(self.routed.messages, **self.routed.params)
        except Exception as exc:
            state.metrics.attempts(getattr(exc, "attempts", []))
            raise
        state.metrics.decision(_ENDPOINT, result.decision)
        state.metrics.completion(result)
        await state.access.record_usage(self.routed.admission, result.usage.total_tokens if result.usage else 0)
        output, status, incomplete = output_items(result.completion)
        response = response_object(
            self.data,
            response_id=self.response_id,
            model=result.model,
            created_at=self.created_at,
            status=status,
            output=output,
            usage=usage_object(result.usage),
            incomplete_details=incomplete,
            reasoning_effort=self._effort(result.decision),
        )
        await self._store(response)
        headers = routed_headers(
            state, result.decision, answered_by=result.model, cache=result.cache, admission=self.routed.admission
        )
        return JSONResponse(response, headers=headers)

    async def stream(self, request: Request) -> Response:
        state = self.state
        try:
            stream = await state.router.astream(self.routed.messages, **self.routed.params)
        except Exception as exc:
            state.metrics.attempts(getattr(exc, "attempts", []))
            raise
        decision = stream.decision
        state.metrics.decision(_ENDPOINT, decision)
        cache = stream_cache(state, stream, self.routed.params)
        headers = {
            **SSE_HEADERS,
            **routed_headers(state, decision, answered_by=stream.model, cache=cache, admission=self.routed.admission),
        }
        base = response_object(
            self.data,
            response_id=self.response_id,
            model=stream.model,
            created_at=self.created_at,
            status="in_progress",
            output=[],
            reasoning_effort=self._effort(decision),
        )
        writer = ResponseEvents(base)
        rid = request_id(request)

        async def events() -> AsyncIterator[bytes]:
            try:
                for kind, event in writer.start():
                    yield sse(event, kind)
                async for chunk in stream:
                    for kind, event in writer.chunk(chunk):
                        yield sse(event, kind)
                result = stream.result
                state.metrics.completion(result)
                await state.access.record_usage(self.routed.admission, result.usage.total_tokens if result.usage else 0)
                final = writer.finish(usage_object(result.usage))
                await self._store(final[-1][1]["response"])
                for kind, event in final:
                    yield sse(event, kind)
            except Exception as exc:  # the status is out already: the failure goes in the stream
                state.metrics.attempts(getattr(exc, "attempts", []))
                err = api_error(exc, request_id=rid)
                state.metrics.errors.labels(_ENDPOINT, err.type, str(err.status_code)).inc()
                for kind, event in writer.fail({"code": err.code or err.type, "message": err.message}):
                    yield sse(event, kind)
            finally:
                with anyio.CancelScope(shield=True):  # the caller may have gone: still release the model's stream
                    await stream.aclose()

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.get(_ENDPOINT + "/{response_id}", response_model=None)
async def get_response(request: Request, response_id: str) -> Response:
    """A stored response."""
    record = await _owned(request, response_id)
    return JSONResponse(record.response, headers=request.state.admission_headers)


@router.delete(_ENDPOINT + "/{response_id}", response_model=None)
async def delete_response(request: Request, response_id: str) -> Response:
    """Forget a stored response."""
    await _owned(request, response_id)
    if not await state_of(request).store.delete(response_id):
        raise _not_found(response_id)
    body = {"id": response_id, "object": "response.deleted", "deleted": True}
    return JSONResponse(body, headers=request.state.admission_headers)


@router.get(_ENDPOINT + "/{response_id}/input_items", response_model=None)
async def list_input_items(
    request: Request,
    response_id: str,
    limit: int = 20,
    order: Literal["asc", "desc"] = "desc",
    after: str | None = None,
    before: str | None = None,
) -> Response:
    """The input items of a stored response (its own input, not the chain's), paginated like OpenAI's lists."""
    if not 1 <= limit <= 100:
        raise APIError(400, f"limit must be between 1 and 100, got {limit}", code="invalid_value", param="limit")
    record = await _owned(request, response_id)
    items = record.input_items if order == "asc" else list(reversed(record.input_items))
    ids = [i.get("id") for i in items]
    start, stop = 0, len(items)
    if after is not None:
        if after not in ids:
            raise APIError(400, f"after: no input item {after!r} in this response", code="invalid_value", param="after")
        start = ids.index(after) + 1
    if before is not None:
        if before not in ids:
            raise APIError(
                400, f"before: no input item {before!r} in this response", code="invalid_value", param="before"
            )
        stop = ids.index(before)
    window = items[start:stop]
    page = window[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(window) > limit,
        },
        headers=request.state.admission_headers,
    )
