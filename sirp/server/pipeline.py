"""The steps every routed HTTP request shares, between parsing its body and calling the router.

``chat.py`` and ``responses.py`` differ in their wire formats only; both come here to:

1. read the body (size limit → 413, not JSON → 400);
2. resolve ``model``: the auto name routes, a configured model or tier name pins, else 404;
3. check the prompt's size (→ 413) and the hints in its headers (VAR modules, ``hints.py``);
4. admit the caller (access layer: 401 / 403 / 429, allowed models, rate-limit headers);
5. narrow the models that may answer: required capabilities, tier cap, the caller's rights;
6. build the router's parameters (``pii``, ``allowed_models``, ``reasoning``, ``cache``,
   identity headers for the model).

Then the route calls ``router.acomplete`` / ``router.astream`` and :func:`routed_headers` gives
its answer's SIRP headers. Steps 2-6 take no HTTP objects (:func:`plan_routing`), so the Envoy
external processor (:mod:`sirp.extproc`) takes the same steps with the headers Envoy sends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from sirp.config.base import TIER_ORDER
from sirp.config.schema import ModelConfig, RouterConfig
from sirp.config.server import ServerConfig
from sirp.decision import RoutingDecision
from sirp.errors import PromptTooLargeError
from sirp.prompts import to_routing_text
from sirp.server.admission import AccessLayer, AdmissionLike
from sirp.server.capabilities import Requirements, implied_requirements
from sirp.server.errors import APIError
from sirp.server.headers import HeaderNames, signal_headers
from sirp.server.hints import RequestHints, read_hints
from sirp.server.metrics import ServerMetrics
from sirp.server.store import ResponseStore

if TYPE_CHECKING:
    from sirp.router import SemanticRouter

__all__ = [
    "Routed",
    "ServerState",
    "check_size",
    "narrow",
    "parse_body",
    "plan_request",
    "plan_routing",
    "read_json",
    "resolve_model",
    "routed_headers",
    "state_of",
    "stream_cache",
]

#: ``reasoning_effort`` values that mean "do not reason".
_NO_REASONING = ("none", "minimal")

#: Parameters of sirp's Python API that a request body must not set: over HTTP they would let a
#: caller reach around the server's own rules (headers to the model, time budgets, privacy).
_PYTHON_ONLY = {
    "allowed_models": "send X-SIRP-Require or X-SIRP-Max-Tier to narrow the models",
    "pii": "send X-SIRP-Privacy: pii",
    "cache": "send Cache-Control: no-store (bypass) or no-cache (refresh)",
    "time_budget_s": "the server's dispatch.time_budget_s applies",
    "timeout": "the server's models[].timeout_s applies",
    "extra_headers": "headers to the model are the server's to set",
    "extra_query": "the model's URL is the server's to set",
    "extra_body": "put the fields in the body itself",
}


@dataclass
class ServerState:
    """Everything the routes share: the router, the store, the access layer, the metrics."""

    router: SemanticRouter
    names: HeaderNames
    store: ResponseStore
    access: AccessLayer
    metrics: ServerMetrics
    owns_router: bool = True
    models: dict[str, ModelConfig] = field(init=False)

    def __post_init__(self) -> None:
        self.models = {m.name: m for m in self.config.models}

    @property
    def config(self) -> RouterConfig:
        """The router's configuration."""
        return self.router.config

    @property
    def server(self) -> ServerConfig:
        """The ``server:`` section."""
        return self.router.config.server


@dataclass(frozen=True)
class Routed:
    """A request ready for the router: its messages and the parameters of ``acomplete``/``astream``."""

    messages: list[Any]
    params: dict[str, Any]
    admission: AdmissionLike
    hints: RequestHints
    model: str


def state_of(request: Request) -> ServerState:
    """The app's :class:`ServerState`."""
    state: ServerState = request.app.state.sirp
    return state


