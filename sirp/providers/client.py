"""Calling the chosen model: routing plan, retries with backoff, fallbacks, streams, usage and cost.

One request's path (``SemanticRouter.complete`` and friends)::

    _Request (caller's messages and OpenAI params)  ──► route ──► plan (pin, access, forced reasoning, chain)
      ──► for each model of the chain: a provider (balancer), fail over to its other providers,
          retry transient failures with backoff, then fall back     (schedule.py, one driver per sync/async)
      ──► RoutedCompletion (completion, decision, usage, cost, latency, attempts, provider)
          or AllAttemptsFailedError listing every attempt

Every call goes through the official ``openai`` client (any OpenAI-compatible server: vLLM,
OpenAI, Ollama, llama.cpp, ...), with its own retries off: sirp retries itself, so that the
request's overall time budget, the fallback order and the attempt record stay in one place.
The ``openai`` package is imported on the first call, never when ``sirp`` is imported.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from sirp._imports import require
from sirp.config.providers import ProviderEndpoint
from sirp.config.schema import ModelConfig, RouterConfig
from sirp.decision import RoutingDecision, TraceStep
from sirp.errors import (
    ConfigError,
    InputError,
    NoEligibleModelError,
    PromptTypeError,
    UpstreamError,
)
from sirp.policy.default import reasoning_budget
from sirp.policy.overrides import force_reasoning
from sirp.prompts import to_routing_text
from sirp.providers.balancer import Balancer
from sirp.providers.reasoning import apply_reasoning, prepend_system
from sirp.providers.result import RoutedCompletion
from sirp.providers.schedule import Schedule, Target
from sirp.providers.streams import AsyncRoutedStream, RoutedStream, _Accumulator
from sirp.providers.tools import Embed, ToolFilter
from sirp.providers.upstream import to_upstream_error
from sirp.providers.usage import Usage

if TYPE_CHECKING:
    from openai import AsyncOpenAI, AsyncStream, OpenAI, Stream
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

__all__ = ["AsyncRoutedStream", "Dispatcher", "RoutedStream"]

_TIERS = ("slm", "srm", "llm", "lrm")

#: Sent when a model has no ``api_key_env``: the client needs some key, local servers ignore it.
_NO_KEY = "sirp-no-key"
#: Seconds an idle connection to a model server is kept; below uvicorn's 5 s keep-alive timeout.
KEEPALIVE_EXPIRY_S = 2.0

_T = TypeVar("_T")

#: Parameters sirp consumes itself rather than forwarding in the request body.
_SIRP_PARAMS = (
    "model",
    "reasoning",
    "stream",
    "time_budget_s",
    "timeout",
    "extra_headers",
    "extra_query",
    "extra_body",
)


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


@dataclass(frozen=True)
class _Request:
    """A caller's request, split into what routing, sirp and the endpoint each need."""

    messages: list[Any]
    body: dict[str, Any]
    pin: str | None
    reasoning: bool | None
    extra_headers: dict[str, str]
    extra_query: dict[str, Any] | None
    timeout_s: float | None
    time_budget_s: float


def _as_messages(messages: Any) -> list[Any]:
    if isinstance(messages, bytes):
        messages = messages.decode("utf-8", errors="replace")
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    if isinstance(messages, Mapping) or not isinstance(messages, Sequence):
        raise PromptTypeError(
            "messages must be a string or a list of chat messages ({'role': ..., 'content': ...}), "
            f"got {type(messages).__name__}"
        )
    return list(messages)


