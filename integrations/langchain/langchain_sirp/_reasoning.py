"""sirp's reasoning syntax (and category system prompts) carried into a LangChain chat model call.

:func:`sirp.providers.reasoning.apply_reasoning` writes a family's reasoning switch into an
OpenAI chat-completions body; nothing here re-states that syntax. It is applied to a probe body
and the result is carried over in two parts:

- the **messages** part (the ``prompt`` family's chain-of-thought instruction) becomes a change of
  the first system message of the LangChain messages;
- every **other field** (``chat_template_kwargs``, ``reasoning_effort``, ``thinking``, Gemini's
  ``extra_body``) travels the way the chat model passes unknown body fields: inside
  ``extra_body`` for OpenAI-compatible clients (``ChatOpenAI`` and its relatives, whose
  ``openai`` client rejects unknown keyword arguments), as call keyword arguments for others
  (``ChatAnthropic`` takes ``thinking`` that way).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, SystemMessage

from sirp.providers.reasoning import apply_reasoning, prepend_system

__all__ = ["prepend_system_message", "reasoning_call"]


def _system_probe(messages: list[BaseMessage]) -> list[dict[str, Any]]:
    """The first message as sirp sees it, when it is a system message sirp may extend."""
    first = messages[0] if messages else None
    if isinstance(first, SystemMessage) and isinstance(first.content, str):
        return [{"role": "system", "content": first.content}]
    return []


def _carry_system(messages: list[BaseMessage], probe: list[dict[str, Any]], result: Any) -> list[BaseMessage]:
    """``messages`` with the system text sirp wrote into ``result`` (a changed copy of ``probe``)."""
    if not isinstance(result, list) or result == probe or not result:
        return messages
    text = result[0]["content"]
    if probe:
        return [messages[0].model_copy(update={"content": text}), *messages[1:]]
    return [SystemMessage(content=text), *messages]


def prepend_system_message(messages: list[BaseMessage], instruction: str) -> list[BaseMessage]:
    """``messages`` with ``instruction`` first in the system message, as sirp's dispatch does it."""
    probe = _system_probe(messages)
    return _carry_system(messages, probe, prepend_system(probe, instruction))


def uses_extra_body(model: BaseChatModel) -> bool:
    """Whether ``model`` sends unknown body fields in ``extra_body`` (OpenAI-compatible clients)."""
    return "extra_body" in type(model).model_fields


def reasoning_call(
    model: BaseChatModel,
    messages: list[BaseMessage],
    kwargs: Mapping[str, Any],
    *,
    family: str,
    enabled: bool,
    effort: str | None,
    budget_tokens: int | None,
) -> tuple[list[BaseMessage], dict[str, Any]]:
    """The messages and call keyword arguments that ask ``model`` to reason (or not) in ``family``'s syntax.

    Raises:
        ConfigError: an unknown family.
        InputError: an unknown effort or a budget below 1.
    """
    probe = _system_probe(messages)
    body = apply_reasoning({"messages": probe}, family, enabled, effort, budget_tokens)
    messages = _carry_system(messages, probe, body.pop("messages", probe))
    out = dict(kwargs)
    if not body:
        return messages, out
    if uses_extra_body(model):
        # A call's extra_body replaces the model's own: keep the model's, then the caller's, then sirp's.
        own = getattr(model, "extra_body", None)
        merged = {**(own if isinstance(own, Mapping) else {}), **(out.get("extra_body") or {})}
        merged.update(body)
        out["extra_body"] = merged
    else:
        out.update(body)
    return messages, out
