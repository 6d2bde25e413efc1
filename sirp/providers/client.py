"""Calling the chosen model: routing plan, retries with backoff, fallbacks, streams, usage and cost.

One request's path (``SemanticRouter.complete`` and friends)::

    _Request (caller's messages and OpenAI params)  ──► route ──► plan (pin, forced reasoning, chain)
      ──► for each model of the chain: try, retry transient failures with backoff, then fall back
      ──► RoutedCompletion (completion, decision, usage, cost, latency, attempts)
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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from sirp._imports import require
from sirp.config.schema import DispatchConfig, ModelConfig, RouterConfig
from sirp.decision import RoutingDecision, TraceStep
from sirp.errors import AllAttemptsFailedError, ConfigError, InputError, PromptTypeError, UpstreamError
from sirp.providers.reasoning import apply_reasoning
from sirp.providers.result import Attempt, RoutedCompletion
from sirp.providers.upstream import to_upstream_error
from sirp.providers.usage import Usage

if TYPE_CHECKING:
    from openai import AsyncOpenAI, AsyncStream, OpenAI, Stream
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

__all__ = ["AsyncRoutedStream", "Dispatcher", "RoutedStream"]

_TIERS = ("slm", "srm", "llm", "lrm")

#: Sent when a model has no ``api_key_env``: the client needs some key, local servers ignore it.
_NO_KEY = "sirp-no-key"

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


class _Schedule:
    """Which model to call next and how long to wait first; records every attempt.

    Shared by the sync and async paths so that both retry, back off and fall back the same way.
    """

    def __init__(self, chain: list[ModelConfig], cfg: DispatchConfig, budget_s: float) -> None:
        self.chain = chain
        self.cfg = cfg
        self.budget_s = budget_s
        self.deadline = time.monotonic() + budget_s
        self.index = 0
        self.tries = 0
        self.attempts: list[Attempt] = []
        self.out_of_time = False

    def next(self, timeout_s: float | None) -> tuple[ModelConfig, int, float] | None:
        """The model to call, its try number and the attempt's timeout; ``None`` when nothing is left."""
        if self.index >= len(self.chain):
            return None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            self.out_of_time = True
            return None
        mc = self.chain[self.index]
        self.tries += 1
        return mc, self.tries, min(timeout_s or mc.timeout_s, remaining)

    def failed(self, mc: ModelConfig, err: UpstreamError, latency_ms: float) -> float:
        """Record a failure; return the seconds to wait before retrying the same model (0: move on)."""
        wait: float | None = None
        if err.is_retryable and self.tries <= mc.max_retries:
            c = self.cfg
            delay = (
                err.retry_after
                if err.retry_after is not None
                else min(c.backoff_max_s, c.backoff_initial_s * c.backoff_multiplier ** (self.tries - 1))
            )
            # A wait that would outlast the request's budget is better spent on the next model.
            if time.monotonic() + delay < self.deadline:
                wait = delay
        self.attempts.append(
            Attempt(
                model=mc.name,
                try_number=self.tries,
                latency_ms=latency_ms,
                error=str(err),
                kind=err.kind,
                status_code=err.status_code,
                retryable=err.is_retryable,
                wait_s=wait,
            )
        )
        if wait is None:
            self.index += 1
            self.tries = 0
            return 0.0
        return wait

    def succeeded(self, mc: ModelConfig, latency_ms: float) -> None:
        """Record the successful attempt."""
        self.attempts.append(Attempt(model=mc.name, try_number=self.tries, latency_ms=latency_ms))

    def error(self) -> AllAttemptsFailedError:
        """The error listing every attempt, for when nothing succeeded."""
        tried = list(dict.fromkeys(a.model for a in self.attempts))
        untried = [m.name for m in self.chain if m.name not in tried]
        msg = f"every attempt failed ({len(self.attempts)} calls to {', '.join(tried) or 'no model'})"
        if self.out_of_time:
            msg += f"; the request's time budget of {self.budget_s:g} s ran out"
            if untried:
                msg += f" before {', '.join(untried)} could be tried"
            msg += " (raise dispatch.time_budget_s or pass time_budget_s=...)"
        elif len(self.chain) == 1:
            msg += "; no fallback was available (list other models under fallback:, unless the model was pinned)"
        return AllAttemptsFailedError(
            msg + ". Attempts:", self.attempts, is_retryable=any(a.retryable for a in self.attempts)
        )


