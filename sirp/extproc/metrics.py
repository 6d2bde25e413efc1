"""Prometheus metrics of ``sirp extproc``: the server's metrics, plus what only the ext_proc path has.

The shared ones (``sirp_requests_total``, ``sirp_decisions_total``, ``sirp_tokens_total``,
``sirp_cost_usd_total``, ``sirp_cache_total``, ...) mean what they mean for ``sirp serve``
(:mod:`sirp.server.metrics`), so one dashboard reads both front doors. Added here:

- ``sirp_extproc_requests_total{endpoint, outcome}``: every request Envoy asked about, by what
  sirp did (``routed``, ``pinned``, ``passthrough``, ``cache_hit``, ``refused``, ``failed_open``,
  ``failed_closed``, ``not_routed`` for paths sirp does not route);
- ``sirp_extproc_failures_total{phase, kind}``: internal failures (``kind``: ``error``,
  ``timeout``), each answered by the fail-open or fail-closed rule;
- ``sirp_extproc_aborted_total{phase}``: exchanges Envoy ended before the answer's last byte
  (the client went away); nothing of them is cached.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from sirp.config.schema import ModelConfig
from sirp.providers.usage import Usage
from sirp.server.metrics import ServerMetrics

__all__ = ["ExtProcMetrics"]


class ExtProcMetrics(ServerMetrics):
    """The server's metrics and the ext_proc counters, in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, namespace: str = "sirp") -> None:
        super().__init__(registry, namespace=namespace)
        r = self.registry
        self.outcomes = Counter(
            "extproc_requests",
            "requests Envoy asked about, by what sirp did",
            ["endpoint", "outcome"],
            namespace=namespace,
            registry=r,
        )
        self.failures = Counter(
            "extproc_failures",
            "internal failures, answered by the fail-open or fail-closed rule",
            ["phase", "kind"],
            namespace=namespace,
            registry=r,
        )
        self.aborted = Counter(
            "extproc_aborted",
            "exchanges that ended before the answer's last byte",
            ["phase"],
            namespace=namespace,
            registry=r,
        )

    def usage(self, model: str, usage: Usage, config: ModelConfig | None) -> None:
        """Count an answer's tokens, and its cost at ``config``'s prices (``None``: a model sirp does not price)."""
        self.count_tokens(model, usage)
        if config is not None and (cost := usage.cost_usd(config)):
            self.cost.labels(model).inc(cost)
