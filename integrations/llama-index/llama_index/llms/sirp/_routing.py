"""What the LLM and the selector share: a router made on first use, config coercion, messages → sirp prompt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import ChatMessage

from sirp import RouterConfig
from sirp.config.loader import as_config
from sirp.lazy import LazyRouter

__all__ = ["LazyRouter", "as_router_config", "to_prompt"]


def as_router_config(value: RouterConfig | Mapping[str, Any] | str | Path | None) -> RouterConfig | None:
    """A :class:`~sirp.RouterConfig` from a config, a dict or the path of a YAML file (errors name the field)."""
    return None if value is None else as_config(value)


def to_prompt(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """LlamaIndex chat messages as OpenAI-style messages for sirp (text parts only: sirp classifies text)."""
    return [{"role": m.role.value, "content": m.content or ""} for m in messages]
