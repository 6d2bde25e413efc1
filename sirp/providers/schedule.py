"""The order of one request's calls: provider failover, retries with backoff, model fallback.

No I/O here: the dispatcher's sync and async drivers (:mod:`sirp.providers.client`) ask
:meth:`Schedule.next` for the next call, make it, and report back with
:meth:`~Schedule.succeeded` / :meth:`~Schedule.failed` (which says how long to wait) /
:meth:`~Schedule.abandon`. Both drivers therefore retry, fail over and fall back the same way.

For each model of the chain, in order::

    pick a provider (balancer: weighted, healthy, not yet failed in this round)
      └─ it fails through its own fault, and another provider may take the call → fail over at once
      └─ every provider failed this round, the failure is transient, retries are left → back off, new round
      └─ otherwise → next model
    a model whose every provider is ejected is skipped, unless it is the chain's last

and nothing outlasts the request's time budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sirp.config.providers import ProviderEndpoint
from sirp.config.schema import DispatchConfig, ModelConfig
from sirp.decision import TraceStep
from sirp.errors import AllAttemptsFailedError, UpstreamError
from sirp.providers.balancer import Balancer, is_provider_fault
from sirp.providers.result import Attempt

__all__ = ["Schedule", "Target"]


@dataclass(frozen=True)
class Target:
    """One call to make: which model, at which of its providers, its try number, its time limit."""

    model: ModelConfig
    provider: ProviderEndpoint
    try_number: int
    timeout_s: float

    @property
    def provider_name(self) -> str:
        """The provider's label (``providers[].name`` or the host of its URL)."""
        return self.provider.label


class Schedule:
    """Which model and provider to call next and how long to wait first; records every attempt.

    Args:
        chain: the models to try, in order (the chosen one, then its fallbacks).
        cfg: backoff settings.
        budget_s: time for the whole request.
        balancer: picks providers and keeps their health; shared across requests.
    """

    def __init__(self, chain: list[ModelConfig], cfg: DispatchConfig, budget_s: float, balancer: Balancer) -> None:
        self.chain = chain
        self.cfg = cfg
        self.budget_s = budget_s
        self.balancer = balancer
        self.deadline = time.monotonic() + budget_s
        self.index = 0
        self.tries = 0  # calls to the current model
        self.round = 0  # backoff rounds of the current model (its retries so far)
        self.failed_here: set[str] = set()  # providers of the current model that failed this round
        self.attempts: list[Attempt] = []
        self.skipped: list[str] = []  # models passed over because every provider was ejected
        self.out_of_time = False

    def _last(self) -> bool:
        return self.index == len(self.chain) - 1

    def _move_on(self) -> None:
        self.index += 1
        self.tries = 0
        self.round = 0
        self.failed_here = set()

    def next(self, timeout_s: float | None) -> Target | None:
        """The next call to make; ``None`` when nothing is left (then raise :meth:`error`).

        ``timeout_s`` is the caller's per-attempt limit; otherwise the provider's (or model's)
        ``timeout_s`` applies, and never more than the budget that remains.
        """
        while self.index < len(self.chain):
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                self.out_of_time = True
                return None
            mc = self.chain[self.index]
            # The chain's last model is tried even when all its providers are ejected ("panic",
            # as Envoy says): a request is never refused without a single call.
            provider = self.balancer.pick(mc.name, self.failed_here, panic=self._last())
            if provider is None:
                if self.tries == 0:
                    self.skipped.append(mc.name)
                self._move_on()
                continue
            self.tries += 1
            limit = timeout_s or provider.timeout_s or mc.timeout_s
            return Target(mc, provider, self.tries, min(limit, remaining))
        return None

    def failed(self, target: Target, err: UpstreamError, latency_ms: float) -> float:
        """Record a failure; return the seconds to wait before the next call (0: call at once).

        The next call goes to another provider of the same model (failover), the same model
        after a backoff (retry), or the next model (fallback), in that order of preference.
        """
        mc, name = target.model, target.provider_name
        fault = is_provider_fault(err)
        if fault:
            self.balancer.record_failure(mc.name, name)
        else:  # the provider answered; the request was at fault
            self.balancer.record_success(mc.name, name)
        self.failed_here.add(name)
        wait: float | None = None
        stay = fault and bool(self.balancer.available(mc.name, self.failed_here, panic=self._last()))
        if not stay and err.is_retryable and self.round < mc.max_retries:
            c = self.cfg
            delay = (
                err.retry_after
                if err.retry_after is not None
                else min(c.backoff_max_s, c.backoff_initial_s * c.backoff_multiplier**self.round)
            )
            # A wait that would outlast the request's budget is better spent on the next model.
            if time.monotonic() + delay < self.deadline:
                wait = delay
        self.attempts.append(
            Attempt(
                model=mc.name,
                try_number=target.try_number,
                latency_ms=latency_ms,
                error=str(err),
                kind=err.kind,
                status_code=err.status_code,
                retryable=err.is_retryable,
                wait_s=wait,
                provider=name,
            )
        )
        if stay:
            return 0.0
        if wait is None:
            self._move_on()
            return 0.0
        self.round += 1
        self.failed_here = set()
        return wait

    def succeeded(self, target: Target, latency_ms: float) -> None:
        """Record the successful attempt (and the provider's health)."""
        self.balancer.record_success(target.model.name, target.provider_name)
        self.attempts.append(
            Attempt(
                model=target.model.name,
                try_number=target.try_number,
                latency_ms=latency_ms,
                provider=target.provider_name,
            )
        )

    def abandon(self, target: Target) -> None:
        """The call ended with something that is not the endpoint's failure (a bug, a cancellation)."""
        self.balancer.release(target.model.name, target.provider_name)

    def trace(self, target: Target) -> list[TraceStep]:
        """What dispatch adds to the decision's trace for an answer from ``target``."""
        steps: list[TraceStep] = []
        if self.skipped:
            steps.append(
                TraceStep(
                    rule="dispatch.ejected",
                    detail=f"{', '.join(self.skipped)} skipped: every provider ejected after failures",
                )
            )
        failed_over = [
            a.provider for a in self.attempts if a.model == target.model.name and not a.ok and a.provider is not None
        ]
        others = list(dict.fromkeys(p for p in failed_over if p != target.provider_name))
        if others:
            steps.append(
                TraceStep(
                    rule="dispatch.failover",
                    detail=f"{target.model.name}: {', '.join(others)} failed; {target.provider_name} answered",
                )
            )
        return steps

    def error(self) -> AllAttemptsFailedError:
        """The error listing every attempt, for when nothing succeeded."""
        tried = list(dict.fromkeys(a.model for a in self.attempts))
        untried = [m.name for m in self.chain if m.name not in tried and m.name not in self.skipped]
        msg = f"every attempt failed ({len(self.attempts)} calls to {', '.join(tried) or 'no model'})"
        if self.skipped:
            msg += f"; {', '.join(self.skipped)} skipped (every provider ejected after failures)"
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
