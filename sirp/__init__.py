"""sirp — semantic inference routing for LLM requests.

For every request, sirp decides which model tier answers it (SLM, SRM, LLM, LRM) and whether
that model should reason first, from what the request means::

    from sirp import SemanticRouter

    decision = SemanticRouter().route("What is the height of Mt. Everest?")
    print(decision.tier, decision.model, decision.reasoning)

Importing ``sirp`` is cheap: the router, its config and decision types resolve lazily, and
onnxruntime loads only when a router is built.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sirp._version import __version__
from sirp.errors import (
    AllAttemptsFailedError,
    BackendError,
    ConfigError,
    InputError,
    MissingDependencyError,
    ModelLoadError,
    NoEligibleModelError,
    PromptTypeError,
    ProviderUnavailableError,
    SirpError,
    TrainingError,
    UpstreamError,
)

if TYPE_CHECKING:
    from sirp.config.schema import RouterConfig
    from sirp.decision import RoutingDecision
    from sirp.router import SemanticRouter

__all__ = [
    "AllAttemptsFailedError",
    "BackendError",
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "ModelLoadError",
    "NoEligibleModelError",
    "PromptTypeError",
    "ProviderUnavailableError",
    "RouterConfig",
    "RoutingDecision",
    "SemanticRouter",
    "SirpError",
    "TrainingError",
    "UpstreamError",
    "__version__",
]

_LAZY = {
    "SemanticRouter": "sirp.router",
    "RoutingDecision": "sirp.decision",
    "RouterConfig": "sirp.config.schema",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sirp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