def _has_token(chunk: ChatCompletionChunk) -> bool:
    for choice in chunk.choices:
        delta = choice.delta
        extra = delta.model_extra or {}
        if delta.content or delta.tool_calls or extra.get("reasoning_content") or extra.get("reasoning"):
            return True
    return False


class _Accumulator:
    """Builds a stream's final completion, usage and time to first token from its chunks."""

    def __init__(
        self, dispatcher: Dispatcher, decision: RoutingDecision, mc: ModelConfig, attempts: list[Attempt], start: float
    ) -> None:
        from openai.lib.streaming.chat import ChatCompletionStreamState

        self.state: Any = ChatCompletionStreamState()
        self.dispatcher = dispatcher
        self.decision = decision
        self.mc = mc
        self.attempts = attempts
        self.start = start
        self.chunks = 0
        self.finished = False
        self.first_at: float | None = None
        self.token_at: float | None = None
        self.result: RoutedCompletion | None = None

    def add(self, chunk: ChatCompletionChunk, at: float) -> None:
        self.state.handle_chunk(chunk)
        self.chunks += 1
        self.finished = self.finished or any(c.finish_reason for c in chunk.choices)
        if self.first_at is None:
            self.first_at = at
        if self.token_at is None and _has_token(chunk):
            self.token_at = at

    def finish(self) -> RoutedCompletion:
        if self.result is None:
            from openai.types.chat import ChatCompletion

            snapshot = self.state.current_completion_snapshot
            # A plain ChatCompletion: the snapshot class carries parsing fields that mean nothing here.
            completion = ChatCompletion.model_construct(**snapshot.to_dict())
            first = self.token_at if self.token_at is not None else self.first_at
            ttft = (first - self.start) * 1000 if first is not None else None
            self.result = self.dispatcher._result(completion, self.decision, self.mc, self.attempts, self.start, ttft)
        return self.result

    def ended(self) -> RoutedCompletion:
        """The stream ended; a stream whose answer never finished is an error, not a short answer."""
        if not self.finished:
            raise self.broken(
                UpstreamError(
                    "it ended without a finish_reason, so the answer is incomplete",
                    model=self.mc.name,
                    kind="stream_broken",
                    is_retryable=True,
                )
            )
        return self.finish()

    def broken(self, err: UpstreamError) -> UpstreamError:
        self.attempts.append(
            Attempt(
                model=self.mc.name,
                try_number=self.attempts[-1].try_number if self.attempts else 1,
                latency_ms=_ms(self.start),
                error=str(err),
                kind="stream_broken",
                status_code=err.status_code,
                retryable=err.is_retryable,
            )
        )
        return UpstreamError(
            f"the stream from {self.mc.name!r} broke after {self.chunks} chunks: {err}. Part of the answer was "
            "already delivered, so sirp does not retry or fall back; call again to start over",
            model=self.mc.name,
            kind="stream_broken",
            status_code=err.status_code,
            is_retryable=err.is_retryable,
        )


