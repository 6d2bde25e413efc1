"""What a caller may override in a decision: the model (a pin) and whether it reasons.

Every front door — :class:`sirp.providers.client` dispatch, the LangChain chat model, the
LlamaIndex LLM — lets a call say ``model="<tier or model>"`` or ``reasoning=True/False``. The
decision must then say what was overridden (its trace) and stay consistent: a pinned tier
brings its own reasoning budget, forced reasoning takes the category's effort. These functions
are that one rule, so the front doors cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Collection

from sirp.config.schema import RouterConfig
from sirp.decision import RoutingDecision, TraceStep
from sirp.errors import InputError
from sirp.policy.default import reasoning_budget

__all__ = ["force_reasoning", "pin_model"]


def force_reasoning(config: RouterConfig, decision: RoutingDecision, reasoning: bool) -> RoutingDecision:
    """``decision`` with reasoning forced on or off by the caller, and a ``reasoning.forced`` trace step.

    Forced on, the effort is the decision's, else the category's ``reasoning_effort``, else
    ``"medium"``; forced off, there is no effort.
    """
    category = config.category(decision.category_config)
    default = category.reasoning_effort if category is not None else None
    effort = (decision.reasoning_effort or default or "medium") if reasoning else None
    step = TraceStep(
        rule="reasoning.forced",
        detail=f"caller forced reasoning {'on' if reasoning else 'off'} "
        f"(policy said {'on' if decision.reasoning else 'off'})",
    )
    update = {"reasoning": reasoning, "reasoning_effort": effort, "trace": [*decision.trace, step]}
    return decision.model_copy(update=update)


def pin_model(
    config: RouterConfig, decision: RoutingDecision, pin: str, available: Collection[str], *, what: str = "models"
) -> tuple[str, RoutingDecision]:
    """Resolve a caller's ``model=pin`` against the keys a front door can call.

    ``available`` are the names the caller's adapter holds a client for (tier names and/or
    model names). Returns the key to call and the decision changed to name the pinned model,
    its tier and that tier's reasoning budget, with a ``pin.model`` trace step.

    Raises:
        InputError: ``pin`` is neither one of ``available`` nor a tier whose model is.
    """
    tiers = {t.name: t for t in config.tiers}
    if pin in available:
        key = pin
    elif pin in tiers and tiers[pin].model in available:
        key = tiers[pin].model
    else:
        raise InputError(
            f"model={pin!r} is neither 'auto', a tier, nor one of this router's {what} ({', '.join(available)})"
        )
    endpoint = config.endpoint(key)
    model = tiers[key].model if key in tiers else key
    if endpoint is not None:
        tier = endpoint.tier
    elif key in tiers:
        tier = key
    else:
        tier = next((t.name for t in config.tiers if t.model == key), decision.tier)
    budget = reasoning_budget(tiers.get(tier), config.category(decision.category_config))
    step = TraceStep(
        rule="pin.model",
        detail=f"caller pinned {model} (tier {tier}); router chose {decision.model} (tier {decision.tier})",
    )
    update = {"model": model, "tier": tier, "reasoning_budget_tokens": budget, "trace": [*decision.trace, step]}
    return key, decision.model_copy(update=update)
