"""Reasoning on/off, effort and budget, written in each model family's own request syntax.

The router decides *whether* a model reasons and how hard; every family spells that differently
in an OpenAI chat-completions request. :func:`apply_reasoning` takes the JSON body that goes on
the wire and returns a new one with the family's fields set:

==========  ==========================================================  =========================
family      reasoning on                                                reasoning off
==========  ==========================================================  =========================
qwen3       ``chat_template_kwargs: {enable_thinking: true}``           ``enable_thinking: false``
deepseek    ``chat_template_kwargs: {thinking: true}`` (V3.1)           ``thinking: false``
openai      ``reasoning_effort: low|medium|high`` (o-series, GPT-5)     ``reasoning_effort: minimal``
gpt-oss     ``reasoning_effort: low|medium|high``                       ``reasoning_effort: low``
anthropic   ``thinking: {type: enabled, budget_tokens: N}``             ``thinking: {type: disabled}``
gemini      ``extra_body.google.thinking_config.thinking_budget: N``    ``thinking_budget: 0``
prompt      a chain-of-thought instruction in the system message        unchanged
none        unchanged                                                   unchanged
==========  ==========================================================  =========================

Non-standard fields (``chat_template_kwargs``, ``thinking``, Gemini's ``extra_body``) are
top-level keys of the JSON body; with the ``openai`` client they travel in ``extra_body=``
(Gemini's OpenAI-compatible endpoint reads a body key literally named ``extra_body``).
gpt-oss cannot switch reasoning off, so "off" is its lowest effort. Qwen3 and DeepSeek have no
token budget switch; a budget is ignored for them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Literal, get_args

from sirp.config.schema import ReasoningFamily
from sirp.errors import ConfigError, InputError

__all__ = [
    "COT_INSTRUCTION",
    "DEFAULT_BUDGET_TOKENS",
    "FAMILIES",
    "Effort",
    "apply_reasoning",
    "asks_for_reasoning",
    "prepend_system",
]

Effort = Literal["low", "medium", "high"]

#: Every reasoning family sirp knows.
FAMILIES: tuple[str, ...] = get_args(ReasoningFamily)

#: Reasoning-token budget per effort where a family needs a number and none is configured
#: (Google maps OpenAI-style effort to the same 1k / 8k / 24k thinking budgets).
DEFAULT_BUDGET_TOKENS: dict[str, int] = {"low": 1024, "medium": 8192, "high": 24576}

#: Anthropic rejects extended-thinking budgets below this.
ANTHROPIC_MIN_BUDGET = 1024

#: The system instruction the ``prompt`` family adds when reasoning is on.
COT_INSTRUCTION = (
    "Think step by step before you answer: work through the problem carefully, check your reasoning, "
    "then state the final answer clearly."
)


def _effort(effort: str | None) -> Effort:
    if effort is None:
        return "medium"
    if effort not in DEFAULT_BUDGET_TOKENS:
        raise InputError(f"reasoning effort must be 'low', 'medium' or 'high', got {effort!r}")
    return effort  # type: ignore[return-value]


def _merged(payload: dict[str, Any], key: str, update: Mapping[str, Any]) -> dict[str, Any]:
    """``payload[key]`` (a mapping the caller may already have set) with ``update`` on top."""
    current = payload.get(key)
    base = dict(current) if isinstance(current, Mapping) else {}
    base.update(update)
    return base


def prepend_system(messages: Any, instruction: str) -> list[Any]:
    """``messages`` with ``instruction`` first in the system message (a new one when there is none)."""
    msgs = list(messages) if isinstance(messages, (list, tuple)) else []
    first = msgs[0] if msgs else None
    if isinstance(first, Mapping) and first.get("role") in ("system", "developer"):
        content = first.get("content")
        if isinstance(content, str):
            # One system message: several confuse chat templates that expect it first and alone.
            msgs[0] = {**first, "content": f"{instruction}\n\n{content}" if content else instruction}
            return msgs
    return [{"role": "system", "content": instruction}, *msgs]


def apply_reasoning(
    payload: Mapping[str, Any],
    family: str,
    enabled: bool,
    effort: str | None = None,
    budget_tokens: int | None = None,
) -> dict[str, Any]:
    """Return a copy of the chat-completions JSON body ``payload`` with reasoning set for ``family``.

    Args:
        payload: the request body (``model``, ``messages``, sampling parameters, ...). Not changed.
        family: one of :data:`FAMILIES`.
        enabled: reason first (chain-of-thought) or answer directly.
        effort: ``"low"``, ``"medium"`` or ``"high"`` (``None`` = ``"medium"``) when enabled.
        budget_tokens: most reasoning tokens, for families that take a number (Anthropic,
            Gemini, and as a hint for ``prompt``); ``None`` = a default for the effort (Gemini:
            its dynamic budget when no effort is given either).

    Raises:
        ConfigError: an unknown family.
        InputError: an unknown effort or a budget below 1.
    """
    if family not in FAMILIES:
        raise ConfigError(f"unknown reasoning family {family!r}; use one of: {', '.join(FAMILIES)}")
    if budget_tokens is not None and budget_tokens < 1:
        raise InputError(f"reasoning budget must be at least 1 token, got {budget_tokens}")
    out: dict[str, Any] = copy.deepcopy(dict(payload))
    if family == "none":
        return out
    level = _effort(effort) if enabled else None
    if family == "qwen3":
        out["chat_template_kwargs"] = _merged(out, "chat_template_kwargs", {"enable_thinking": enabled})
    elif family == "deepseek":
        out["chat_template_kwargs"] = _merged(out, "chat_template_kwargs", {"thinking": enabled})
    elif family == "openai":
        out["reasoning_effort"] = level if enabled else "minimal"
    elif family == "gpt-oss":
        # gpt-oss always reasons; "off" is its cheapest setting.
        out["reasoning_effort"] = level if enabled else "low"
    elif family == "anthropic":
        if enabled:
            budget = budget_tokens if budget_tokens is not None else DEFAULT_BUDGET_TOKENS[_effort(effort)]
            out["thinking"] = {"type": "enabled", "budget_tokens": max(budget, ANTHROPIC_MIN_BUDGET)}
        else:
            out["thinking"] = {"type": "disabled"}
    elif family == "gemini":
        if not enabled:
            budget = 0
        elif budget_tokens is not None:
            budget = budget_tokens
        elif effort is not None:
            budget = DEFAULT_BUDGET_TOKENS[_effort(effort)]
        else:
            budget = -1  # Gemini's dynamic budget: the model decides how much to think
        extra = out.get("extra_body")
        extra = copy.deepcopy(dict(extra)) if isinstance(extra, Mapping) else {}
        google = _merged(extra, "google", {})
        google["thinking_config"] = _merged(google, "thinking_config", {"thinking_budget": budget})
        extra["google"] = google
        out["extra_body"] = extra
    elif family == "prompt" and enabled:
        instruction = COT_INSTRUCTION
        if budget_tokens is not None:
            instruction += f" Keep the reasoning under about {budget_tokens} tokens."
        out["messages"] = prepend_system(out.get("messages", []), instruction)
    return out


def asks_for_reasoning(payload: Mapping[str, Any]) -> bool:
    """Whether a request body, in any family's syntax, asks the model to reason first.

    The inverse of :func:`apply_reasoning`, for servers and test doubles that receive requests.
    """
    kwargs = payload.get("chat_template_kwargs")
    if isinstance(kwargs, Mapping):
        for key in ("enable_thinking", "thinking"):
            if key in kwargs:
                return bool(kwargs[key])
    effort = payload.get("reasoning_effort")
    if isinstance(effort, str):
        return effort not in ("minimal", "none")
    thinking = payload.get("thinking")
    if isinstance(thinking, Mapping):
        return thinking.get("type") == "enabled"
    extra = payload.get("extra_body")
    if isinstance(extra, Mapping):
        cfg = (extra.get("google") or {}).get("thinking_config") or {}
        if isinstance(cfg, Mapping) and "thinking_budget" in cfg:
            return bool(cfg["thinking_budget"] != 0)
    messages = payload.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], Mapping):
        content = messages[0].get("content")
        if messages[0].get("role") in ("system", "developer") and isinstance(content, str):
            return COT_INSTRUCTION in content
    return False
