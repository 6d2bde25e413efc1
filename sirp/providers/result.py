"""What a dispatched request returns: the completion, the decision, usage, cost, timings, attempts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sirp.decision import RoutingDecision
from sirp.providers.usage import Usage

if TYPE_CHECKING:  # the openai import stays lazy: `import sirp` must not load it
    from openai.types.chat import ChatCompletion

__all__ = ["Attempt", "RoutedCompletion"]


@dataclass(frozen=True)
class Attempt:
    """One call to one model endpoint, successful or not.

    ``try_number`` counts the calls to a model: 1 for the first, 2 for the next (a retry, or a
    failover to another of its providers), and so on; ``provider`` names the provider called
    (``models[].providers[].name``, or the host of ``base_url``); ``wait_s`` is the backoff sirp
    waited before the next call to the same model (``None`` when it failed over or moved on).
    """

    model: str
    try_number: int
    latency_ms: float
    error: str | None = None
    kind: str | None = None
    status_code: int | None = None
    retryable: bool = False
    wait_s: float | None = None
    provider: str | None = None

    @property
    def ok(self) -> bool:
        """The call succeeded."""
        return self.error is None

    def __str__(self) -> str:
        via = f" via {self.provider}" if self.provider is not None else ""
        head = f"{self.model}{via} (try {self.try_number}, {self.latency_ms:.0f} ms): "
        if self.ok:
            return head + "ok"
        tail = ""
        if self.wait_s is not None:
            tail = f"; retried after {self.wait_s:.2f} s"
        return head + f"{self.error}{tail}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "model": self.model,
            "provider": self.provider,
            "try_number": self.try_number,
            "latency_ms": self.latency_ms,
            "ok": self.ok,
            "error": self.error,
            "kind": self.kind,
            "status_code": self.status_code,
            "retryable": self.retryable,
            "wait_s": self.wait_s,
        }


@dataclass(frozen=True)
class RoutedCompletion:
    """A chat completion from the model sirp chose, with why it was chosen and what it cost.

    Attributes:
        completion: the ``openai`` ``ChatCompletion`` (for a stream: assembled from its chunks).
        decision: the routing decision, with pins, forced reasoning and fallbacks in its trace.
        model: the model that answered (after a fallback it differs from ``decision.model``).
        provider: the provider of ``model`` that answered (see ``models[].providers``).
        usage: tokens as the endpoint reported them; ``None`` when it reported none.
        cost_usd: ``usage`` at the answering model's prices; ``None`` without usage.
        latency_ms: from the call to the last byte, routing, retries and waits included.
        time_to_first_token_ms: streams only: from the call to the first generated token.
        attempts: every call made, in order; the last one succeeded.
        cache: what the semantic cache did: ``"hit"`` (answered from it: no model call, no
            attempts, no usage, ``cost_usd`` 0), ``"miss"`` (stored), ``"refresh"`` (lookup skipped,
            stored), ``"bypass"`` (not used); ``None`` when ``cache.enabled`` is off.
    """

    completion: ChatCompletion
    decision: RoutingDecision
    model: str
    usage: Usage | None
    cost_usd: float | None
    latency_ms: float
    time_to_first_token_ms: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    provider: str | None = None
    cache: Literal["hit", "miss", "refresh", "bypass"] | None = None

    @property
    def content(self) -> str | None:
        """The text of the first choice."""
        choices = self.completion.choices
        return choices[0].message.content if choices else None

    @property
    def reasoning_content(self) -> str | None:
        """The first choice's reasoning text, where the server returns it (vLLM's ``reasoning_content``)."""
        choices = self.completion.choices
        if not choices:
            return None
        message = choices[0].message
        value = getattr(message, "reasoning_content", None) or (message.model_extra or {}).get("reasoning_content")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "completion": self.completion.model_dump(mode="json"),
            "decision": self.decision.model_dump(mode="json"),
            "model": self.model,
            "provider": self.provider,
            "usage": self.usage.to_dict() if self.usage is not None else None,
            "cost_usd": self.cost_usd,
            "latency_ms": self.latency_ms,
            "time_to_first_token_ms": self.time_to_first_token_ms,
            "attempts": [a.to_dict() for a in self.attempts],
            "cache": self.cache,
        }
