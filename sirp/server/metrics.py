"""Prometheus metrics of ``sirp serve``, scraped at ``GET /metrics``.

Each app has its own :class:`~prometheus_client.CollectorRegistry`, so two apps in one process
(tests, embedding) never share or collide. Labels take only bounded values: endpoint templates,
configured model names, classifier categories, tiers, error types.

With several workers (``--workers``), each process counts for itself; set
``PROMETHEUS_MULTIPROC_DIR`` to a shared empty folder and ``/metrics`` adds every worker up
(prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from sirp.decision import RoutingDecision
from sirp.providers.result import Attempt, RoutedCompletion
from sirp.providers.usage import Usage

__all__ = ["CONTENT_TYPE_LATEST", "ServerMetrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_CLASSIFIER_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1)


class ServerMetrics:
    """Every metric of one app, and the few calls that record them."""

    def __init__(self, registry: CollectorRegistry | None = None, *, namespace: str = "sirp") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.namespace = namespace
        r, ns = self.registry, namespace
        self.requests = Counter(
            "requests", "HTTP requests answered", ["endpoint", "method", "status"], namespace=ns, registry=r
        )
        self.request_seconds = Histogram(
            "request_duration_seconds",
            "time from request to the last byte of the answer",
            ["endpoint"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.in_flight = Gauge(
            "requests_in_flight", "requests being handled", namespace=ns, registry=r, multiprocess_mode="livesum"
        )
        self.errors = Counter(
            "errors", "error answers, by OpenAI error type", ["endpoint", "type", "status"], namespace=ns, registry=r
        )
        self.decisions = Counter(
            "decisions",
            "routing decisions",
            ["endpoint", "category", "tier", "reasoning"],
            namespace=ns,
            registry=r,
        )
        self.classifier_seconds = Histogram(
            "classifier_latency_seconds",
            "time to decide one request (classifier and policy)",
            namespace=ns,
            registry=r,
            buckets=_CLASSIFIER_BUCKETS,
        )
        self.upstream_seconds = Histogram(
            "upstream_latency_seconds",
            "time of one call to a model (streams: to the first chunk)",
            ["model", "outcome"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.ttft_seconds = Histogram(
            "upstream_ttft_seconds",
            "time to the first generated token of a streamed answer, routing included",
            ["model"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.tokens = Counter("tokens", "tokens used, by kind", ["model", "kind"], namespace=ns, registry=r)
        self.cost = Counter(
            "cost_usd", "cost of the answers at the configured prices", ["model"], namespace=ns, registry=r
        )
        self.fallbacks = Counter(
            "fallbacks",
            "answers from another model than the one chosen",
            ["chosen", "answered"],
            namespace=ns,
            registry=r,
        )
        self.upstream_errors = Counter(
            "upstream_errors", "failed calls to a model, by kind", ["model", "kind"], namespace=ns, registry=r
        )
        self.cache = Counter("cache", "what the semantic cache did", ["status"], namespace=ns, registry=r)

    # -- recording ---------------------------------------------------------------------------

    def decision(self, endpoint: str, d: RoutingDecision) -> None:
        """Count a decision and its classifier latency."""
        self.decisions.labels(endpoint, d.category, d.tier, "on" if d.reasoning else "off").inc()
        self.classifier_seconds.observe(d.latency_ms / 1000)

    def attempts(self, attempts: Iterable[Attempt]) -> None:
        """Record every call to a model: latency, and the failures by kind."""
        for a in attempts:
            self.upstream_seconds.labels(a.model, "ok" if a.ok else "error").observe(a.latency_ms / 1000)
            if not a.ok:
                self.upstream_errors.labels(a.model, a.kind or "unknown").inc()

    def completion(self, result: RoutedCompletion) -> None:
        """Record what a finished answer used: tokens, cost, time to first token, fallback, cache."""
        model = result.model
        self.attempts(result.attempts)
        if result.usage is not None:
            self.count_tokens(model, result.usage)
        if result.cost_usd:
            self.cost.labels(model).inc(result.cost_usd)
        if result.time_to_first_token_ms is not None:
            self.ttft_seconds.labels(model).observe(result.time_to_first_token_ms / 1000)
        if model != result.decision.model:
            self.fallbacks.labels(result.decision.model, model).inc()
        cache = getattr(result, "cache", None)
        if cache is not None:
            self.cache.labels(cache).inc()

    def count_tokens(self, model: str, usage: Usage) -> None:
        """Count an answer's prompt, completion and reasoning tokens."""
        self.tokens.labels(model, "prompt").inc(usage.prompt_tokens)
        self.tokens.labels(model, "completion").inc(usage.completion_tokens)
        self.tokens.labels(model, "reasoning").inc(usage.reasoning_tokens)

    def watch_cache(self, cache: Any) -> None:
        """Export ``cache.backend_errors`` (a SemanticCache's backend failures) at every scrape."""
        from prometheus_client.core import CounterMetricFamily

        ns = self.namespace

        class _CacheErrors:
            def collect(self) -> Iterable[CounterMetricFamily]:
                family = CounterMetricFamily(
                    f"{ns}_cache_backend_errors",
                    "semantic cache operations that failed in the backend (e.g. Redis down) and were served as misses",
                    labels=["operation"],
                )
                for op, n in cache.backend_errors.items():
                    family.add_metric([op], n)
                yield family

        self.registry.register(_CacheErrors())  # type: ignore[arg-type]

    # -- exposition --------------------------------------------------------------------------

    def render(self) -> bytes:
        """The text exposition format (every worker's, in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
            return generate_latest(merged)
        return generate_latest(self.registry)
