"""sirp's reasoning syntax (and category system prompts) carried into a LlamaIndex LLM call.

:func:`sirp.providers.reasoning.apply_reasoning` writes a family's reasoning switch into an
OpenAI chat-completions body; nothing here re-states that syntax. It is applied to a probe body
and the result is carried over in two parts:

- the **messages** part (the ``prompt`` family's chain-of-thought instruction) becomes a change of
  the first system message (or, for ``complete``, text before the prompt);
- every **other field** (``chat_template_kwargs``, ``reasoning_effort``, ``thinking``, Gemini's
  ``extra_body``) travels the way the LLM passes unknown body fields: inside ``extra_body`` for
  the OpenAI-compatible LLMs of ``llama-index-llms-openai`` (whose ``openai`` client rejects
  unknown keyword arguments), as call keyword arguments for others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.llms import LLM

from sirp.providers.reasoning import apply_reasoning, prepend_system

__all__ = ["prepend_system_message", "reasoning_call", "split_extra_body"]


def _probe(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    first = messages[0] if messages else None
    if first is not None and first.role == MessageRole.SYSTEM and first.content is not None:
        return [{"role": "system", "content": first.content}]
    return []


def _carry(messages: list[ChatMessage], probe: list[dict[str, Any]], result: Any) -> list[ChatMessage]:
    if not isinstance(result, list) or not result or result == probe:
        return messages
    text = result[0]["content"]
    if probe:
        first = ChatMessage(role=MessageRole.SYSTEM, content=text, additional_kwargs=messages[0].additional_kwargs)
        return [first, *messages[1:]]
    return [ChatMessage(role=MessageRole.SYSTEM, content=text), *messages]


def prepend_system_message(messages: list[ChatMessage], instruction: str) -> list[ChatMessage]:
    """``messages`` with ``instruction`` first in the system message, as sirp's dispatch does it."""
    probe = _probe(messages)
    return _carry(messages, probe, prepend_system(probe, instruction))


def _openai_llm_class() -> type | None:
    try:
        from llama_index.llms.openai import OpenAI
    except ImportError:  # the OpenAI integration is optional
        return None
    return OpenAI


def uses_extra_body(llm: LLM) -> bool:
    """Whether ``llm`` is one of ``llama-index-llms-openai``'s (unknown body fields go in ``extra_body``)."""
    cls = _openai_llm_class()
    return cls is not None and isinstance(llm, cls)


def split_extra_body(llm: LLM) -> tuple[LLM, dict[str, Any]]:
    """``llm`` ready for per-call ``extra_body``, and the ``extra_body`` of its own ``additional_kwargs``.

    ``llama-index-llms-openai`` lets ``additional_kwargs`` override per-call arguments, so an
    ``extra_body`` there would hide sirp's fields: such an LLM is copied once without it, and its
    fields are merged into every call instead.
    """
    if not uses_extra_body(llm):
        return llm, {}
    own: dict[str, Any] = dict(getattr(llm, "additional_kwargs", None) or {})
    extra = own.pop("extra_body", None)
    if not isinstance(extra, Mapping):
        return llm, {}
    return llm.model_copy(update={"additional_kwargs": own}), dict(extra)


def reasoning_call(
    llm: LLM,
    messages: list[ChatMessage],
    kwargs: Mapping[str, Any],
    *,
    base_extra_body: Mapping[str, Any],
    family: str,
    enabled: bool,
    effort: str | None,
    budget_tokens: int | None,
) -> tuple[list[ChatMessage], dict[str, Any]]:
    """The messages and call keyword arguments that ask ``llm`` to reason (or not) in ``family``'s syntax.

    ``base_extra_body`` is the LLM's own ``extra_body`` (see :func:`split_extra_body`).

    Raises:
        ConfigError: an unknown family.
        InputError: an unknown effort or a budget below 1.
    """
    probe = _probe(messages)
    body = apply_reasoning({"messages": probe}, family, enabled, effort, budget_tokens)
    messages = _carry(messages, probe, body.pop("messages", probe))
    out = dict(kwargs)
    if not uses_extra_body(llm):
        out.update(body)
        return messages, out
    merged = {**base_extra_body, **(out.get("extra_body") or {}), **body}
    if merged:
        out["extra_body"] = merged
    return messages, out
