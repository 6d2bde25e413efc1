"""Request hints: the SIRP draft's value-added routing (VAR) modules, as a request can steer them.

The draft names four optional modules; in sirp each maps onto the policy:

==================  =================================================================================
VAR module          in sirp
==================  =================================================================================
cost                the tier rule itself (a stronger tier only where its predicted gain pays for it),
                    and ``X-SIRP-Max-Tier: srm``: the caller caps the tier it will pay for
urgency             ``X-SIRP-Urgency: high`` asks for the fast path: no reasoning, and at most
                    ``server.fast_path_max_tier`` when set
domain              per-category rules (``categories[].model_scores``, ``override_tier``,
                    ``system_prompt``), decided from the content, never from a client's claim
privacy             ``policy.privacy``; ``X-SIRP-Privacy: pii`` marks a request as carrying personal
                    data (with ``pii_action: local_only`` only local models answer it)
==================  =================================================================================

Hints only narrow the choice (cheaper, faster, more private, more capable); none widens what a
caller may reach, so the server may honour them from anyone (``server.client_hints``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import get_args

from sirp.config.base import TIER_ORDER
from sirp.config.server import ServerConfig
from sirp.decision import Tier
from sirp.server.capabilities import Requirements, parse_requirements
from sirp.server.errors import APIError
from sirp.server.headers import HeaderNames

__all__ = ["RequestHints", "read_hints"]

_URGENCY = {"high": True, "normal": False, "low": False}
_PRIVACY = {"pii": True, "private": True, "sensitive": True, "none": None, "public": None}
_TIERS: dict[str, Tier] = {t: t for t in get_args(Tier)}


def _rank(tier: Tier) -> int:
    return TIER_ORDER[tier]


@dataclass(frozen=True)
class RequestHints:
    """What a request asked of the routing, besides its content."""

    urgent: bool = False
    pii: bool | None = None
    max_tier: Tier | None = None
    require: Requirements = field(default_factory=Requirements)


def _bad(header: str, value: str, known: str) -> APIError:
    return APIError(400, f"header {header}: {value!r} is not one of {known}", code="invalid_value", param=header)


def read_hints(headers: Mapping[str, str], names: HeaderNames, config: ServerConfig) -> RequestHints:
    """The hints in a request's headers (none when ``server.client_hints`` is off).

    Raises:
        APIError: 400 for a hint header with a value it does not know.
    """
    if not config.client_hints:
        return RequestHints()
    urgent = False
    if (raw := headers.get(names["urgency"])) is not None:
        value = raw.strip().lower()
        if value not in _URGENCY:
            raise _bad(names["urgency"], raw, ", ".join(_URGENCY))
        urgent = _URGENCY[value]
    pii = None
    if (raw := headers.get(names["privacy"])) is not None:
        value = raw.strip().lower()
        if value not in _PRIVACY:
            raise _bad(names["privacy"], raw, ", ".join(_PRIVACY))
        pii = _PRIVACY[value]
    caps: list[Tier] = []
    if (raw := headers.get(names["max_tier"])) is not None:
        value = raw.strip().lower()
        if value not in _TIERS:
            raise _bad(names["max_tier"], raw, ", ".join(_TIERS))
        caps.append(_TIERS[value])
    fast_cap = config.fast_path_max_tier
    if urgent and fast_cap is not None:
        caps.append(fast_cap)
    require = Requirements()
    if (raw := headers.get(names["require"])) is not None:
        try:
            require = parse_requirements(raw)
        except ValueError as err:
            raise APIError(
                400, f"header {names['require']}: {err}", code="invalid_value", param=names["require"]
            ) from None
    caps.sort(key=_rank)  # the lowest cap holds
    return RequestHints(urgent=urgent, pii=pii, max_tier=caps[0] if caps else None, require=require)
