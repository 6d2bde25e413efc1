"""``SemanticRouter``: the in-process front door to the routing pipeline.

One request's path: prompt → text(s) to classify (:mod:`sirp.prompts`) and, with a model that
has guard heads, every message window the guards read (:mod:`sirp.guards.scan`) → one batched
classifier pass (:mod:`sirp.signals.classifier` over a :mod:`sirp.backends` backend) → policy
(:mod:`sirp.policy`) → :class:`~sirp.RoutingDecision`. Before a model is called, the guards
refuse a blocked request or mask its personal data (:mod:`sirp.guards.apply`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from sirp.backends.base import Backend
from sirp.backends.model_folder import ModelFolder
from sirp.backends.tokenization import Tokenizer
from sirp.cache.dispatch import pop_cache_mode
from sirp.config.loader import as_config
from sirp.config.schema import RouterConfig
from sirp.decision import RoutingDecision, TraceStep
from sirp.errors import InputError, PromptTypeError
from sirp.guards.apply import Findings, as_findings, findings, guard_request
from sirp.guards.scan import ScanWindow, scan_windows
from sirp.policy.default import DefaultPolicy
from sirp.prompts import Prompt, RoutingText, to_routing_text
from sirp.signals.classifier import ClassifierSignals, SignalExtractor

if TYPE_CHECKING:
    from sirp.cache.dispatch import CachedDispatch
    from sirp.cache.semantic import SemanticCache
    from sirp.providers.client import AsyncRoutedStream, Dispatcher, RoutedStream
    from sirp.providers.result import RoutedCompletion

__all__ = ["DEFAULT_MODEL_DIR", "SemanticRouter"]

#: The model folder shipped inside the package.
DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"


def _as_config(config: RouterConfig | dict[str, Any] | str | Path | None) -> RouterConfig:
    return RouterConfig() if config is None else as_config(config)


def _pop_pii(params: dict[str, Any]) -> bool | None:
    """Take sirp's ``pii`` flag out of the OpenAI parameters (it is for the router, not the model)."""
    pii = params.pop("pii", None)
    if pii is not None and not isinstance(pii, bool):
        raise InputError(f"pii must be True, False or None, got {pii!r}")
    return pii


def _allowed(value: Any) -> frozenset[str] | None:
    """Check an ``allowed_models`` argument: ``None`` or a collection of model names (not one string)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Collection):
        raise InputError(
            f"allowed_models must be a collection of model names (e.g. {{'small', 'large'}}) or None, "
            f"got {type(value).__name__}"
        )
    names = frozenset(value)
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise InputError(f"allowed_models must hold model names (strings), got {bad[0]!r}")
    return names


@dataclasses.dataclass(frozen=True)
class _Guarded:
    """A request routed up front so that the guards could act on it before dispatch."""

    messages: Any
    decision: RoutingDecision
    embedding: np.ndarray | None
    cache_mode: Any

    def route(self, _messages: Any) -> RoutingDecision:
        return self.decision

    async def aroute(self, _messages: Any) -> RoutingDecision:
        return self.decision

    def route_and_embed(self, _messages: Any) -> tuple[RoutingDecision, np.ndarray | None]:
        return self.decision, self.embedding


def _pop_allowed(params: dict[str, Any]) -> frozenset[str] | None:
    """Take sirp's ``allowed_models`` out of the OpenAI parameters (it is for the router, not the model)."""
    return _allowed(params.pop("allowed_models", None))


