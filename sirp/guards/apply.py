"""From head outputs to a request's guard findings, and what dispatch does with them.

The router reads every window of a request (:mod:`sirp.guards.scan`) in the same batched pass
as routing; :func:`findings` gathers the windows' PII spans (in message coordinates, merged,
filtered by ``policy.privacy.entities`` and ``min_score``) and the request's jailbreak score.
Before a model is called, :func:`guard_request` refuses a blocked request
(:class:`~sirp.errors.RequestBlockedError`) and masks the messages when a model the request may
reach is set to ``mask``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sirp.config.policy import PrivacyConfig
from sirp.config.schema import RouterConfig
from sirp.decision import PiiFinding, RoutingDecision, TraceStep
from sirp.errors import RequestBlockedError
from sirp.guards.pii import PiiSpan
from sirp.guards.scan import ATTACK_ROLES, ScanWindow, mask_messages, merge_spans
from sirp.signals.classifier import ClassifierSignals

__all__ = ["Findings", "findings", "guard_request", "reachable_models", "summary"]


@dataclass(frozen=True)
class Findings:
    """What the guard heads found in one request."""

    spans: tuple[PiiSpan, ...]
    """the personal data that counts (policy.privacy.entities, min_score), in message coordinates"""
    pii_checked: bool
    """the model has a PII head (else ``spans`` is empty because nobody looked)"""
    jailbreak: float | None
    """highest jailbreak score over the request's user and tool texts; None without the head"""


def relevant(spans: Sequence[PiiSpan], privacy: PrivacyConfig) -> list[PiiSpan]:
    """The spans the privacy policy counts: of a listed type (all when none listed), sure enough."""
    keep = set(privacy.entities)
    return [s for s in spans if (not keep or s.entity in keep) and s.score >= privacy.min_score]


def findings(windows: Sequence[ScanWindow], signals: Sequence[ClassifierSignals], privacy: PrivacyConfig) -> Findings:
    """Combine the signals of a request's windows (``signals[i]`` read ``windows[i]``)."""
    spans: list[PiiSpan] = []
    scores: list[float] = []
    checked = False
    for w, sig in zip(windows, signals, strict=True):
        checked = checked or sig.pii_detected is not None
        spans.extend(PiiSpan(s.entity, s.start + w.offset, s.end + w.offset, s.score, w.message) for s in sig.pii_spans)
        if sig.jailbreak is not None and w.role in ATTACK_ROLES:
            scores.append(sig.jailbreak)
    has_head = any(sig.jailbreak is not None for sig in signals)
    return Findings(
        spans=tuple(relevant(merge_spans(spans), privacy)),
        pii_checked=checked,
        jailbreak=max(scores) if scores else (0.0 if has_head else None),
    )


def as_findings(spans: Sequence[PiiSpan]) -> list[PiiFinding]:
    """The decision's view of spans."""
    return [
        PiiFinding(entity=s.entity, start=s.start, end=s.end, score=round(s.score, 4), message=s.message) for s in spans
    ]


def summary(spans: Sequence[PiiSpan | PiiFinding]) -> str:
    """``EMAIL×2, PHONE×1`` — types and counts, never values."""
    counts = Counter(s.entity for s in spans)
    return ", ".join(f"{e}×{n}" for e, n in sorted(counts.items()))


def reachable_models(decision: RoutingDecision, config: RouterConfig, pin: Any) -> list[str]:
    """The models dispatch may call for this request: a pinned one, or the chosen one and its fallbacks.

    Mirrors the dispatcher's plan (local-only and allowed-model filtering of the fallbacks); an
    unknown pin yields the routed model, and dispatch then refuses the pin with its own error.
    """
    if isinstance(pin, str) and pin not in ("", "auto"):
        names = {m.name for m in config.models}
        if pin in names:
            return [pin]
        tier = next((t for t in config.tiers if t.name == pin), None)
        if tier is not None:
            return [tier.model]
    chain = [decision.model, *(f for f in config.fallback if f != decision.model)]
    if decision.local_only:
        local = {m.name for m in config.models if m.local}
        chain = [decision.model, *(m for m in chain[1:] if m in local)]
    if decision.allowed_models is not None:
        chain = [decision.model, *(m for m in chain[1:] if m in decision.allowed_models)]
    return chain


def guard_request(
    decision: RoutingDecision, messages: Any, config: RouterConfig, pin: Any = None
) -> tuple[RoutingDecision, Any]:
    """Apply the guards to a request about to be dispatched: refuse it, or mask it, or pass it on.

    Masking is decided once per request: when the chosen model (or the pinned one) or any
    fallback it may reach is set to ``mask``, every attempt gets the masked messages, so a
    fallback never sees what the first choice was not to see.

    Raises:
        RequestBlockedError: the decision is blocked (``policy.jailbreak.action: block``).
    """
    if decision.blocked:
        score = decision.jailbreak_score if decision.jailbreak_score is not None else float("nan")
        raise RequestBlockedError(
            f"the request was refused: it reads as a jailbreak or prompt-injection attempt (score {score:.2f}) "
            "and policy.jailbreak.action is block; no model was called. Rephrase the request, or set the "
            "action to flag if this kind of text is expected",
            score=score,
        )
    if not decision.pii_detected:
        return decision, messages
    spans = [PiiSpan(f.entity, f.start, f.end, f.score, f.message) for f in decision.pii]
    privacy = config.policy.privacy
    maskers = [m for m in reachable_models(decision, config, pin) if privacy.action(m) == "mask"]
    if not maskers:
        return decision, messages
    if not spans:
        step = TraceStep(
            rule="privacy.mask",
            detail=f"{', '.join(maskers)} must get personal data masked, but no PII span was found "
            "(pii=True from the caller?): nothing was masked",
        )
        return decision.model_copy(update={"trace": [*decision.trace, step]}), messages
    step = TraceStep(
        rule="privacy.mask",
        detail=f"{summary(spans)} replaced by placeholders before the request left "
        f"({', '.join(maskers)} {'is' if len(maskers) == 1 else 'are'} set to mask)",
    )
    return decision.model_copy(update={"trace": [*decision.trace, step]}), mask_messages(messages, spans)
