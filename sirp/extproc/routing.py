"""One request's body, decided: the server's pipeline, then mutations Envoy applies instead of a model call.

The steps are ``sirp serve``'s, in the same order and from the same code::

    body ─► size (413), JSON (400), the endpoint's fields (400)        sirp/server/pipeline.py, chat.py, responses.py
         ─► plan_routing: model, prompt size, hints, access, narrowing   sirp/server/pipeline.py
         ─► route + guards (one classifier pass; a blocked jailbreak → 403) sirp/router.py, sirp/guards/apply.py
         ─► semantic cache lookup (a hit is answered right here)          sirp/cache/dispatch.py
         ─► plan, system prompt, tools, the family's reasoning syntax      sirp/providers/client.py, reasoning.py
         ─► the body the model gets, and the headers: destination, x-sirp-*, identity, key

Where ``sirp serve`` would now call the model, this returns the new body and headers, and Envoy
sends them to the cluster of the chosen model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sirp.cache.dispatch import pop_cache_mode
from sirp.config.schema import ModelConfig
from sirp.decision import RoutingDecision
from sirp.errors import PromptTooLargeError, RequestBlockedError
from sirp.guards.apply import guard_request
from sirp.providers.reasoning import apply_reasoning
from sirp.server.admission import AdmissionLike
from sirp.server.chat import ChatCompletionRequest, effort_of
from sirp.server.errors import APIError, api_error
from sirp.server.headers import signal_headers
from sirp.server.pipeline import ServerState, parse_body, plan_routing
from sirp.server.responses import ResponsesRequest
from sirp.server.responses_format import input_items, to_messages

__all__ = ["CHAT", "RESPONSES", "Outcome", "decide", "error_outcome"]

logger = logging.getLogger(__name__)

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"

#: Chat fields sirp reads itself; every other field stays in the body as the client sent it.
_CONSUMED = ("model", "messages", "stream", "stream_options", "reasoning_effort")

Kind = Literal["routed", "pinned", "passthrough", "cache_hit", "refused"]


@dataclass
class Outcome:
    """What Envoy is told to do with one request.

    ``routed`` and ``pinned``: continue with ``body`` (``None``: unchanged) and the header
    changes, to the cluster of ``model``; ``passthrough``: continue untouched; ``cache_hit`` and
    ``refused``: answer the client now with ``status``, ``body`` and ``response_headers``.
    """

    kind: Kind
    status: int = 200
    body: bytes | None = None
    set_headers: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    response_headers: dict[str, str] = field(default_factory=dict)
    decision: RoutingDecision | None = None
    model: str | None = None
    stream: bool = False
    include_usage: bool = False
    admission: AdmissionLike | None = None
    store: Any = None
    """the semantic cache's plan for this request, when its answer is to be stored"""
    error: APIError | None = None


def _json_body(raw: bytes, limit: int) -> dict[str, Any]:
    if len(raw) > limit:
        raise PromptTooLargeError(
            f"the request body has {len(raw):,} bytes, more than this router's limit of {limit:,} "
            "(server.max_request_bytes)",
            limit=limit,
            size=len(raw),
        )
    if not raw.strip():
        raise APIError(400, "the request has no body; send a JSON object", code="invalid_json")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise APIError(400, f"the request body is not valid JSON: {err}", code="invalid_json") from None
    if not isinstance(data, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(data).__name__}", code="invalid_json")
    return data


def _dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_outcome(err: APIError, *, request_id: str | None = None) -> Outcome:
    """A refusal in OpenAI's error format."""
    headers = {"content-type": "application/json", **err.headers}
    if request_id:
        headers["x-request-id"] = request_id
    return Outcome(kind="refused", status=err.status_code, body=_dumps(err.body()), response_headers=headers, error=err)


def refusal(exc: BaseException, *, request_id: str | None = None) -> APIError:
    """The :class:`APIError` a refused request is answered with (a blocked jailbreak: 403)."""
    if isinstance(exc, RequestBlockedError):
        code = getattr(exc, "code", None)
        return APIError(403, str(exc), code=code if isinstance(code, str) and code else "request_blocked")
    return api_error(exc, request_id=request_id)


def _served(state: ServerState, name: str) -> bool:
    """The name asks sirp to route, or names a configured model or tier."""
    return name == state.server.auto_model or name in state.models or any(t.name == name for t in state.config.tiers)


