"""What the Runnable and the chat model share: a router made on first use, and LangChain input → sirp prompt."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, convert_to_messages, convert_to_openai_messages
from langchain_core.prompt_values import PromptValue

from sirp import PromptTypeError, RouterConfig, SemanticRouter

__all__ = ["LazyRouter", "as_router_config", "to_prompt"]


def as_router_config(value: RouterConfig | Mapping[str, Any] | str | Path | None) -> RouterConfig | None:
    """A :class:`~sirp.RouterConfig` from a config, a dict or the path of a YAML file (errors name the field)."""
    if value is None or isinstance(value, RouterConfig):
        return value
    if isinstance(value, (str, Path)):
        return RouterConfig.from_yaml(value)
    return RouterConfig.from_dict(dict(value))


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


class LazyRouter:
    """Holds the :class:`~sirp.SemanticRouter`, building it from the config on first use.

    Building one loads the classifier (about a second for the bundled model), so a chat model or
    Runnable that is only constructed, serialised or bound never pays for it.
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