class SemanticRouter:
    """Decides, per request, which tier and model answer and whether the model reasons first.

    ``SemanticRouter()`` loads the bundled default model and configuration: CPU, offline, no
    download. Pass a :class:`~sirp.RouterConfig` (or a dict, or a YAML path) to change the model
    folder, execution provider, tiers or policy; pass ``backend`` to run the model some other way.

    Example:
        >>> router = SemanticRouter()                          # doctest: +SKIP
        >>> router.route("What is the height of Mt. Everest?")  # doctest: +SKIP
        RoutingDecision(category='other', tier='slm', reasoning=False, ...)
    """

    def __init__(
        self,
        config: RouterConfig | dict[str, Any] | str | Path | None = None,
        *,
        backend: Backend | None = None,
    ) -> None:
        self.config = _as_config(config)
        c = self.config.classifier
        self.folder = ModelFolder.load(c.model if c.model is not None else DEFAULT_MODEL_DIR)
        self.tokenizer = Tokenizer.from_folder(self.folder, max_length=c.max_length, side=c.truncation_side)
        if backend is None:
            from sirp.backends.onnx import OnnxBackend

            backend = OnnxBackend(
                self.folder,
                precision=c.precision,
                provider=c.provider,
                threads=c.threads,
                graph_optimization=c.graph_optimization,
            )
        self.backend = backend
        self.extractor = SignalExtractor(self.folder, backend, self.tokenizer)
        manifest = self.folder.manifest
        self.policy = DefaultPolicy(
            self.config.tiers,
            self.config.policy,
            manifest.reference_models,
            categories=self.config.categories,
            labels=manifest.categories,
            models=self.config.models,
            jailbreak_threshold=manifest.jailbreak_threshold,
        )
        #: the model has guard heads: every message of a request is read (PII spans, jailbreak score)
        self.guards = "pii" in manifest.outputs or "jailbreak" in manifest.outputs
        self._dispatcher: Dispatcher | None = None
        self._cached: CachedDispatch | None = None

    @classmethod
    def from_config(cls, config: RouterConfig | dict[str, Any] | str | Path, **kwargs: Any) -> SemanticRouter:
        """Build a router from a :class:`RouterConfig`, a dict, or the path of a YAML file."""
        return cls(config, **kwargs)

    # -- routing ---------------------------------------------------------------------------

    def route(
        self, prompt: Prompt, *, pii: bool | None = None, allowed_models: Collection[str] | None = None
    ) -> RoutingDecision:
        """Route one prompt (a string or OpenAI-style messages).

        With a model that has a PII head (the bundled one does), every message is scanned for
        personal data in the same pass (``decision.pii``); ``pii=True`` / ``pii=False`` says it
        instead, overriding the head. With ``policy.privacy.pii_action: local_only`` only
        ``local`` models may answer such a request; with ``mask`` dispatch masks it. A jailbreak
        head scores the user and tool turns (``decision.jailbreak_score``; ``blocked`` under
        ``policy.jailbreak.action: block``).

        ``allowed_models`` restricts the answer to those model names (a caller's access rights,
        the capabilities a request needs): a chosen model outside the set gives way to the
        allowed model of the nearest tier, traced as ``eligibility.allowed``.

        Raises:
            NoEligibleModelError: no configured model is allowed (or, with personal data, none
                of the allowed ones is local).
        """
        return self.route_batch([prompt], pii=pii, allowed_models=allowed_models)[0]

    def route_batch(
        self,
        prompts: Sequence[Prompt],
        *,
        pii: bool | Sequence[bool | None] | None = None,
        allowed_models: Collection[str] | None = None,
    ) -> list[RoutingDecision]:
        """Route many prompts; they share classifier passes of ``classifier.batch_size``.

        Every prompt is checked before any model runs, so one bad prompt fails the call with
        an error naming its index and nothing is half-done. ``pii`` is one flag for every
        prompt, or one per prompt; ``allowed_models`` holds for every prompt (see :meth:`route`).
        """
        allowed = _allowed(allowed_models)
        if isinstance(prompts, (str, bytes)) or not isinstance(prompts, Sequence):
            raise PromptTypeError(
                f"route_batch() takes a list of prompts, got {type(prompts).__name__}; use route() for one prompt"
            )
        if pii is None or isinstance(pii, bool):
            flags: list[bool | None] = [pii] * len(prompts)
        else:
            flags = list(pii)
            if len(flags) != len(prompts):
                raise InputError(f"pii has {len(flags)} flags for {len(prompts)} prompts; give one per prompt")
        start = time.perf_counter()
        conv = self.config.conversation
        inputs: list[RoutingText] = []
        for i, p in enumerate(prompts):
            try:
                inputs.append(to_routing_text(p, window=conv.window, max_chars=self.config.classifier.max_prompt_chars))
            except (PromptTypeError, ValueError) as err:
                if len(prompts) == 1:
                    raise
                raise type(err)(f"prompts[{i}]: {err}") from err
        signals, slots, found = self._signals(prompts, inputs)
        per_request_ms = (time.perf_counter() - start) * 1000 / max(1, len(prompts))
        return [
            self._decide(signals, alone, ctx, per_request_ms, flag, allowed, f)
            for (alone, ctx), flag, f in zip(slots, flags, found, strict=True)
        ]

    def _signals(
        self, prompts: Sequence[Prompt], inputs: Sequence[RoutingText]
    ) -> tuple[list[ClassifierSignals], list[tuple[int, int | None]], list[Findings | None]]:
        """One batched pass over the routing texts and (with guard heads) every window of every prompt.

        Returns the signals of every text, each prompt's (routing text, with-context text) indices,
        and each prompt's guard findings (None without guard heads). A window equal to a text
        already in the batch (typically the last user turn) is read once.
        """
        texts: list[str] = []
        slots: list[tuple[int, int | None]] = []
        for r in inputs:
            texts.append(r.text)
            ctx = None
            if r.with_context is not None:
                texts.append(r.with_context)
                ctx = len(texts) - 1
            slots.append((len(texts) - 1 - (ctx is not None), ctx))
        windows: list[list[tuple[ScanWindow, int]]] = []
        if self.guards:
            index = {t: i for i, t in enumerate(texts)}
            for p in prompts:
                mine = []
                for w in scan_windows(p):
                    if w.text not in index:
                        index[w.text] = len(texts)
                        texts.append(w.text)
                    mine.append((w, index[w.text]))
                windows.append(mine)
        signals: list[ClassifierSignals] = []
        bs = self.config.classifier.batch_size
        for s in range(0, len(texts), bs):
            signals.extend(self.extractor.extract(texts[s : s + bs]))
        found: list[Findings | None] = [None] * len(inputs)
        if self.guards:
            privacy = self.config.policy.privacy
            found = [findings([w for w, _ in ws], [signals[i] for _, i in ws], privacy) for ws in windows]
        return signals, slots, found

    async def aroute(
        self, prompt: Prompt, *, pii: bool | None = None, allowed_models: Collection[str] | None = None
    ) -> RoutingDecision:
        """Async :meth:`route`: the classifier runs in a worker thread, never on the event loop."""
        return await asyncio.to_thread(self.route, prompt, pii=pii, allowed_models=allowed_models)

    async def aroute_batch(
        self,
        prompts: Sequence[Prompt],
        *,
        pii: bool | Sequence[bool | None] | None = None,
        allowed_models: Collection[str] | None = None,
    ) -> list[RoutingDecision]:
        """Async :meth:`route_batch` (classifier in a worker thread)."""
        return await asyncio.to_thread(self.route_batch, prompts, pii=pii, allowed_models=allowed_models)

    def embed(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        """The classifier's embedding of each text (``None`` where the model has no embedding output)."""
        out: list[np.ndarray | None] = []
        bs = self.config.classifier.batch_size
        for s in range(0, len(texts), bs):
            out.extend(sig.embedding for sig in self.extractor.extract(texts[s : s + bs]))
        return out

    def route_and_embed(
        self, prompt: Prompt, *, pii: bool | None = None, allowed_models: Collection[str] | None = None
    ) -> tuple[RoutingDecision, np.ndarray | None]:
        """Route one prompt (see :meth:`route`) and return its last user turn's embedding from the same pass.

        The embedding is ``None`` when the model has no embedding output or the turn was truncated
        (the semantic cache never answers a request it could not read whole).
        """
        start = time.perf_counter()
        allowed = _allowed(allowed_models)
        r = to_routing_text(
            prompt, window=self.config.conversation.window, max_chars=self.config.classifier.max_prompt_chars
        )
        signals, slots, found = self._signals([prompt], [r])
        alone, ctx = slots[0]
        decision = self._decide(signals, alone, ctx, (time.perf_counter() - start) * 1000, pii, allowed, found[0])
        return decision, None if signals[alone].truncated else signals[alone].embedding

    def _decide(
        self,
        signals: list[ClassifierSignals],
        alone: int,
        ctx: int | None,
        latency_ms: float,
        pii: bool | None,
        allowed: frozenset[str] | None = None,
        found: Findings | None = None,
    ) -> RoutingDecision:
        sig = signals[alone]
        trace: list[TraceStep] = []
        if ctx is not None:
            min_conf = self.config.conversation.min_confidence
            with_ctx = signals[ctx]
            if sig.confidence < min_conf and with_ctx.confidence > sig.confidence:
                trace.append(
                    TraceStep(
                        rule="context.window",
                        detail=f"last turn alone is unsure ({sig.category} {sig.confidence:.2f} < {min_conf}); "
                        f"with earlier turns: {with_ctx.category} {with_ctx.confidence:.2f}",
                    )
                )
                sig = with_ctx
            else:
                trace.append(
                    TraceStep(rule="context.last_turn", detail=f"last turn alone decides ({sig.confidence:.2f})")
                )
        if found is not None:
            # the request's guard findings (every message) replace the routing text's own
            sig = dataclasses.replace(
                sig,
                pii_detected=bool(found.spans) if found.pii_checked else None,
                pii_spans=found.spans,
                jailbreak=found.jailbreak,
            )
        outcome = self.policy.decide(sig, pii=pii, allowed_models=allowed)
        return RoutingDecision(
            category=sig.category,
            confidence=sig.confidence,
            scores=sig.scores,
            success=outcome.success,
            complexity=outcome.complexity,
            tier=outcome.tier,
            reasoning=outcome.reasoning,
            reasoning_effort=outcome.reasoning_effort,
            model=outcome.model,
            reasoning_budget_tokens=outcome.reasoning_budget_tokens,
            local_only=outcome.local_only,
            allowed_models=list(outcome.allowed_models) if outcome.allowed_models is not None else None,
            category_config=outcome.category_config,
            pii_detected=pii if pii is not None else sig.pii_detected,
            pii=as_findings(sig.pii_spans),
            pii_action=outcome.pii_action,
            jailbreak_score=None if sig.jailbreak is None else round(sig.jailbreak, 4),
            jailbreak=outcome.jailbreak,
            blocked=outcome.blocked,
            truncated=signals[alone].truncated,
            latency_ms=latency_ms,
            trace=trace + outcome.trace,
        )

    # -- calling the chosen model ----------------------------------------------------------

    @property
    def cache(self) -> SemanticCache | None:
        """The semantic cache (``config.cache``, made on first use); ``None`` when it is off."""
        if self._cached is None and self.config.cache.enabled:
            from sirp.cache.dispatch import CachedDispatch
            from sirp.cache.semantic import SemanticCache

            self._cached = CachedDispatch(SemanticCache(self.config.cache), lambda: self.dispatcher)
        return None if self._cached is None else self._cached.cache

    @property
    def dispatcher(self) -> Dispatcher:
        """Calls the models of ``config.models`` (made on first use; ``openai`` loads on the first call)."""
        if self._dispatcher is None:
            from sirp.providers.client import Dispatcher

            self._dispatcher = Dispatcher(self.config, embed=self.embed)
        return self._dispatcher

    def complete(self, messages: Prompt, **params: Any) -> RoutedCompletion:
        """Route ``messages``, call the chosen model, and return its answer with the decision.

        ``messages`` is a string or OpenAI-style chat messages; ``params`` are OpenAI
        chat-completions parameters (``temperature``, ``max_tokens``, ``tools``, ``extra_body``,
        ...), forwarded as given, and:

        - ``model``: ``"auto"`` (or absent) routes; a configured model name, or a tier name,
          pins that model (traced as ``pin.model``; a pinned model has no fallback);
        - ``reasoning``: ``True`` / ``False`` forces reasoning on or off (traced as
          ``reasoning.forced``); the answering model's family decides how that is written;
        - ``time_budget_s``: time for the whole request, retries included
          (default ``dispatch.time_budget_s``); ``timeout``: time limit of each attempt;
        - ``pii``: ``True`` when the messages carry personal data (see :meth:`route`); with
          ``policy.privacy.pii_action: local_only`` the chosen model and every fallback are local.
        - ``allowed_models``: the only model names that may answer, fallbacks and pins included
          (see :meth:`route`).
        - ``cache``: ``"bypass"`` skips the semantic cache, ``"refresh"`` skips its lookup and
          stores the new answer (with ``cache.enabled``; the result's ``cache`` says what happened;
          a request with ``pii=True`` always bypasses it).

        The configured category's ``system_prompt`` is put before the messages, and with
        ``policy.tools.enabled`` a request carrying more than ``top_k`` tools keeps the ``top_k``
        most similar to the prompt.

        Transient failures (connection, timeout, 408, 429, 5xx) are retried with backoff,
        honouring ``Retry-After``; then the ``fallback`` models are tried in order.

        Raises:
            AllAttemptsFailedError: every attempt failed; the message lists each one.
            ConfigError: the chosen model has no endpoint under ``models``.
            InputError: bad messages or parameters.
        """
        pii, allowed = _pop_pii(params), _pop_allowed(params)
        cache_mode = pop_cache_mode(params, pii=pii)
        if self.guards:
            g = self._guard(messages, params, pii, allowed, cache_mode)
            if self.cache is not None and self._cached is not None:
                return self._cached.complete(g.messages, params, g.route_and_embed, g.cache_mode)
            return self.dispatcher.complete(g.messages, params, g.route)
        if self.cache is not None and self._cached is not None:
            route = functools.partial(self.route_and_embed, pii=pii, allowed_models=allowed)
            return self._cached.complete(messages, params, route, cache_mode)
        return self.dispatcher.complete(
            messages, params, functools.partial(self.route, pii=pii, allowed_models=allowed)
        )

    async def acomplete(self, messages: Prompt, **params: Any) -> RoutedCompletion:
        """Async :meth:`complete` (the classifier runs in a worker thread)."""
        pii, allowed = _pop_pii(params), _pop_allowed(params)
        cache_mode = pop_cache_mode(params, pii=pii)
        if self.guards:
            g = await asyncio.to_thread(self._guard, messages, params, pii, allowed, cache_mode)
            if self.cache is not None and self._cached is not None:
                return await self._cached.acomplete(g.messages, params, g.route_and_embed, g.cache_mode)
            return await self.dispatcher.acomplete(g.messages, params, g.aroute)
        if self.cache is not None and self._cached is not None:
            route = functools.partial(self.route_and_embed, pii=pii, allowed_models=allowed)
            return await self._cached.acomplete(messages, params, route, cache_mode)
        return await self.dispatcher.acomplete(
            messages, params, functools.partial(self.aroute, pii=pii, allowed_models=allowed)
        )

    def stream(self, messages: Prompt, **params: Any) -> RoutedStream:
        """Like :meth:`complete`, streamed: iterate the result for chunks, then read its ``.result``.

        Retries and fallbacks happen before the first chunk; usage is requested with
        ``stream_options.include_usage`` so cost is known at the end.
        """
        pii, allowed = _pop_pii(params), _pop_allowed(params)
        cache_mode = pop_cache_mode(params, pii=pii)
        if self.guards:
            g = self._guard(messages, params, pii, allowed, cache_mode)
            if self.cache is not None and self._cached is not None:
                return self._cached.stream(g.messages, params, g.route_and_embed, g.cache_mode)
            return self.dispatcher.stream(g.messages, params, g.route)
        if self.cache is not None and self._cached is not None:
            route = functools.partial(self.route_and_embed, pii=pii, allowed_models=allowed)
            return self._cached.stream(messages, params, route, cache_mode)
        return self.dispatcher.stream(messages, params, functools.partial(self.route, pii=pii, allowed_models=allowed))

    async def astream(self, messages: Prompt, **params: Any) -> AsyncRoutedStream:
        """Async :meth:`stream`: ``async for chunk in await router.astream(...)``."""
        pii, allowed = _pop_pii(params), _pop_allowed(params)
        cache_mode = pop_cache_mode(params, pii=pii)
        if self.guards:
            g = await asyncio.to_thread(self._guard, messages, params, pii, allowed, cache_mode)
            if self.cache is not None and self._cached is not None:
                return await self._cached.astream(g.messages, params, g.route_and_embed, g.cache_mode)
            return await self.dispatcher.astream(g.messages, params, g.aroute)
        if self.cache is not None and self._cached is not None:
            route = functools.partial(self.route_and_embed, pii=pii, allowed_models=allowed)
            return await self._cached.astream(messages, params, route, cache_mode)
        return await self.dispatcher.astream(
            messages, params, functools.partial(self.aroute, pii=pii, allowed_models=allowed)
        )

    def _guard(
        self, messages: Prompt, params: dict[str, Any], pii: bool | None, allowed: frozenset[str] | None, mode: Any
    ) -> _Guarded:
        """Route up front (one pass, every message read), then refuse or mask before dispatch.

        A request with personal data bypasses the semantic cache, as one flagged ``pii=True`` does.

        Raises:
            RequestBlockedError: the decision is blocked (``policy.jailbreak.action: block``).
        """
        decision, embedding = self.route_and_embed(messages, pii=pii, allowed_models=allowed)
        decision, sent = guard_request(decision, messages, self.config, params.get("model"))
        return _Guarded(sent, decision, embedding, "bypass" if decision.pii_detected else mode)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Release the classifier backend and the model clients."""
        self.backend.close()
        if self._dispatcher is not None:
            self._dispatcher.close()
        if self._cached is not None:
            self._cached.cache.close()

    async def aclose(self) -> None:
        """Async :meth:`close`: also closes the async model clients of the running event loop."""
        if self._dispatcher is not None:
            await self._dispatcher.aclose()
        if self._cached is not None:
            self._cached.cache.close()
        self.backend.close()

    async def __aenter__(self) -> SemanticRouter:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __enter__(self) -> SemanticRouter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