async def read_json(request: Request, limit: int) -> Any:
    """The request body as JSON, read up to ``limit`` bytes.

    Raises:
        PromptTooLargeError: the body is larger than ``limit`` (HTTP 413).
        APIError: 400 when the body is not JSON.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PromptTooLargeError(
            f"the request body has {int(declared):,} bytes, more than this server's limit of {limit:,} "
            "(server.max_request_bytes)",
            limit=limit,
            size=int(declared),
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():  # a chunked body has no Content-Length: count as it comes
        size += len(chunk)
        if size > limit:
            raise PromptTooLargeError(
                f"the request body is larger than this server's limit of {limit:,} bytes (server.max_request_bytes)",
                limit=limit,
                size=size,
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise APIError(400, "the request has no body; send a JSON object", code="invalid_json")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise APIError(400, f"the request body is not valid JSON: {err}", code="invalid_json") from None


def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_body(model: type[BaseModel], data: Any) -> Any:
    """Validate ``data`` against ``model``; the first problem becomes a 400 naming the field (``param``)."""
    if not isinstance(data, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(data).__name__}", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = _loc(first["loc"])
        more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
        raise APIError(400, f"{where}: {first['msg']}{more}", code="invalid_value", param=where or None) from None


def resolve_model(state: ServerState, name: str) -> str | None:
    """The model a request pins (``None``: the auto model, route). Tier names pin their tier's model.

    Raises:
        APIError: 503 when no models are configured; 404 for a name the server does not serve.
    """
    if not state.models:
        raise APIError(
            503,
            "this server has no models configured (models: in its config), so it can only classify (POST /v1/classify)",
            type="server_error",
            code="no_models_configured",
        )
    if name == state.server.auto_model:
        return None
    if name in state.models:
        return name
    tier = next((t for t in state.config.tiers if t.name == name), None)
    if tier is not None:
        return tier.model
    served = ", ".join([state.server.auto_model, *state.models])
    raise APIError(
        404,
        f"the model {name!r} does not exist on this server; it serves {served}",
        code="model_not_found",
        param="model",
    )


def _estimate_tokens(messages: Sequence[Any], max_tokens: int | None) -> int:
    # About four characters a token: a rate limiter's estimate, corrected by record_usage afterwards.
    chars = len(json.dumps(messages, ensure_ascii=False, default=str))
    return chars // 4 + (max_tokens or 0)


def check_size(state: ServerState, messages: Any) -> None:
    """Refuse a prompt whose last user turn is over ``classifier.max_prompt_chars`` (413).

    Raises:
        PromptTooLargeError: over the limit.
        InputError: a prompt that cannot be routed (no user turn, empty, not text).
    """
    limit = state.config.classifier.max_prompt_chars
    routing = to_routing_text(messages, window=0)  # also rejects messages that cannot be routed (400)
    if limit is not None and len(routing.text) > limit:
        raise PromptTooLargeError(
            f"the last user turn has {len(routing.text):,} characters, more than this server's limit of "
            f"{limit:,} (classifier.max_prompt_chars); shorten it",
            limit=limit,
            size=len(routing.text),
        )


def narrow(
    state: ServerState, need: Requirements, hints: RequestHints, rights: frozenset[str] | None, pin: str | None
) -> frozenset[str] | None:
    """The models that may answer: capable, within the tier cap and the caller's rights (``None``: any).

    Without ``models:`` (a routing-only server) nothing is known of capabilities: only the
    caller's rights narrow the choice.

    Raises:
        APIError: 400 when no model can serve the request, 403 when only models above the
            caller's rights could.
    """
    models = list(state.models.values())
    if not models:
        return rights
    capable = need.fitting(models) if need else None
    if capable is not None and not capable:
        raise APIError(
            400,
            f"no model on this server has what the request needs ({need.describe()}); models: "
            + "; ".join(f"{m.name} lacks {', '.join(need.missing(m))}" for m in models),
            code="no_eligible_model",
        )
    cap = hints.max_tier
    cheap = frozenset(m.name for m in models if TIER_ORDER[m.tier] <= TIER_ORDER[cap]) if cap is not None else None
    sets = [s for s in (capable, cheap, rights) if s is not None]
    allowed = frozenset.intersection(*sets) if sets else None
    if pin is not None:
        mc = state.models[pin]
        if capable is not None and pin not in capable:
            raise APIError(
                400,
                f"the model {pin!r} lacks what the request needs: {', '.join(need.missing(mc))}; "
                f"use {state.server.auto_model!r} to route to a model that has it",
                code="model_lacks_capability",
                param="model",
            )
        if rights is not None and pin not in rights:
            raise APIError(403, f"you may not use the model {pin!r}", type="permission_error", code="permission_denied")
        if cheap is not None and pin not in cheap:
            raise APIError(
                400,
                f"the model {pin!r} is of tier {mc.tier}, above the requested maximum tier {cap}",
                code="model_above_max_tier",
                param="model",
            )
    elif allowed is not None and not allowed:
        fits = [s for s in (capable, cheap) if s is not None]
        without_rights = frozenset.intersection(*fits) if fits else frozenset(m.name for m in models)
        if rights is not None and without_rights:
            raise APIError(
                403,
                "none of the models you may use fits this request"
                + (f" (it needs {need.describe()})" if need else "")
                + (f" at or below tier {cap}" if cap else ""),
                type="permission_error",
                code="permission_denied",
            )
        raise APIError(
            400,
            f"no model at or below tier {cap} has what the request needs ({need.describe()})",
            code="no_eligible_model",
        )
    return allowed


def _cache_mode(headers: Mapping[str, str]) -> str | None:
    # HTTP's own words: no-store = neither read nor write the cache; no-cache = do not answer from it.
    directives = {d.strip().lower() for d in headers.get("cache-control", "").split(",")}
    if "no-store" in directives:
        return "bypass"
    if "no-cache" in directives:
        return "refresh"
    return None


async def plan_request(
    request: Request,
    *,
    model: str,
    messages: list[Any],
    params: dict[str, Any],
    tools: Any = None,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
) -> Routed:
    """Steps 2-6 of the module docstring for one HTTP request (see :func:`plan_routing`).

    The admission's headers are kept on ``request.state`` as soon as the caller is admitted, so
    that an error answer from then on carries them too.
    """

    def admitted(admission: AdmissionLike) -> None:
        request.state.admission_headers = dict(admission.headers)

    return await plan_routing(
        state_of(request),
        request.headers,
        request.client.host if request.client else None,
        model=model,
        messages=messages,
        params=params,
        tools=tools,
        max_tokens=max_tokens,
        reasoning_effort=reasoning_effort,
        on_admitted=admitted,
    )


async def plan_routing(
    state: ServerState,
    headers: Mapping[str, str],
    peer: str | None,
    *,
    model: str,
    messages: list[Any],
    params: dict[str, Any],
    tools: Any = None,
    max_tokens: int | None = None,
    reasoning_effort: str | None = None,
    on_admitted: Callable[[AdmissionLike], None] | None = None,
) -> Routed:
    """Steps 2-6 of the module docstring, for any front door (``sirp serve``, ``sirp extproc``).

    Args:
        state: the shared router, header names, access layer and metrics.
        headers: the request's headers (case-insensitive lookups, like Starlette's ``Headers``).
        peer: the address of the peer that sent the request, if known.
        model: the requested model name.
        messages: the chat messages to route and send.
        params: the OpenAI chat parameters to forward (without ``model`` and ``messages``).
        tools: the request's tools (a non-empty list needs a model with tool calling).
        max_tokens: the most tokens the answer may take, for the rate limiter's estimate.
        reasoning_effort: the caller's own effort, if any: ``none``/``minimal`` force reasoning
            off, any other value forces it on (the effort itself stays the policy's).
        on_admitted: called with the admission as soon as the caller is admitted.
    """
    for name, instead in _PYTHON_ONLY.items():
        if name in params:
            raise APIError(
                400, f"{name} is not a parameter of this HTTP API ({instead})", code="invalid_value", param=name
            )
    pin = resolve_model(state, model)
    check_size(state, messages)
    hints = read_hints(headers, state.names, state.server)
    need = hints.require | implied_requirements(messages, tools)
    admission = await state.access.admit(
        headers,
        peer,
        model=pin or state.server.auto_model,
        estimated_tokens=_estimate_tokens(messages, max_tokens),
    )
    if on_admitted is not None:  # also on an error answer from here on
        on_admitted(admission)
    if pin is not None and getattr(admission, "reroute", False):
        pin = None  # above the caller's rights, and RBAC routes such pins down: route within its rights
    allowed = narrow(state, need, hints, admission.allowed_models, pin)
    out = dict(params)
    out["model"] = pin or "auto"
    if hints.pii is not None:
        out["pii"] = hints.pii
    if allowed is not None:
        out["allowed_models"] = allowed
    if reasoning_effort is not None:
        out["reasoning"] = reasoning_effort not in _NO_REASONING
    elif hints.urgent:
        out["reasoning"] = False
    if admission.upstream_headers:
        out["extra_headers"] = {**(out.get("extra_headers") or {}), **admission.upstream_headers}
    if (mode := _cache_mode(headers)) is not None:
        out["cache"] = mode
    return Routed(messages=messages, params=out, admission=admission, hints=hints, model=pin or state.server.auto_model)


def routed_headers(
    state: ServerState,
    decision: RoutingDecision,
    *,
    answered_by: str | None = None,
    cache: str | None = None,
    admission: AdmissionLike | None = None,
) -> dict[str, str]:
    """The headers of a routed answer: SIRP signalling, cache status, rate-limit headers."""
    headers = signal_headers(decision, state.names, answered_by=answered_by, cache=cache)
    if admission is not None:
        headers.update(admission.headers)
    return headers


def stream_cache(state: ServerState, stream: Any, params: Mapping[str, Any]) -> str | None:
    """What the semantic cache does for a stream, known before its first chunk; ``None`` without a cache."""
    if getattr(state.router, "cache", None) is None:
        return None
    from sirp.cache.streams import AsyncCachedStream

    if isinstance(stream, AsyncCachedStream):
        return "hit"
    if params.get("pii"):
        return "bypass"  # personal data never goes through the cache
    mode = params.get("cache")
    return str(mode) if mode is not None else "miss"
