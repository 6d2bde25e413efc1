"""What the LLM and the selector share: a router made on first use, config coercion, messages → sirp prompt."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import ChatMessage

from sirp import RouterConfig, SemanticRouter

__all__ = ["LazyRouter", "as_router_config", "to_prompt"]


def as_router_config(value: RouterConfig | Mapping[str, Any] | str | Path | None) -> RouterConfig | None:
    """A :class:`~sirp.RouterConfig` from a config, a dict or the path of a YAML file (errors name the field)."""
    if value is None or isinstance(value, RouterConfig):
        return value
    if isinstance(value, (str, Path)):
        return RouterConfig.from_yaml(value)
    return RouterConfig.from_dict(dict(value))


def to_prompt(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """LlamaIndex chat messages as OpenAI-style messages for sirp (text parts only: sirp classifies text)."""
    return [{"role": m.role.value, "content": m.content or ""} for m in messages]


class LazyRouter:
    """Holds the :class:`~sirp.SemanticRouter`, building it from the config on first use.

    Building one loads the classifier (about a second for the bundled model), so an LLM or
    selector that is only constructed never pays for it.
    """

    def __init__(self, router: SemanticRouter | None, config: RouterConfig | None) -> None:
        self._router = router
        self._config = config
        self._lock = threading.Lock()

    @property
    def config(self) -> RouterConfig:
        """The router's configuration (the built-in default when none was given)."""
        if self._router is not None:
            return self._router.config
        if self._config is None:
            self._config = RouterConfig()
        return self._config

    @property
    def built(self) -> bool:
        """Whether the router exists already (building it would not block)."""
        return self._router is not None

    def get(self) -> SemanticRouter:
        """The router, built on the first call."""
        if self._router is None:
            with self._lock:
                if self._router is None:
                    self._router = SemanticRouter(self.config)
        return self._router

    async def aget(self) -> SemanticRouter:
        """:meth:`get` for async callers: a first build runs in a worker thread, off the event loop."""
        if self._router is None:
            import asyncio

            return await asyncio.to_thread(self.get)
        return self._router
