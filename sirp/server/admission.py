"""The server's view of the access layer: who may call, what they may reach, how often.

The access layer itself (identity headers, JWT, trusted proxies, RBAC, rate limits) lives in
:mod:`sirp.server.access` and is configured by ``server.access``. The app only needs the small
interface below; with ``server.access`` left at its defaults (everything off) the app admits
every request through :class:`OpenAccess` and never loads the access layer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sirp.config.access import AccessConfig
from sirp.config.schema import RouterConfig

__all__ = ["AccessLayer", "AdmissionLike", "OpenAccess", "OpenAdmission", "build_access"]


class AdmissionLike(Protocol):
    """What the app reads from an admission (``sirp.server.access.Admission``)."""

    @property
    def allowed_models(self) -> frozenset[str] | None:
        """The models the caller may reach; ``None`` = unrestricted."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Headers for the response (``x-ratelimit-*``)."""

    @property
    def upstream_headers(self) -> Mapping[str, str]:
        """Identity headers to forward to the model (``x-authz-*``)."""

    @property
    def reroute(self) -> bool:
        """The request pinned a model above the caller's rights and RBAC routes it down:
        route within ``allowed_models`` instead of answering with the pinned model."""


class AccessLayer(Protocol):
    """What the app calls on the access layer (``sirp.server.access.AccessControl``)."""

    async def admit(
        self, headers: Mapping[str, str], peer: str | None, *, model: str, estimated_tokens: int
    ) -> AdmissionLike:
        """Admit a request, or raise ``AuthenticationError`` (401), ``PermissionDeniedError`` (403),
        ``RateLimitError`` (429)."""

    async def record_usage(self, admission: AdmissionLike, tokens: int) -> None:
        """Count the tokens a request used against the caller's tokens-per-minute limit."""

    async def aclose(self) -> None:
        """Release connections (Redis)."""


@dataclass(frozen=True)
class OpenAdmission:
    """An admission that restricts nothing and adds no headers."""

    allowed_models: frozenset[str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upstream_headers: Mapping[str, str] = field(default_factory=dict)
    reroute: bool = False


class OpenAccess:
    """The access layer when ``server.access`` is off: every request is admitted, nothing is counted."""

    async def admit(
        self, headers: Mapping[str, str], peer: str | None, *, model: str, estimated_tokens: int
    ) -> AdmissionLike:
        """Admit the request."""
        return OpenAdmission()

    async def record_usage(self, admission: AdmissionLike, tokens: int) -> None:
        """Nothing to count."""

    async def aclose(self) -> None:
        """Nothing to release."""


def build_access(config: RouterConfig, *, redis_url: str | None) -> AccessLayer:
    """The access layer of ``config.server.access``: :class:`OpenAccess` when it is all off, else the real one.

    The real one gets the whole router config: RBAC rules may name tiers, and the auto model's
    name tells a routed request from a pin.
    """
    if config.server.access == AccessConfig():
        return OpenAccess()
    from sirp.server.access import AccessControl  # loaded only when access control is configured

    layer: AccessLayer = AccessControl.from_config(config, redis_url=redis_url)
    return layer
