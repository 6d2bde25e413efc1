"""The cache around a model call: look up before dispatch, store after a complete answer.

``SemanticRouter.complete/acomplete/stream/astream`` go through :class:`CachedDispatch` when
``cache.enabled``::

    key (normalised last user turn + exact fingerprint)
      ─► route + embedding (one classifier pass; or the separate cache.encoder)
      ─► lookup (threshold of the decided category) ── hit ─► cached answer, no model call
      ─► miss: dispatch (retries, fallbacks) ─► store the answer (streams: once complete)

A request may say ``cache="bypass"`` (neither look up nor store) or ``cache="refresh"`` (skip the
lookup, call the model, store the new answer in place of the old one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sirp.cache.entry import CacheHit, CacheOutcome
from sirp.cache.keys import CacheKey
from sirp.cache.semantic import SemanticCache
from sirp.cache.streams import AsyncCachedStream, AsyncStoringStream, CachedStream, StoringStream
from sirp.decision import RoutingDecision, TraceStep
from sirp.errors import InputError
from sirp.providers.result import RoutedCompletion

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

    from sirp.providers.client import AsyncRoutedStream, Dispatcher, RoutedStream

__all__ = ["CacheMode", "CachedDispatch", "RouteAndEmbed", "pop_cache_mode"]

logger = logging.getLogger(__name__)

#: What a request asks of the cache: ``None`` (use it), ``"bypass"`` or ``"refresh"``.
CacheMode = Literal["bypass", "refresh"] | None

#: Routes one prompt and returns the embedding of its last user turn from the same pass
#: (``None`` when the model has no embedding output or the turn was truncated).
RouteAndEmbed = Callable[[Any], tuple[RoutingDecision, "np.ndarray | None"]]


def pop_cache_mode(params: dict[str, Any], *, pii: bool | None = None) -> CacheMode:
    """Take sirp's ``cache`` flag out of the OpenAI parameters (it is for the router, not the model).

    A request that carries personal data (``pii=True``) always bypasses the cache: its text and
    answer are neither stored (Redis may be shared) nor answered from another request's entry.
    """
    mode = params.pop("cache", None)
    if mode not in (None, "bypass", "refresh"):
        raise InputError(f"cache must be None, 'bypass' or 'refresh', got {mode!r}")
    return "bypass" if pii else mode  # type: ignore[no-any-return]


@dataclass
class _Plan:
    """One request's cache state between lookup and store."""

    decision: RoutingDecision
    key: CacheKey | None = None
    vector: np.ndarray | None = None
    hit: CacheHit | None = None
    completion: ChatCompletion | None = None
    label: CacheOutcome = "bypass"
    start: float = 0.0

    def route(self, _messages: Any) -> RoutingDecision:
        # The dispatcher routes through this: the request was routed once already, with its embedding.
        return self.decision

    async def aroute(self, _messages: Any) -> RoutingDecision:
        return self.decision


def _parse(response: Mapping[str, Any]) -> ChatCompletion | None:
    from openai.types.chat import ChatCompletion
    from pydantic import ValidationError

    try:
        return ChatCompletion.model_validate(response)
    except ValidationError:
        return None


