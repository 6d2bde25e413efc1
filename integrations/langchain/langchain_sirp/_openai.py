"""Tier chat models made from a sirp config: one ``ChatOpenAI`` per configured model endpoint."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import SecretStr

from sirp import ConfigError, MissingDependencyError, RouterConfig
from sirp.config.schema import ModelConfig

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

__all__ = ["NO_KEY", "chat_openai_models"]

#: Sent when a model has no ``api_key_env`` (as sirp's dispatch does): local servers ignore it.
NO_KEY = "sirp-no-key"


def _key_reader(mc: ModelConfig) -> Callable[[], str]:
    """Reads ``mc``'s key from its environment variable at call time, as sirp's dispatch does."""
    env = mc.api_key_env
    assert env is not None

    def read() -> str:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(
                f"the environment variable {env} (api_key_env of model {mc.name!r}) is not set; "
                "export the API key in it"
            )
        return value

    return read


def chat_openai_models(
    config: RouterConfig,
    *,
    api_key: SecretStr | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> dict[str, BaseChatModel]:
    """One ``ChatOpenAI`` per entry of ``config.models``, keyed by model name.

    Each points at its endpoint's ``base_url`` with the Chat Completions API (what sirp's
    endpoints speak), reports usage when streaming, and reads its key from ``api_key_env`` when
    a request is made; ``api_key`` is the key of models that name no variable. ``timeout`` and
    ``max_retries`` override every endpoint's own.
    """
    if not config.models:
        return {}
    try:
        from langchain_openai import ChatOpenAI
    except ImportError as err:
        raise MissingDependencyError(
            "building tier chat models from a sirp config needs langchain-openai: "
            'pip install "langchain-sirp[openai]" (or pass models={tier: chat_model} yourself)'
        ) from err
    out: dict[str, BaseChatModel] = {}
    for mc in config.models:
        key: SecretStr | Callable[[], str] = (
            _key_reader(mc) if mc.api_key_env is not None else (api_key or SecretStr(NO_KEY))
        )
        out[mc.name] = ChatOpenAI(
            model=mc.name,
            base_url=mc.base_url,
            api_key=key,
            timeout=timeout if timeout is not None else mc.timeout_s,
            max_retries=max_retries if max_retries is not None else mc.max_retries,
            stream_usage=True,
            use_responses_api=False,
        )
    return out
