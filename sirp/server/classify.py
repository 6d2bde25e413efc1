"""``POST /v1/classify``: routing decisions without calling any model.

One input::

    {"input": "What is the integral of x^2?"}            → {"object": "sirp.classification", "decision": {...}}
    {"messages": [{"role": "user", "content": "..."}]}   → the same, for a conversation

Many inputs (one classifier pass per ``classifier.batch_size``; at most ``server.max_batch_size``)::

    {"input": ["first", "second"]}   → {"object": "list", "data": [{"object": "sirp.classification", "index": 0, ...}]}

The request hints, the caller's rights and ``X-SIRP-Require`` shape the decisions exactly as
they would a completion; a single decision also comes with the SIRP headers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sirp.errors import InputError, PromptTooLargeError
from sirp.server.capabilities import Requirements, implied_requirements
from sirp.server.chat import ChatMessage
from sirp.server.errors import APIError
from sirp.server.hints import read_hints
from sirp.server.http import SirpRoute
from sirp.server.pipeline import check_size, narrow, parse_body, read_json, routed_headers, state_of

__all__ = ["ClassifyRequest", "router"]

router = APIRouter(route_class=SirpRoute)

_ENDPOINT = "/v1/classify"


class ClassifyRequest(BaseModel):
    """A classification request: ``input`` (one text or a list) or ``messages`` (one conversation)."""

    model_config = ConfigDict(extra="forbid")

    input: str | list[str] | None = None
    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    model: str | None = Field(default=None, description="accepted for client compatibility; decisions use routing")

    @model_validator(mode="after")
    def _one_of(self) -> ClassifyRequest:
        if (self.input is None) == (self.messages is None):
            raise ValueError("give exactly one of input (a text or a list of texts) or messages (one conversation)")
        return self


@router.post(_ENDPOINT, response_model=None)
async def classify(request: Request) -> Response:
    """Decide for one input or a batch; no model is called."""
    state = state_of(request)
    data = await read_json(request, state.server.max_request_bytes)
    body: ClassifyRequest = parse_body(ClassifyRequest, data)
    batch = isinstance(body.input, list)
    prompts: list[Any] = list(body.input) if isinstance(body.input, list) else [body.input or data["messages"]]
    if not prompts:
        raise APIError(400, "input is an empty list; give at least one text", code="invalid_value", param="input")
    if len(prompts) > state.server.max_batch_size:
        raise APIError(
            413,
            f"{len(prompts)} inputs is more than this server's limit of {state.server.max_batch_size} per request "
            "(server.max_batch_size); split the batch",
            code="too_many_inputs",
            param="input",
        )
    for i, p in enumerate(prompts):
        try:
            check_size(state, p)
        except PromptTooLargeError as err:
            raise PromptTooLargeError(f"input[{i}]: {err}", limit=err.limit, size=err.size) if batch else err from None
        except InputError as err:
            raise InputError(f"input[{i}]: {err}") if batch else err from None
    hints = read_hints(request.headers, state.names, state.server)
    admission = await state.access.admit(
        request.headers,
        request.client.host if request.client else None,
        model=state.server.auto_model,
        estimated_tokens=0,
    )
    request.state.admission_headers = dict(admission.headers)
    implied = implied_requirements(data["messages"]) if body.messages is not None else Requirements()
    allowed = narrow(state, hints.require | implied, hints, admission.allowed_models, None)
    decisions = await state.router.aroute_batch(prompts, pii=hints.pii, allowed_models=allowed)
    for d in decisions:
        state.metrics.decision(_ENDPOINT, d)
    if not batch:
        headers = routed_headers(state, decisions[0], admission=admission)
        payload = {"object": "sirp.classification", "decision": decisions[0].model_dump(mode="json")}
        return JSONResponse(payload, headers=headers)
    data_out = [
        {"object": "sirp.classification", "index": i, "decision": d.model_dump(mode="json")}
        for i, d in enumerate(decisions)
    ]
    return JSONResponse({"object": "list", "data": data_out}, headers=dict(admission.headers))