class CachedDispatch:
    """Wraps a :class:`~sirp.providers.Dispatcher` call with cache lookup and store."""

    def __init__(self, cache: SemanticCache, dispatcher: Callable[[], Dispatcher]) -> None:
        self.cache = cache
        self._dispatcher = dispatcher

    # -- shared steps --------------------------------------------------------------------------

    def plan(self, messages: Any, params: Mapping[str, Any], mode: CacheMode, route: RouteAndEmbed) -> _Plan:
        """Key, route + embedding, lookup (sync; async callers run it in a worker thread).

        Also the first half of ``sirp extproc``'s cached path, which then answers a hit with
        :meth:`hit_result` or lets Envoy forward the request.
        """
        start = time.perf_counter()
        try:
            key = self.cache.key(messages, params)
        except (InputError, TypeError, ValueError):
            key = None  # not a valid prompt: the dispatcher raises the proper error
        separate = None
        if key is not None and mode != "bypass" and self.cache.encoder is not None:
            # A separate encoder shares nothing with the classifier: run both passes side by side.
            separate = self.cache.submit_embed(key.text)
        decision, vector = route(messages)
        if separate is not None:
            vector = separate.result()
        plan = _Plan(decision=decision, start=start)
        if key is None or mode == "bypass" or not self.cache.applies(decision.category):
            return plan
        if vector is None:
            # Truncated (or no embedding output): two long requests may differ past the cut.
            return plan
        plan.key, plan.vector, plan.label = key, vector, "miss"
        if mode == "refresh":
            plan.label = "refresh"
            return plan
        hit = self.cache.lookup(key, vector, category=decision.category)
        if hit is not None and decision.allowed_models is not None and hit.entry.model not in decision.allowed_models:
            hit = None  # answered by a model this caller may not use: call an allowed one instead
        if hit is not None:
            completion = _parse(hit.entry.response)
            if completion is None:
                logger.warning("semantic cache entry %s does not parse as a chat completion; evicted", hit.entry.id)
                self.cache.remove(hit.entry.id)
            else:
                plan.hit, plan.completion, plan.label = hit, completion, "hit"
        return plan

    def hit_result(self, plan: _Plan) -> RoutedCompletion:
        """The cached answer of a ``plan`` that hit, as a routed completion with a ``cache.hit`` trace step."""
        assert plan.hit is not None and plan.completion is not None
        entry = plan.hit.entry
        age = max(0.0, self.cache.clock() - entry.created_at)
        step = TraceStep(
            rule="cache.hit",
            detail=f"answer of {entry.model} cached {age:.0f} s ago; similarity {plan.hit.similarity:.3f} ≥ "
            f"{self.cache.threshold(plan.decision.category):.3f}",
        )
        decision = plan.decision.model_copy(update={"trace": [*plan.decision.trace, step]})
        return RoutedCompletion(
            completion=plan.completion,
            decision=decision,
            model=entry.model,
            usage=None,
            cost_usd=0.0,
            latency_ms=(time.perf_counter() - plan.start) * 1000,
            attempts=[],
            cache="hit",
        )

    def _store(self, plan: _Plan, result: RoutedCompletion) -> None:
        if plan.key is not None and plan.vector is not None:
            response = result.completion.model_dump(mode="json")
            self.cache.put(plan.key, plan.vector, response, model=result.model, category=plan.decision.category)

    async def _astore(self, plan: _Plan, result: RoutedCompletion) -> None:
        await asyncio.to_thread(self._store, plan, result)

    # -- the four calls ------------------------------------------------------------------------

    def complete(
        self, messages: Any, params: Mapping[str, Any], route: RouteAndEmbed, mode: CacheMode = None
    ) -> RoutedCompletion:
        """Sync: answer from the cache, or call the model and store its answer."""
        plan = self.plan(messages, params, mode, route)
        if plan.hit is not None:
            return self.hit_result(plan)
        result = self._dispatcher().complete(messages, params, plan.route)
        self._store(plan, result)
        return replace(result, cache=plan.label)

    async def acomplete(
        self, messages: Any, params: Mapping[str, Any], route: RouteAndEmbed, mode: CacheMode = None
    ) -> RoutedCompletion:
        """Async :meth:`complete`: classifier, encoder and cache lookups run in a worker thread."""
        plan = await asyncio.to_thread(self.plan, messages, params, mode, route)
        if plan.hit is not None:
            return self.hit_result(plan)
        result = await self._dispatcher().acomplete(messages, params, plan.aroute)
        await self._astore(plan, result)
        return replace(result, cache=plan.label)

    def stream(
        self, messages: Any, params: Mapping[str, Any], route: RouteAndEmbed, mode: CacheMode = None
    ) -> RoutedStream:
        """Sync stream: a hit replays the cached answer as chunks; a miss is stored once complete."""
        plan = self.plan(messages, params, mode, route)
        if plan.hit is not None:
            return CachedStream(self.hit_result(plan), plan.hit.entry.response)
        inner = self._dispatcher().stream(messages, params, plan.route)
        if not self.cache.config.cache_streams:
            plan.key, plan.label = None, "bypass"
        return StoringStream(inner, lambda result: self._store(plan, result), plan.label)

    async def astream(
        self, messages: Any, params: Mapping[str, Any], route: RouteAndEmbed, mode: CacheMode = None
    ) -> AsyncRoutedStream:
        """Async :meth:`stream`."""
        plan = await asyncio.to_thread(self.plan, messages, params, mode, route)
        if plan.hit is not None:
            return AsyncCachedStream(self.hit_result(plan), plan.hit.entry.response)
        inner = await self._dispatcher().astream(messages, params, plan.aroute)
        if not self.cache.config.cache_streams:
            plan.key, plan.label = None, "bypass"
        return AsyncStoringStream(inner, lambda result: self._astore(plan, result), plan.label)
