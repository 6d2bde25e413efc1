"""What the Runnable and the chat model share: a router made on first use, and LangChain input → sirp prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_messages, convert_to_openai_messages
from langchain_core.prompt_values import PromptValue

from sirp import PromptTypeError, RouterConfig
from sirp.config.loader import as_config
from sirp.lazy import LazyRouter

__all__ = ["LazyRouter", "as_router_config", "to_prompt"]


def as_router_config(value: RouterConfig | Mapping[str, Any] | str | Path | None) -> RouterConfig | None:
    """A :class:`~sirp.RouterConfig` from a config, a dict or the path of a YAML file (errors name the field)."""
    return None if value is None else as_config(value)


def to_prompt(value: Any) -> str | list[dict[str, Any]]:
    """A LangChain input (string, messages, prompt value) as a sirp prompt (a string or OpenAI-style messages).

    Messages go through LangChain's own OpenAI conversion, so every message form LangChain
    accepts (message objects, ``("human", "...")`` tuples, dicts) routes the same way.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if isinstance(value, BaseMessage):
        value = [value]
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        try:
            messages = convert_to_messages(value)
        except (ValueError, NotImplementedError) as err:
            raise PromptTypeError(f"cannot route this input as chat messages: {err}") from err
        return convert_to_openai_messages(messages)
    raise PromptTypeError(
        "route a string, a list of messages or a prompt value (e.g. from a ChatPromptTemplate), "
        f"got {type(value).__name__}"
    )