def _positive(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def _check_completion(completion: Any, model: str) -> ChatCompletion:
    from openai.types.chat import ChatCompletion

    # The client hands back the raw text when the body is not JSON, and builds a model without
    # validation when it is JSON of another shape: both are answers sirp cannot use.
    if not isinstance(completion, ChatCompletion) or not isinstance(getattr(completion, "choices", None), list):
        shown = " ".join(str(completion).split())[:200]
        raise UpstreamError(
            f"answered with something that is not a chat completion: {shown!r}; "
            "is base_url an OpenAI-compatible /v1 endpoint?",
            model=model,
            kind="invalid_response",
        )
    return completion


class Dispatcher:
    """Calls the model a routing decision chose, with failover, retries, fallbacks, usage and cost.

    Built by :class:`~sirp.SemanticRouter` from its config's ``models``, ``fallback`` and
    ``dispatch`` sections; one ``openai`` client per provider URL (per event loop for async) is
    made on first use and reused. ``embed`` (the router's classifier embeddings) serves tool
    pre-filtering (``policy.tools``). ``balancer`` picks each call's provider and keeps their
    health (default: one built from the config; pass one with a seeded ``rng`` for reproducible
    load balancing).
    """

    def __init__(self, config: RouterConfig, *, embed: Embed | None = None, balancer: Balancer | None = None) -> None:
        self.config = config
        self.models = {m.name: m for m in config.models}
        self.tiers = {t.name: t for t in config.tiers}
        self.tools = ToolFilter(config.policy.tools, embed)
        self.balancer = balancer if balancer is not None else Balancer(config.models, config.dispatch.health)
        self._lock = threading.Lock()
        self._clients: dict[str, OpenAI] = {}
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, AsyncOpenAI]] = (
            weakref.WeakKeyDictionary()
        )

    # -- request and plan ----------------------------------------------------------------------

    def request(self, messages: Any, params: Mapping[str, Any], *, stream: bool) -> _Request:
        """Validate a caller's messages and OpenAI parameters."""
        if not self.models:
            raise ConfigError(
                "calling a model needs its endpoint in the config: add a models: list (name, tier, base_url, "
                "api_key_env, family, prices); see examples/two-tier.yaml"
            )
        msgs = _as_messages(messages)
        p = dict(params)
        if "messages" in p:
            raise InputError("pass the messages as the first argument, not as messages=")
        model = p.get("model")
        if model is not None and not isinstance(model, str):
            raise InputError(f"model must be a model name or 'auto', got {type(model).__name__}")
        reasoning = p.get("reasoning")
        if reasoning is not None and not isinstance(reasoning, bool):
            raise InputError(f"reasoning must be True, False or None (let sirp decide), got {reasoning!r}")
        if bool(p.get("stream", stream)) != stream:
            raise InputError(
                "use stream() / astream() for a streamed answer; complete() / acomplete() return one completion"
            )
        extra_body = p.get("extra_body") or {}
        if not isinstance(extra_body, Mapping):
            raise InputError(f"extra_body must be a mapping, got {type(extra_body).__name__}")
        budget = _positive(p.get("time_budget_s"), "time_budget_s") or self.config.dispatch.time_budget_s
        body = {k: v for k, v in p.items() if k not in _SIRP_PARAMS}
        body.update(extra_body)
        return _Request(
            messages=msgs,
            body=body,
            pin=None if model in (None, "", "auto") else model,
            reasoning=reasoning,
            extra_headers=dict(p.get("extra_headers") or {}),
            extra_query=dict(p["extra_query"]) if p.get("extra_query") else None,
            timeout_s=_positive(p.get("timeout"), "timeout"),
            time_budget_s=budget,
        )

    def _endpoint(self, name: str, why: str) -> ModelConfig:
        mc = self.models.get(name)
        if mc is None:
            raise ConfigError(f"{why} {name!r}, which is not under models: ({', '.join(self.models)}); add it there")
        return mc

    def plan(self, decision: RoutingDecision, req: _Request) -> tuple[RoutingDecision, list[ModelConfig]]:
        """Apply pins and forced reasoning to ``decision``; return it with the models to try in order."""
        trace = list(decision.trace)
        update: dict[str, Any] = {}
        if req.pin is not None:
            name = req.pin
            if name in _TIERS and name not in self.models:
                tier = next((t for t in self.config.tiers if t.name == name), None)
                if tier is None:
                    configured = ", ".join(t.name for t in self.config.tiers)
                    raise InputError(f"model={name!r} pins a tier that is not configured (tiers: {configured})")
                trace.append(TraceStep(rule="pin.tier", detail=f"caller pinned tier {name} → {tier.model}"))
                name = tier.model
            mc = self.models.get(name)
            if mc is None:
                known = ", ".join(self.models) or "none configured"
                raise InputError(
                    f"model={req.pin!r} is neither 'auto', a tier, nor a configured model (models: {known})"
                )
            trace.append(
                TraceStep(
                    rule="pin.model",
                    detail=f"caller pinned {mc.name} (tier {mc.tier}); router chose {decision.model} "
                    f"(tier {decision.tier}); no fallback for a pinned model",
                )
            )
            if decision.local_only and not mc.local:
                raise NoEligibleModelError(
                    f"model={req.pin!r} pins {mc.name}, which is not local, but the request carries personal data "
                    "and policy.privacy.pii_action is local_only; pin a model with local: true, or let sirp route"
                )
            if decision.allowed_models is not None and mc.name not in decision.allowed_models:
                raise NoEligibleModelError(
                    f"model={req.pin!r} pins {mc.name}, which this request may not use (allowed: "
                    f"{', '.join(decision.allowed_models) or 'none'}); pin one of those, or let sirp route"
                )
            update.update(model=mc.name, tier=mc.tier, reasoning_budget_tokens=self.budget(mc, decision))
            chain = [mc]
        else:
            mc = self._endpoint(decision.model, f"tier {decision.tier} routes to")
            chain = [mc] + [self.models[f] for f in self.config.fallback if f != mc.name]
            if decision.local_only:
                dropped = [m.name for m in chain if not m.local]
                chain = [m for m in chain if m.local]
                if dropped:
                    trace.append(
                        TraceStep(
                            rule="privacy.local_only",
                            detail=f"personal data: fallbacks limited to local models ({', '.join(dropped)} skipped)",
                        )
                    )
                if not chain:  # the policy only chooses local models; a hand-made decision may not
                    raise NoEligibleModelError(
                        f"the decision is local_only but {mc.name} is not local and no fallback is; "
                        "mark a model you run yourself with local: true"
                    )
            if decision.allowed_models is not None:  # the policy chose an allowed model; fallbacks must be too
                skipped = [m.name for m in chain if m.name not in decision.allowed_models]
                chain = [m for m in chain if m.name in decision.allowed_models]
                if skipped:
                    trace.append(
                        TraceStep(
                            rule="eligibility.allowed",
                            detail=f"fallbacks limited to allowed models ({', '.join(skipped)} skipped)",
                        )
                    )
                if not chain:
                    raise NoEligibleModelError(f"the decision allows none of {mc.name} and its fallbacks")
        update["trace"] = trace
        planned = decision.model_copy(update=update)
        if req.reasoning is not None:
            planned = force_reasoning(self.config, planned, req.reasoning)
        return planned, chain

    def budget(self, mc: ModelConfig, decision: RoutingDecision) -> int | None:
        """Most reasoning tokens for ``mc`` on this request: its tier's and the decision's category's, the smaller."""
        return reasoning_budget(self.tiers.get(mc.tier), self.config.category(decision.category_config))

    def prepare(self, decision: RoutingDecision, req: _Request) -> tuple[RoutingDecision, _Request]:
        """Apply what holds for every model the request may reach: the category's system prompt, tool filtering.

        Runs the classifier once when tools are filtered (async callers: in a worker thread).
        """
        trace = list(decision.trace)
        messages, body = req.messages, req.body
        category = self.config.category(decision.category_config)
        if category is not None and category.system_prompt:
            messages = prepend_system(messages, category.system_prompt)
            trace.append(TraceStep(rule="category.system_prompt", detail=f"{category.name}'s system prompt added"))
        tools = body.get("tools")
        if isinstance(tools, list) and self.tools.applies(tools):
            prompt = to_routing_text(req.messages, window=0).text
            kept, step = self.tools.filter(prompt, tools, body.get("tool_choice"))
            body = {**body, "tools": kept}
            trace.append(step)
        if len(trace) == len(decision.trace):
            return decision, req
        return decision.model_copy(update={"trace": trace}), replace(req, messages=messages, body=body)

    # -- one call ------------------------------------------------------------------------------

    def _api_key(self, target: Target) -> SecretStr:
        env = target.provider.api_key_env
        if env is None:
            return SecretStr(_NO_KEY)
        value = os.environ.get(env)
        if not value:
            raise UpstreamError(
                f"the environment variable {env} (api_key_env of model {target.model.name!r}, provider "
                f"{target.provider_name!r}) is not set; export the API key in it",
                model=target.model.name,
                kind="config",
            )
        return SecretStr(value)

    def payload(self, mc: ModelConfig, decision: RoutingDecision, req: _Request, *, stream: bool) -> dict[str, Any]:
        """The JSON body sent to ``mc``: the caller's parameters with the family's reasoning syntax."""
        body = {"model": mc.name, "messages": req.messages, **req.body}
        body = apply_reasoning(
            body, mc.family, decision.reasoning, decision.reasoning_effort, self.budget(mc, decision)
        )
        if stream:
            # Usage arrives in a last chunk only when asked for; cost needs it.
            options = dict(body.get("stream_options") or {})
            options.setdefault("include_usage", True)
            body["stream_options"] = options
        return body

    def _call_args(self, target: Target, decision: RoutingDecision, req: _Request, *, stream: bool) -> dict[str, Any]:
        body = self.payload(target.model, decision, req, stream=stream)
        key = self._api_key(target)
        headers = {**req.extra_headers, "Authorization": f"Bearer {key.get_secret_value()}"}
        args: dict[str, Any] = {
            "model": body.pop("model"),
            "messages": body.pop("messages"),
            # Every other field travels as-is, so the family's syntax reaches the server exactly.
            "extra_body": body,
            "extra_headers": headers,
            "timeout": target.timeout_s,
        }
        if req.extra_query:
            args["extra_query"] = req.extra_query
        if stream:
            args["stream"] = True
        return args

    def _new_client(self, provider: ProviderEndpoint, *, asynchronous: bool) -> Any:
        openai = require("openai", extra="client", purpose="Calling the chosen model")
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        httpx = require("httpx", extra="client", purpose="Calling the chosen model")
        pool = openai.DefaultAsyncHttpxClient if asynchronous else openai.DefaultHttpxClient
        # uvicorn (vLLM, sirp serve) closes a keep-alive connection after 5 s idle, and httpx
        # keeps one for 5 s: a request sent on it at that moment dies with a reset connection.
        # Dropping idle connections first on this side removes the race.
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=KEEPALIVE_EXPIRY_S)
        # The key and the timeout go with each request (read at call time); retries are sirp's.
        return cls(base_url=provider.base_url, api_key=_NO_KEY, max_retries=0, http_client=pool(limits=limits))

    def _client(self, provider: ProviderEndpoint) -> OpenAI:
        # One client (one connection pool) per URL: models served by the same server share it.
        with self._lock:
            client = self._clients.get(provider.base_url)
            if client is None:
                client = self._clients[provider.base_url] = self._new_client(provider, asynchronous=False)
            return client

    def _async_client(self, provider: ProviderEndpoint) -> AsyncOpenAI:
        # An async HTTP pool belongs to the event loop that opened it: one set of clients per loop.
        loop = asyncio.get_running_loop()
        with self._lock:
            clients = self._async_clients.setdefault(loop, {})
            client = clients.get(provider.base_url)
            if client is None:
                client = clients[provider.base_url] = self._new_client(provider, asynchronous=True)
            return client

    def _result(
        self,
        completion: ChatCompletion,
        decision: RoutingDecision,
        target: Target,
        sched: Schedule,
        start: float,
        ttft_ms: float | None,
    ) -> RoutedCompletion:
        mc = target.model
        usage = Usage.from_openai(getattr(completion, "usage", None))
        steps = sched.trace(target)
        if mc.name != decision.model:
            failed = sorted({a.model for a in sched.attempts if not a.ok} | set(sched.skipped))
            steps.append(TraceStep(rule="dispatch.fallback", detail=f"{', '.join(failed)} failed; {mc.name} answered"))
        if steps:
            decision = decision.model_copy(update={"trace": [*decision.trace, *steps]})
        return RoutedCompletion(
            completion=completion,
            decision=decision,
            model=mc.name,
            provider=target.provider_name,
            usage=usage,
            cost_usd=usage.cost_usd(mc) if usage is not None else None,
            latency_ms=_ms(start),
            time_to_first_token_ms=ttft_ms,
            attempts=sched.attempts,
        )

    # -- the attempt loop: one driver per I/O flavour, the rules in Schedule -------------------

    def _drive(self, sched: Schedule, timeout_s: float | None, call: Callable[[Target], _T]) -> tuple[_T, Target]:
        """Make ``call`` to each target the schedule gives until one succeeds; raise its error when none does."""
        while (target := sched.next(timeout_s)) is not None:
            t0 = time.perf_counter()
            try:
                out = call(target)
            except Exception as exc:
                err = to_upstream_error(exc, target.model.name)
                if err is None:
                    sched.abandon(target)
                    raise
                wait = sched.failed(target, err, _ms(t0))
                if wait:
                    time.sleep(wait)
                continue
            except BaseException:  # KeyboardInterrupt and the like: free a probe slot, then leave
                sched.abandon(target)
                raise
            sched.succeeded(target, _ms(t0))
            return out, target
        raise sched.error()

    async def _adrive(
        self, sched: Schedule, timeout_s: float | None, call: Callable[[Target], Awaitable[_T]]
    ) -> tuple[_T, Target]:
        """Async :meth:`_drive`."""
        while (target := sched.next(timeout_s)) is not None:
            t0 = time.perf_counter()
            try:
                out = await call(target)
            except Exception as exc:
                err = to_upstream_error(exc, target.model.name)
                if err is None:
                    sched.abandon(target)
                    raise
                wait = sched.failed(target, err, _ms(t0))
                if wait:
                    await asyncio.sleep(wait)
                continue
            except BaseException:  # cancellation: free a probe slot, then leave
                sched.abandon(target)
                raise
            sched.succeeded(target, _ms(t0))
            return out, target
        raise sched.error()

    def _schedule(self, chain: list[ModelConfig], req: _Request) -> Schedule:
        return Schedule(chain, self.config.dispatch, req.time_budget_s, self.balancer)

    # -- sync ----------------------------------------------------------------------------------

    def _begin(
        self, messages: Any, params: Mapping[str, Any], route: Callable[[Any], RoutingDecision], *, stream: bool
    ) -> tuple[RoutingDecision, _Request, Schedule]:
        req = self.request(messages, params, stream=stream)
        decision, chain = self.plan(route(req.messages), req)
        decision, req = self.prepare(decision, req)
        return decision, req, self._schedule(chain, req)

    def complete(
        self, messages: Any, params: Mapping[str, Any], route: Callable[[Any], RoutingDecision]
    ) -> RoutedCompletion:
        """Route, then call the chosen model (failover, retries, fallbacks) and return its completion."""
        start = time.perf_counter()
        decision, req, sched = self._begin(messages, params, route, stream=False)

        def call(t: Target) -> ChatCompletion:
            args = self._call_args(t, decision, req, stream=False)
            return _check_completion(self._client(t.provider).chat.completions.create(**args), t.model.name)

        completion, target = self._drive(sched, req.timeout_s, call)
        return self._result(completion, decision, target, sched, start, None)

    def stream(self, messages: Any, params: Mapping[str, Any], route: Callable[[Any], RoutingDecision]) -> RoutedStream:
        """Route, then open a stream from the chosen model; failover, retries, fallbacks: before its first chunk."""
        start = time.perf_counter()
        decision, req, sched = self._begin(messages, params, route, stream=True)

        def call(t: Target) -> tuple[Stream[ChatCompletionChunk], ChatCompletionChunk]:
            stream: Stream[ChatCompletionChunk] | None = None
            try:
                stream = self._client(t.provider).chat.completions.create(
                    **self._call_args(t, decision, req, stream=True)
                )
                first = next(stream, None)
                if first is None:
                    raise UpstreamError(
                        "the stream ended before its first chunk", model=t.model.name, kind="invalid_response"
                    )
            except BaseException:
                if stream is not None:
                    stream.close()
                raise
            return stream, first

        (stream, first), target = self._drive(sched, req.timeout_s, call)
        acc = _Accumulator(self, decision, target, sched, start)
        acc.add(first, time.perf_counter())
        return RoutedStream(stream, first, acc)

    # -- async ---------------------------------------------------------------------------------

    async def _abegin(
        self,
        messages: Any,
        params: Mapping[str, Any],
        aroute: Callable[[Any], Awaitable[RoutingDecision]],
        *,
        stream: bool,
    ) -> tuple[RoutingDecision, _Request, Schedule]:
        req = self.request(messages, params, stream=stream)
        decision, chain = self.plan(await aroute(req.messages), req)
        if self.tools.applies(req.body.get("tools")):  # the classifier runs: keep it off the event loop
            decision, req = await asyncio.to_thread(self.prepare, decision, req)
        else:
            decision, req = self.prepare(decision, req)
        return decision, req, self._schedule(chain, req)

    async def acomplete(
        self, messages: Any, params: Mapping[str, Any], aroute: Callable[[Any], Awaitable[RoutingDecision]]
    ) -> RoutedCompletion:
        """Async :meth:`complete`."""
        start = time.perf_counter()
        decision, req, sched = await self._abegin(messages, params, aroute, stream=False)

        async def call(t: Target) -> ChatCompletion:
            args = self._call_args(t, decision, req, stream=False)
            return _check_completion(await self._async_client(t.provider).chat.completions.create(**args), t.model.name)

        completion, target = await self._adrive(sched, req.timeout_s, call)
        return self._result(completion, decision, target, sched, start, None)

    async def astream(
        self, messages: Any, params: Mapping[str, Any], aroute: Callable[[Any], Awaitable[RoutingDecision]]
    ) -> AsyncRoutedStream:
        """Async :meth:`stream`."""
        start = time.perf_counter()
        decision, req, sched = await self._abegin(messages, params, aroute, stream=True)

        async def call(t: Target) -> tuple[AsyncStream[ChatCompletionChunk], ChatCompletionChunk]:
            stream: AsyncStream[ChatCompletionChunk] | None = None
            try:
                args = self._call_args(t, decision, req, stream=True)
                stream = await self._async_client(t.provider).chat.completions.create(**args)
                try:
                    first = await stream.__anext__()
                except StopAsyncIteration:
                    raise UpstreamError(
                        "the stream ended before its first chunk", model=t.model.name, kind="invalid_response"
                    ) from None
            except BaseException:
                if stream is not None:
                    await stream.close()
                raise
            return stream, first

        (stream, first), target = await self._adrive(sched, req.timeout_s, call)
        acc = _Accumulator(self, decision, target, sched, start)
        acc.add(first, time.perf_counter())
        return AsyncRoutedStream(stream, first, acc)

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync clients (async ones: :meth:`aclose` on their loop)."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    async def aclose(self) -> None:
        """Close the clients of the running event loop, and the sync ones."""
        loop = asyncio.get_running_loop()
        with self._lock:
            clients = list(self._async_clients.pop(loop, {}).values())
        for c in clients:
            await c.close()
        self.close()