async def decide(
    state: ServerState, endpoint: str, headers: Mapping[str, str], peer: str | None, raw: bytes
) -> Outcome:
    """Decide one buffered request body to ``endpoint``.

    Raises:
        APIError, SirpError: the request is refused (turn them into :func:`error_outcome`).
        Exception: anything else is an internal failure (fail open or closed).
    """
    cfg = state.server.extproc
    data = _json_body(raw, state.server.max_request_bytes)
    if endpoint == CHAT:
        chat: ChatCompletionRequest = parse_body(ChatCompletionRequest, data)
        model, stream, tools = chat.model, chat.stream, chat.tools
        messages: list[Any] = data["messages"]
        params = {k: v for k, v in data.items() if k not in _CONSUMED}
        effort = chat.reasoning_effort or effort_of(params.pop("reasoning", None))
        max_tokens = chat.max_completion_tokens or chat.max_tokens
        include_usage = bool((chat.stream_options or {}).get("include_usage"))
    else:
        resp: ResponsesRequest = parse_body(ResponsesRequest, data)
        model, stream, tools = resp.model, resp.stream, resp.tools
        messages = to_messages(input_items(resp.input), resp.instructions)
        params = {}
        raw_effort = (resp.reasoning or {}).get("effort")
        effort = raw_effort if isinstance(raw_effort, str) else None
        max_tokens = resp.max_output_tokens
        include_usage = True
    if not _served(state, model):
        # a model sirp does not serve: Envoy's own routes decide where it goes
        return Outcome(kind="passthrough", model=model, stream=stream)
    routed = await plan_routing(
        state,
        headers,
        peer,
        model=model,
        messages=messages,
        params=params,
        tools=tools,
        max_tokens=max_tokens,
        reasoning_effort=effort,
    )
    identity = _identity_headers(state)
    if routed.model != state.server.auto_model:
        return _pinned(state, routed.model, data, routed.admission, identity, stream=stream)
    prepared = await asyncio.wait_for(
        asyncio.to_thread(_prepare, state, routed.messages, routed.params, stream=stream, chat=endpoint == CHAT),
        cfg.decision_timeout_s,
    )
    decision = prepared.decision
    admission_headers = dict(routed.admission.headers)
    if prepared.hit is not None:
        return _cache_hit(state, prepared, admission_headers, stream=stream, include_usage=include_usage)
    mc = prepared.model
    assert mc is not None  # only a cache hit has no model to call
    if endpoint == CHAT:
        body = prepared.body
        if stream:
            body["stream"] = True
    else:
        body = _responses_body(data, mc, decision, prepared.budget)
    out = _dumps(body)
    set_headers = {
        "content-length": str(len(out)),
        cfg.destination_header: mc.name,
        **signal_headers(decision, state.names, cache=prepared.cache),
        **prepared.extra_headers,
    }
    if (key := _api_key(state, mc)) is not None:
        set_headers["authorization"] = f"Bearer {key}"
    remove = [h for h in identity if h not in {k.lower() for k in prepared.extra_headers}]
    response_headers = {
        **signal_headers(decision, state.names, answered_by=mc.name, cache=prepared.cache),
        **admission_headers,
    }
    return Outcome(
        kind="routed",
        body=out,
        set_headers=set_headers,
        remove=remove,
        response_headers=response_headers,
        decision=decision,
        model=mc.name,
        stream=stream,
        include_usage=include_usage,
        admission=routed.admission,
        store=prepared.store,
    )


def _identity_headers(state: ServerState) -> list[str]:
    """The identity headers a client may not set itself (only the access layer forwards them)."""
    a = state.server.access
    return [a.user_header.lower(), a.groups_header.lower(), a.tenant_header.lower()]


def _pinned(
    state: ServerState,
    pin: str,
    data: dict[str, Any],
    admission: AdmissionLike,
    identity: list[str],
    *,
    stream: bool,
) -> Outcome:
    """A configured model asked for by name: the body goes on untouched (a tier name becomes its model's)."""
    mc = state.models[pin]
    body = None
    set_headers = {state.server.extproc.destination_header: pin, **admission.upstream_headers}
    if data.get("model") != pin:
        data = {**data, "model": pin}
        body = _dumps(data)
        set_headers["content-length"] = str(len(body))
    if (key := _api_key(state, mc)) is not None:
        set_headers["authorization"] = f"Bearer {key}"
    upstream = {k.lower() for k in admission.upstream_headers}
    return Outcome(
        kind="pinned",
        body=body,
        set_headers=set_headers,
        remove=[h for h in identity if h not in upstream],
        response_headers=dict(admission.headers),
        model=pin,
        stream=stream,
        admission=admission,
    )


_warned_keys: set[str] = set()


def _api_key(state: ServerState, mc: ModelConfig) -> str | None:
    """The chosen model's API key, when sirp is to set it (``inject_api_keys``) and it has exactly one."""
    if not state.server.extproc.inject_api_keys:
        return None
    names = {p.api_key_env for p in mc.endpoints()}
    if names == {None}:
        return None
    if len(names) != 1:
        if mc.name not in _warned_keys:
            _warned_keys.add(mc.name)
            logger.warning("model %r has providers with different api_key_env: set their keys in Envoy", mc.name)
        return None
    (name,) = names
    value = os.environ.get(name) if name else None
    if not value and mc.name not in _warned_keys:
        _warned_keys.add(mc.name)
        logger.warning("model %r: the environment variable %s (api_key_env) is not set", mc.name, name)
    return value or None


