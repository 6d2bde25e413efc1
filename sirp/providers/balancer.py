"""Which provider of a model answers the next call: weighted choice among the healthy ones.

A model (``models[]`` in the config) is served by one or more providers
(:meth:`~sirp.config.schema.ModelConfig.endpoints`). The :class:`Balancer` keeps a health
record per provider, in the manner of Envoy's outlier detection and a circuit breaker::

    healthy ──(consecutive_failures in a row, or error_rate of the last window)──► ejected
    ejected ──(cooldown_s passed)──► half-open: one request probes it
    half-open ──probe ok──► healthy            half-open ──probe fails──► ejected, cool-down × 2

and picks among the providers that may take a call, at random in proportion to their
``weight`` (a seeded :class:`random.Random` makes it reproducible). The record lives in
memory, per process: each replica learns its providers' health from its own calls.

Only failures that say something about the provider count (:func:`is_provider_fault`); the
dispatcher decides retries, failover and fallback (:mod:`sirp.providers.client`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Literal

from sirp.config.providers import HealthConfig, ProviderEndpoint
from sirp.config.schema import ModelConfig
from sirp.errors import UpstreamError

__all__ = ["Balancer", "ProviderHealth", "ProviderState", "is_provider_fault"]

logger = logging.getLogger(__name__)

#: A provider's state as :meth:`Balancer.snapshot` reports it.
ProviderState = Literal["healthy", "ejected", "half_open"]

#: HTTP statuses that say the provider (not the request) is at fault: overloaded, refusing our
#: key, or not serving the model. 400, 413 and 422 are the request's own fault.
_FAULT_STATUS = frozenset({401, 403, 404, 408, 429})

#: Failures without a status that are the provider's: it did not answer, or not usably.
_FAULT_KINDS = frozenset({"connection", "timeout", "invalid_response", "stream_broken", "config"})


def is_provider_fault(err: UpstreamError) -> bool:
    """Whether ``err`` says something about the provider that was called, rather than about the request.

    Such failures count against the provider's health and make the dispatcher try another
    provider of the same model; the others (400, 413, 422, ...) would fail the same way anywhere.
    """
    if err.kind in _FAULT_KINDS:
        return True
    status = err.status_code
    return status is not None and (status >= 500 or status in _FAULT_STATUS)


@dataclass(frozen=True)
class ProviderHealth:
    """One provider's health, as :meth:`Balancer.snapshot` reports it (JSON-serialisable via ``vars``)."""

    model: str
    provider: str
    base_url: str
    weight: float
    state: ProviderState
    calls: int
    consecutive_failures: int
    window_calls: int
    window_failures: int
    ejections: int
    probe_in_s: float | None
    """seconds until an ejected provider may be probed; 0 when half-open, ``None`` when healthy"""


@dataclass
class _Record:
    """Mutable health of one provider (guarded by the balancer's lock)."""

    endpoint: ProviderEndpoint
    window: deque[bool]
    consecutive: int = 0
    ejections: int = 0
    ejected_until: float | None = None
    probing: bool = False
    calls: int = 0