class RoutedStream:
    """The chunks of a streamed completion from the chosen model, then the whole result.

    Iterate it for ``openai`` ``ChatCompletionChunk`` objects; once exhausted, :attr:`result`
    holds the assembled :class:`~sirp.providers.RoutedCompletion` (usage, cost, time to first
    token). Retries and fallbacks happen before the first chunk; a stream that breaks after it
    raises :class:`~sirp.errors.UpstreamError` (``kind="stream_broken"``).
    """

    def __init__(self, stream: Stream[ChatCompletionChunk], first: ChatCompletionChunk, acc: _Accumulator) -> None:
        self._stream = stream
        self._pending: ChatCompletionChunk | None = first
        self._acc = acc
        self._done = False

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision (known before the first chunk)."""
        return self._acc.decision

    @property
    def model(self) -> str:
        """The model that is answering."""
        return self._acc.mc.name

    @property
    def attempts(self) -> list[Attempt]:
        """Every call made so far."""
        return self._acc.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The assembled completion; only once the stream has been read to its end."""
        if not self._done:
            raise InputError("the stream is not finished; iterate it to its end before reading .result")
        return self._acc.finish()

    def __iter__(self) -> RoutedStream:
        return self

    def __next__(self) -> ChatCompletionChunk:
        if self._pending is not None:
            chunk, self._pending = self._pending, None
            return chunk
        if self._done:
            raise StopIteration
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._acc.ended()
            self._done = True
            raise
        except Exception as exc:
            err = to_upstream_error(exc, self.model)
            self.close()
            if err is None:
                raise
            raise self._acc.broken(err) from exc
        self._acc.add(chunk, time.perf_counter())
        return chunk

    def until_done(self) -> RoutedCompletion:
        """Read the rest of the stream and return :attr:`result`."""
        for _ in self:
            pass
        return self.result

    def close(self) -> None:
        """Stop reading and release the connection."""
        self._stream.close()

    def __enter__(self) -> RoutedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRoutedStream:
    """Async :class:`RoutedStream`: ``async for chunk in stream``, then :attr:`result`."""

    def __init__(self, stream: AsyncStream[ChatCompletionChunk], first: ChatCompletionChunk, acc: _Accumulator) -> None:
        self._stream = stream
        self._pending: ChatCompletionChunk | None = first
        self._acc = acc
        self._done = False

    @property
    def decision(self) -> RoutingDecision:
        """The routing decision (known before the first chunk)."""
        return self._acc.decision

    @property
    def model(self) -> str:
        """The model that is answering."""
        return self._acc.mc.name

    @property
    def attempts(self) -> list[Attempt]:
        """Every call made so far."""
        return self._acc.attempts

    @property
    def result(self) -> RoutedCompletion:
        """The assembled completion; only once the stream has been read to its end."""
        if not self._done:
            raise InputError("the stream is not finished; iterate it to its end before reading .result")
        return self._acc.finish()

    def __aiter__(self) -> AsyncRoutedStream:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        if self._pending is not None:
            chunk, self._pending = self._pending, None
            return chunk
        if self._done:
            raise StopAsyncIteration
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._acc.ended()
            self._done = True
            raise
        except Exception as exc:
            err = to_upstream_error(exc, self.model)
            await self.aclose()
            if err is None:
                raise
            raise self._acc.broken(err) from exc
        self._acc.add(chunk, time.perf_counter())
        return chunk

    async def until_done(self) -> RoutedCompletion:
        """Read the rest of the stream and return :attr:`result`."""
        async for _ in self:
            pass
        return self.result

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        await self._stream.close()

    async def __aenter__(self) -> AsyncRoutedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


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
    """Calls the model a routing decision chose, with retries, fallbacks, usage and cost.

    Built by :class:`~sirp.SemanticRouter` from its config's ``models``, ``fallback`` and
    ``dispatch`` sections; one ``openai`` client per model (per event loop for async) is made
    on first use and reused.
    """

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.models = {m.name: m for m in config.models}
        self.budgets = {t.name: t.reasoning_budget_tokens for t in config.tiers}
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
            update.update(model=mc.name, tier=mc.tier)
            chain = [mc]
        else:
            mc = self._endpoint(decision.model, f"tier {decision.tier} routes to")
            chain = [mc] + [self.models[f] for f in self.config.fallback if f != mc.name]
        if req.reasoning is not None:
            effort = (decision.reasoning_effort or "medium") if req.reasoning else None
            trace.append(
                TraceStep(
                    rule="reasoning.forced",
                    detail=f"caller forced reasoning {'on' if req.reasoning else 'off'} "
                    f"(policy said {'on' if decision.reasoning else 'off'})",
                )
            )
            update.update(reasoning=req.reasoning, reasoning_effort=effort)
        update["trace"] = trace
        return decision.model_copy(update=update), chain

    # -- one call ------------------------------------------------------------------------------

    def _api_key(self, mc: ModelConfig) -> SecretStr:
        if mc.api_key_env is None:
            return SecretStr(_NO_KEY)
        value = os.environ.get(mc.api_key_env)
        if not value:
            raise UpstreamError(
                f"the environment variable {mc.api_key_env} (api_key_env of model {mc.name!r}) is not set; "
                "export the API key in it",
                model=mc.name,
                kind="config",
            )
        return SecretStr(value)

    def payload(self, mc: ModelConfig, decision: RoutingDecision, req: _Request, *, stream: bool) -> dict[str, Any]:
        """The JSON body sent to ``mc``: the caller's parameters with the family's reasoning syntax."""
        body = {"model": mc.name, "messages": req.messages, **req.body}
        body = apply_reasoning(
            body, mc.family, decision.reasoning, decision.reasoning_effort, self.budgets.get(mc.tier)
        )
        if stream:
            # Usage arrives in a last chunk only when asked for; cost needs it.
            options = dict(body.get("stream_options") or {})
            options.setdefault("include_usage", True)
            body["stream_options"] = options
        return body

    def _call_args(
        self, mc: ModelConfig, decision: RoutingDecision, req: _Request, timeout: float, *, stream: bool
    ) -> dict[str, Any]:
        body = self.payload(mc, decision, req, stream=stream)
        key = self._api_key(mc)
        headers = {**req.extra_headers, "Authorization": f"Bearer {key.get_secret_value()}"}
        args: dict[str, Any] = {
            "model": body.pop("model"),
            "messages": body.pop("messages"),
            # Every other field travels as-is, so the family's syntax reaches the server exactly.
            "extra_body": body,
            "extra_headers": headers,
            "timeout": timeout,
        }
        if req.extra_query:
            args["extra_query"] = req.extra_query
        if stream:
            args["stream"] = True
        return args

    def _new_client(self, mc: ModelConfig, *, asynchronous: bool) -> Any:
        openai = require("openai", extra="client", purpose="Calling the chosen model")
        cls = openai.AsyncOpenAI if asynchronous else openai.OpenAI
        # The key goes in each request's headers (read at call time); retries are sirp's.
        return cls(base_url=mc.base_url, api_key=_NO_KEY, timeout=mc.timeout_s, max_retries=0)

    def _client(self, mc: ModelConfig) -> OpenAI:
        with self._lock:
            client = self._clients.get(mc.name)
            if client is None:
                client = self._clients[mc.name] = self._new_client(mc, asynchronous=False)
            return client

    def _async_client(self, mc: ModelConfig) -> AsyncOpenAI:
        # An async HTTP pool belongs to the event loop that opened it: one set of clients per loop.
        loop = asyncio.get_running_loop()
        with self._lock:
            clients = self._async_clients.setdefault(loop, {})
            client = clients.get(mc.name)
            if client is None:
                client = clients[mc.name] = self._new_client(mc, asynchronous=True)
            return client

    def _result(
        self,
        completion: ChatCompletion,
        decision: RoutingDecision,
        mc: ModelConfig,
        attempts: list[Attempt],
        start: float,
        ttft_ms: float | None,
    ) -> RoutedCompletion:
        usage = Usage.from_openai(getattr(completion, "usage", None))
        if mc.name != decision.model:
            failed = sorted({a.model for a in attempts if not a.ok})
            decision = decision.model_copy(
                update={
                    "trace": [
                        *decision.trace,
                        TraceStep(rule="dispatch.fallback", detail=f"{', '.join(failed)} failed; {mc.name} answered"),
                    ]
                }
            )
        return RoutedCompletion(
            completion=completion,
            decision=decision,
            model=mc.name,
            usage=usage,
            cost_usd=usage.cost_usd(mc) if usage is not None else None,
            latency_ms=_ms(start),
            time_to_first_token_ms=ttft_ms,
            attempts=attempts,
        )

    # -- sync ----------------------------------------------------------------------------------

    def complete(
        self, messages: Any, params: Mapping[str, Any], route: Callable[[Any], RoutingDecision]
    ) -> RoutedCompletion:
        """Route, then call the chosen model (retries, fallbacks) and return its completion."""
        start = time.perf_counter()
        req = self.request(messages, params, stream=False)
        decision, chain = self.plan(route(req.messages), req)
        sched = _Schedule(chain, self.config.dispatch, req.time_budget_s)
        while (step := sched.next(req.timeout_s)) is not None:
            mc, _, timeout = step
            t0 = time.perf_counter()
            try:
                args = self._call_args(mc, decision, req, timeout, stream=False)
                completion = _check_completion(self._client(mc).chat.completions.create(**args), mc.name)
            except Exception as exc:
                err = to_upstream_error(exc, mc.name)
                if err is None:
                    raise
                wait = sched.failed(mc, err, _ms(t0))
                if wait:
                    time.sleep(wait)
                continue
            sched.succeeded(mc, _ms(t0))
            return self._result(completion, decision, mc, sched.attempts, start, None)
        raise sched.error()

    def stream(self, messages: Any, params: Mapping[str, Any], route: Callable[[Any], RoutingDecision]) -> RoutedStream:
        """Route, then open a stream from the chosen model; retries and fallbacks happen before its first chunk."""
        start = time.perf_counter()
        req = self.request(messages, params, stream=True)
        decision, chain = self.plan(route(req.messages), req)
        sched = _Schedule(chain, self.config.dispatch, req.time_budget_s)
        while (step := sched.next(req.timeout_s)) is not None:
            mc, _, timeout = step
            t0 = time.perf_counter()
            stream: Stream[ChatCompletionChunk] | None = None
            try:
                args = self._call_args(mc, decision, req, timeout, stream=True)
                stream = self._client(mc).chat.completions.create(**args)
                first = next(stream, None)
                if first is None:
                    raise UpstreamError(
                        "the stream ended before its first chunk", model=mc.name, kind="invalid_response"
                    )
            except Exception as exc:
                if stream is not None:
                    stream.close()
                err = to_upstream_error(exc, mc.name)
                if err is None:
                    raise
                wait = sched.failed(mc, err, _ms(t0))
                if wait:
                    time.sleep(wait)
                continue
            sched.succeeded(mc, _ms(t0))
            acc = _Accumulator(self, decision, mc, sched.attempts, start)
            acc.add(first, time.perf_counter())
            return RoutedStream(stream, first, acc)
        raise sched.error()

    # -- async ---------------------------------------------------------------------------------

    async def acomplete(
        self, messages: Any, params: Mapping[str, Any], aroute: Callable[[Any], Awaitable[RoutingDecision]]
    ) -> RoutedCompletion:
        """Async :meth:`complete`."""
        start = time.perf_counter()
        req = self.request(messages, params, stream=False)
        decision, chain = self.plan(await aroute(req.messages), req)
        sched = _Schedule(chain, self.config.dispatch, req.time_budget_s)
        while (step := sched.next(req.timeout_s)) is not None:
            mc, _, timeout = step
            t0 = time.perf_counter()
            try:
                args = self._call_args(mc, decision, req, timeout, stream=False)
                completion = _check_completion(await self._async_client(mc).chat.completions.create(**args), mc.name)
            except Exception as exc:
                err = to_upstream_error(exc, mc.name)
                if err is None:
                    raise
                wait = sched.failed(mc, err, _ms(t0))
                if wait:
                    await asyncio.sleep(wait)
                continue
            sched.succeeded(mc, _ms(t0))
            return self._result(completion, decision, mc, sched.attempts, start, None)
        raise sched.error()

    async def astream(
        self, messages: Any, params: Mapping[str, Any], aroute: Callable[[Any], Awaitable[RoutingDecision]]
    ) -> AsyncRoutedStream:
        """Async :meth:`stream`."""
        start = time.perf_counter()
        req = self.request(messages, params, stream=True)
        decision, chain = self.plan(await aroute(req.messages), req)
        sched = _Schedule(chain, self.config.dispatch, req.time_budget_s)
        while (step := sched.next(req.timeout_s)) is not None:
            mc, _, timeout = step
            t0 = time.perf_counter()
            stream: AsyncStream[ChatCompletionChunk] | None = None
            try:
                args = self._call_args(mc, decision, req, timeout, stream=True)
                stream = await self._async_client(mc).chat.completions.create(**args)
                try:
                    first = await stream.__anext__()
                except StopAsyncIteration:
                    raise UpstreamError(
                        "the stream ended before its first chunk", model=mc.name, kind="invalid_response"
                    ) from None
            except Exception as exc:
                if stream is not None:
                    await stream.close()
                err = to_upstream_error(exc, mc.name)
                if err is None:
                    raise
                wait = sched.failed(mc, err, _ms(t0))
                if wait:
                    await asyncio.sleep(wait)
                continue
            sched.succeeded(mc, _ms(t0))
            acc = _Accumulator(self, decision, mc, sched.attempts, start)
            acc.add(first, time.perf_counter())
            return AsyncRoutedStream(stream, first, acc)
        raise sched.error()

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