@dataclass
class _Prepared:
    decision: RoutingDecision
    model: ModelConfig | None
    body: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    cache: str | None = None
    store: Any = None
    hit: Any = None


def _prepare(state: ServerState, messages: Any, params: Mapping[str, Any], *, stream: bool, chat: bool) -> _Prepared:
    """Everything ``router.acomplete`` does before it calls the model (a worker thread: the classifier runs).

    Raises:
        RequestBlockedError: the jailbreak guard refused the request.
        NoEligibleModelError, InputError: the request cannot be served.
    """
    router = state.router
    p = dict(params)
    pii, allowed = p.pop("pii", None), p.pop("allowed_models", None)
    mode = pop_cache_mode(p, pii=pii) if chat else "bypass"  # a Responses answer is not a chat completion
    decision, vector = router.route_and_embed(messages, pii=pii, allowed_models=allowed)
    decision, sent = guard_request(decision, messages, router.config, p.get("model"))
    if not chat and sent is not messages:
        # the body goes on as the client wrote it: a Responses input cannot be masked item by item here
        raise APIError(
            400,
            "the request carries personal data that must be masked for the model it goes to, and a Responses "
            "request cannot be masked on its way through the proxy; send it to /v1/chat/completions",
            code="pii_mask_unsupported",
        )
    if decision.pii_detected:
        mode = "bypass"  # personal data never goes through the cache
    cache_label: str | None = None
    store = None
    cached = router._cached if router.cache is not None else None
    if cached is not None:
        plan = cached.plan(sent, p, mode, lambda _m: (decision, vector))
        cache_label = plan.label
        if plan.hit is not None:
            hit = cached.hit_result(plan)
            return _Prepared(decision=hit.decision, model=state.models.get(hit.model), cache="hit", hit=hit)
        if plan.key is not None and (not stream or cached.cache.config.cache_streams):
            store = plan
        elif stream:
            cache_label = "bypass"
    d = router.dispatcher
    req = d.request(sent, p, stream=stream)
    decision, chain = d.plan(decision, req)
    if chat:
        decision, req = d.prepare(decision, req)
    mc = chain[0]
    return _Prepared(
        decision=decision,
        model=mc,
        body=d.payload(mc, decision, req, stream=stream) if chat else {},
        budget=d.budget(mc, decision),
        extra_headers=dict(req.extra_headers),
        cache=cache_label,
        store=store,
    )


def _responses_body(
    data: dict[str, Any], mc: ModelConfig, decision: RoutingDecision, budget: int | None
) -> dict[str, Any]:
    """A Responses request for ``mc``: its name, and the family's reasoning in the Responses API's spelling.

    ``reasoning_effort`` becomes ``reasoning.effort``; the ``prompt`` family's instruction goes
    first in ``instructions``; other families' fields (``chat_template_kwargs``, ``thinking``)
    are top-level keys, as in chat.
    """
    base = {k: v for k, v in data.items() if k != "messages"}
    base["model"] = mc.name
    out = apply_reasoning(base, mc.family, decision.reasoning, decision.reasoning_effort, budget)
    added = out.pop("messages", None)
    if added:  # the prompt family: its instruction, as the one system message of an empty conversation
        cot = added[0]["content"]
        instructions = data.get("instructions")
        out["instructions"] = f"{cot}\n\n{instructions}" if instructions else cot
    if "reasoning_effort" in out:
        effort = out.pop("reasoning_effort")
        current = out.get("reasoning")
        out["reasoning"] = {**(current if isinstance(current, dict) else {}), "effort": effort}
    return out


def _cache_hit(
    state: ServerState, prepared: _Prepared, admission_headers: dict[str, str], *, stream: bool, include_usage: bool
) -> Outcome:
    """The cached completion, as JSON or as the chunks of a stream."""
    from sirp.cache.streams import chunks_of

    hit = prepared.hit
    response = hit.completion.model_dump(mode="json")
    headers = {
        **signal_headers(hit.decision, state.names, answered_by=hit.model, cache="hit"),
        **admission_headers,
    }
    if stream:
        events = [c.to_dict(mode="json") for c in chunks_of(response)]
        body = b"".join(b"data: " + _dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"
        headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
    else:
        body = _dumps(response)
        headers["content-type"] = "application/json"
    return Outcome(
        kind="cache_hit",
        status=200,
        body=body,
        response_headers=headers,
        decision=hit.decision,
        model=hit.model,
        stream=stream,
        include_usage=include_usage,
    )
