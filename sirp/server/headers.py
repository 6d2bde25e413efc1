"""Every header name ``sirp serve`` reads or writes, and the SIRP signalling values it sends.

The drafts' wire names are not final (``PROTOCOLS.md``), so they live here only, each under a
stable key that ``server.header_names`` can re-map. Which names come from where:

- ``X-SIRP-Category``, ``X-SIRP-Complexity``, ``X-SIRP-Sensitivity``, ``X-SIRP-Decision``,
  ``X-SIRP-Policy``: the SIRP draft's Section 6, as reported (the value formats are sirp's).
- ``X-SIRP-Model``, ``X-SIRP-Cache``: sirp's, in the same family (the model that answered, and
  what the semantic cache did: ``hit``, ``miss``, ``refresh``, ``bypass``; left out when no cache
  is configured).
- ``x-vsr-selected-model``, ``x-vsr-selected-category``, ``x-vsr-selected-reasoning``,
  ``x-vsr-cache-hit``: the reference implementation (vLLM Semantic Router); sent when
  ``server.vsr_headers`` is on.
- Request hints (the VAR modules): ``X-SIRP-Urgency``, ``X-SIRP-Privacy``, ``X-SIRP-Max-Tier``,
  ``X-SIRP-Require``: sirp's.

Values are plain ASCII; a value with other characters (a category label in another script) is
percent-encoded, since header values are Latin-1 on the wire.
"""

from __future__ import annotations

from urllib.parse import quote

from sirp.config.server import HeaderKey, ServerConfig
from sirp.decision import RoutingDecision

__all__ = ["DEFAULT_HEADER_NAMES", "VSR_HEADER_NAMES", "HeaderNames", "header_value", "signal_headers"]

#: The default wire name of every header key.
DEFAULT_HEADER_NAMES: dict[HeaderKey, str] = {
    "category": "X-SIRP-Category",
    "complexity": "X-SIRP-Complexity",
    "sensitivity": "X-SIRP-Sensitivity",
    "decision": "X-SIRP-Decision",
    "policy": "X-SIRP-Policy",
    "model": "X-SIRP-Model",
    "cache": "X-SIRP-Cache",
    "request_id": "X-Request-Id",
    "urgency": "X-SIRP-Urgency",
    "privacy": "X-SIRP-Privacy",
    "max_tier": "X-SIRP-Max-Tier",
    "require": "X-SIRP-Require",
}

#: The reference implementation's decision headers (vLLM Semantic Router).
VSR_HEADER_NAMES = {
    "model": "x-vsr-selected-model",
    "category": "x-vsr-selected-category",
    "reasoning": "x-vsr-selected-reasoning",
    "cache": "x-vsr-cache-hit",
}


class HeaderNames:
    """The wire names in force: the defaults, with ``server.header_names`` applied."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        overrides = config.header_names if config is not None else {}
        self._names: dict[HeaderKey, str] = {**DEFAULT_HEADER_NAMES, **overrides}
        self.vsr = config.vsr_headers if config is not None else True

    def __getitem__(self, key: HeaderKey) -> str:
        return self._names[key]

    def response_names(self) -> list[str]:
        """Every header a routed response may carry (for CORS ``Access-Control-Expose-Headers``)."""
        keys: list[HeaderKey] = ["category", "complexity", "sensitivity", "decision", "policy", "model", "cache"]
        names = [self._names[k] for k in keys] + [self._names["request_id"]]
        if self.vsr:
            names += list(VSR_HEADER_NAMES.values())
        return names


def header_value(value: str) -> str:
    """``value`` as a header value: printable ASCII as is, anything else percent-encoded."""
    if value.isascii() and value.isprintable():
        return value
    return quote(value, safe=" !#$%&'()*+,-./:;<=>?@[]^_`{|}~")


def _sensitivity(decision: RoutingDecision) -> str:
    # The policy traces privacy.* exactly when the request carries personal data.
    if not any(t.rule.startswith("privacy.") for t in decision.trace):
        return "none"
    return f"pii; action={'local_only' if decision.local_only else 'allow'}"


def _decision(decision: RoutingDecision) -> str:
    parts = [f"model={decision.model}", f"tier={decision.tier}", f"reasoning={'on' if decision.reasoning else 'off'}"]
    if decision.reasoning and decision.reasoning_effort:
        parts.append(f"effort={decision.reasoning_effort}")
    return "; ".join(parts)


def signal_headers(
    decision: RoutingDecision, names: HeaderNames, *, answered_by: str | None = None, cache: str | None = None
) -> dict[str, str]:
    """The SIRP signalling headers of one routed response.

    Args:
        decision: the routing decision (pins, forced reasoning and fallbacks in its trace).
        names: the wire names in force.
        answered_by: the model that answered, when a model was called (after a fallback it is
            not ``decision.model``); ``None`` for a decision only (``/v1/classify``).
        cache: what the semantic cache did (``hit``, ``miss``, ``refresh``, ``bypass``); ``None``
            when no cache is configured, and the cache header is then left out.
    """
    rules = list(dict.fromkeys(t.rule for t in decision.trace))
    model = answered_by or decision.model
    out: dict[str, str] = {
        names["category"]: f"{decision.category}; confidence={decision.confidence:.3f}",
        names["complexity"]: f"{decision.complexity:.3f}",
        names["sensitivity"]: _sensitivity(decision),
        names["decision"]: _decision(decision),
        names["policy"]: ", ".join(rules) or "none",
        names["model"]: model,
    }
    headers = {k: header_value(v) for k, v in out.items()}
    if cache is not None:
        headers[names["cache"]] = cache
    if names.vsr:
        headers[VSR_HEADER_NAMES["model"]] = header_value(model)
        headers[VSR_HEADER_NAMES["category"]] = header_value(decision.category)
        headers[VSR_HEADER_NAMES["reasoning"]] = "on" if decision.reasoning else "off"
        headers[VSR_HEADER_NAMES["cache"]] = "true" if cache == "hit" else "false"
    return headers