class Balancer:
    """Spreads each model's calls over its providers by weight and tracks their health.

    Thread-safe; one instance serves every request of a :class:`~sirp.providers.Dispatcher`,
    sync and async alike (its critical sections are a few dictionary operations).

    Args:
        models: the configured models; each brings its providers.
        health: ejection and recovery settings (``dispatch.health``).
        rng: the random source of the weighted choice; pass a seeded one for reproducible picks.
        clock: monotonic seconds; tests pass a fake one to step through cool-downs.
    """

    def __init__(
        self,
        models: Iterable[ModelConfig],
        health: HealthConfig | None = None,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.health = health if health is not None else HealthConfig()
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, _Record]] = {
            m.name: {p.label: _Record(p, deque(maxlen=self.health.window)) for p in m.endpoints()} for m in models
        }

    # -- choosing -------------------------------------------------------------------------

    def providers(self, model: str) -> list[ProviderEndpoint]:
        """Every provider of ``model``, in config order (names, keys and timeouts filled in)."""
        return [r.endpoint for r in self._model(model).values()]

    def _model(self, model: str) -> dict[str, _Record]:
        try:
            return self._records[model]
        except KeyError:
            raise KeyError(f"{model!r} is not a configured model ({', '.join(self._records)})") from None

    def _open(self, r: _Record, now: float) -> bool:
        """May take a call now: healthy, or half-open with no probe in flight."""
        if r.ejected_until is None:
            return True
        return now >= r.ejected_until and not r.probing

    def _candidates(self, model: str, exclude: Collection[str], panic: bool, now: float) -> list[_Record]:
        pool = [r for name, r in self._model(model).items() if name not in exclude]
        if not self.health.enabled:
            return pool
        open_ = [r for r in pool if self._open(r, now)]
        return open_ if open_ or not panic else pool

    def available(self, model: str, exclude: Collection[str] = (), *, panic: bool = False) -> list[str]:
        """Names of the providers of ``model`` a call could go to now, ``exclude`` left out.

        With ``panic``, when none is healthy, every provider not excluded (ejected ones too).
        """
        with self._lock:
            return [r.endpoint.label for r in self._candidates(model, exclude, panic, self.clock())]

    def pick(self, model: str, exclude: Collection[str] = (), *, panic: bool = False) -> ProviderEndpoint | None:
        """The provider for the next call to ``model``, or ``None`` when none may take it.

        Weighted random among :meth:`available` (those of weight 0 only when no weighted one
        is). Picking a half-open provider makes this call its probe: no other call goes to it
        until :meth:`record_success`, :meth:`record_failure` or :meth:`release` reports back.
        """
        with self._lock:
            now = self.clock()
            pool = self._candidates(model, exclude, panic, now)
            if not pool:
                return None
            weighted = [r for r in pool if r.endpoint.weight > 0]
            chosen = self._weighted(weighted) if weighted else pool[int(self.rng.random() * len(pool))]
            if chosen.ejected_until is not None and now >= chosen.ejected_until and self.health.enabled:
                chosen.probing = True
                logger.info("probing provider %s of %s after its cool-down", chosen.endpoint.label, model)
            return chosen.endpoint

    def _weighted(self, pool: list[_Record]) -> _Record:
        # Cumulative weights in config order: one draw, reproducible under a seeded rng.
        x = self.rng.random() * sum(r.endpoint.weight for r in pool)
        for r in pool:
            x -= r.endpoint.weight
            if x < 0:
                return r
        return pool[-1]  # float rounding at the top end

    def all_ejected(self, model: str) -> bool:
        """No provider of ``model`` may take a call now (each is ejected, or half-open with a probe in flight)."""
        return not self.available(model)

    # -- reporting back -------------------------------------------------------------------

    def record_success(self, model: str, provider: str) -> None:
        """A call answered (a request error such as 400 counts: the provider is up); restores an ejected provider."""
        with self._lock:
            r = self._model(model)[provider]
            r.calls += 1
            if r.ejected_until is not None:
                logger.info("provider %s of %s answered again; restored", provider, model)
                r.ejected_until, r.ejections, r.probing = None, 0, False
                r.window.clear()
            r.consecutive = 0
            r.window.append(True)

    def record_failure(self, model: str, provider: str) -> None:
        """A call failed through the provider's fault (:func:`is_provider_fault`); may eject it."""
        with self._lock:
            r = self._model(model)[provider]
            r.calls += 1
            if not self.health.enabled:
                return
            now = self.clock()
            if r.ejected_until is not None:
                # A failed probe ejects again for longer; a call made in panic while it was
                # ejected (and not probing) tells nothing new and leaves the cool-down alone.
                if r.probing:
                    self._eject(model, r, now, "its probe failed")
                return
            r.consecutive += 1
            r.window.append(False)
            h = self.health
            failures = r.window.count(False)
            if r.consecutive >= h.consecutive_failures:
                self._eject(model, r, now, f"{r.consecutive} failures in a row")
            elif len(r.window) >= h.min_calls and failures / len(r.window) >= h.error_rate:
                self._eject(model, r, now, f"{failures} of its last {len(r.window)} calls failed")

    def release(self, model: str, provider: str) -> None:
        """A call ended without telling anything about the provider (cancelled, a local bug): free its probe slot."""
        with self._lock:
            self._model(model)[provider].probing = False

    def _eject(self, model: str, r: _Record, now: float, why: str) -> None:
        h = self.health
        cooldown = min(h.max_cooldown_s, h.cooldown_s * 2**r.ejections)
        r.ejected_until = now + cooldown
        r.ejections += 1
        r.consecutive = 0
        r.probing = False
        r.window.clear()
        logger.warning("provider %s of %s ejected for %.0f s: %s", r.endpoint.label, model, cooldown, why)

    # -- looking ----------------------------------------------------------------------------

    def snapshot(self) -> list[ProviderHealth]:
        """Every provider's health now, models and providers in config order."""
        out: list[ProviderHealth] = []
        with self._lock:
            now = self.clock()
            for model, records in self._records.items():
                for name, r in records.items():
                    state: ProviderState = "healthy"
                    probe_in: float | None = None
                    if r.ejected_until is not None:
                        probe_in = max(0.0, r.ejected_until - now)
                        state = "ejected" if probe_in > 0 or r.probing else "half_open"
                    out.append(
                        ProviderHealth(
                            model=model,
                            provider=name,
                            base_url=r.endpoint.base_url,
                            weight=r.endpoint.weight,
                            state=state,
                            calls=r.calls,
                            consecutive_failures=r.consecutive,
                            window_calls=len(r.window),
                            window_failures=r.window.count(False),
                            ejections=r.ejections,
                            probe_in_s=probe_in,
                        )
                    )
        return out
