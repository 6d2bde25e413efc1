"""Tier LLMs made from a sirp config: one OpenAI-compatible LlamaIndex LLM per configured model endpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from sirp import ConfigError, MissingDependencyError, RouterConfig

if TYPE_CHECKING:
    from llama_index.core.llms import LLM
    from llama_index.llms.openai import OpenAI

__all__ = ["DEFAULT_CONTEXT_WINDOW", "NO_KEY", "Endpoints", "openai_llms"]

#: Sent when a model has no ``api_key_env`` (as sirp's dispatch does): local servers ignore it.
NO_KEY = "sirp-no-key"
#: Context window assumed for an endpoint without ``context_length`` (LlamaIndex's own default).
DEFAULT_CONTEXT_WINDOW = 3900


def _endpoint_class() -> type[OpenAI]:
    try:
        from llama_index.core.base.llms.types import LLMMetadata
        from llama_index.llms.openai import OpenAI
    except ImportError as err:
        raise MissingDependencyError(
            "building tier LLMs from a sirp config needs llama-index-llms-openai: "
            'pip install "llama-index-llms-sirp[openai]" (or pass llms={tier: llm} yourself)'
        ) from err

    class _Endpoint(OpenAI):
        """``OpenAI`` for any OpenAI-compatible endpoint: the model name is not looked up in OpenAI's tables."""

        context_window: int = DEFAULT_CONTEXT_WINDOW
        function_calling: bool = True
        api_key_env: str | None = None

        @classmethod
        def class_name(cls) -> str:
            return "sirp_openai_endpoint"

        @property
        def metadata(self) -> LLMMetadata:
            return LLMMetadata(
                context_window=self.context_window,
                num_output=self.max_tokens or -1,
                is_chat_model=True,
                is_function_calling_model=self.function_calling,
                model_name=self.model,
            )

        @property
        def _tokenizer(self) -> None:  # OpenAI's tokenizer tables do not know other models' names
            return None

        def _get_credential_kwargs(self, is_async: bool = False) -> dict[str, Any]:
            # The key is read when the client is made (first request), as sirp's dispatch reads it.
            kwargs: dict[str, Any] = super()._get_credential_kwargs(is_async)
            if self.api_key_env is not None:
                kwargs["api_key"] = _read_key(self.api_key_env, self.model)
            return kwargs

    return _Endpoint


def _read_key(env: str, model: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise ConfigError(
            f"the environment variable {env} (api_key_env of model {model!r}) is not set; export the API key in it"
        )
    return value


@dataclass
class Endpoints:
    """The LLMs made for a config's endpoints, and the HTTP clients they use (theirs to close)."""

    llms: dict[str, LLM] = field(default_factory=dict)
    clients: list[httpx.Client] = field(default_factory=list)
    async_clients: list[httpx.AsyncClient] = field(default_factory=list)

    def close(self) -> None:
        """Close the synchronous HTTP clients."""
        for client in self.clients:
            client.close()

    async def aclose(self) -> None:
        """Close every HTTP client (the async ones on the running event loop)."""
        for aclient in self.async_clients:
            await aclient.aclose()
        self.close()


def openai_llms(
    config: RouterConfig,
    *,
    api_key: str | None = None,
    timeout: float | None = None,
    max_retries: int | None = None,
    function_calling: bool = True,
) -> Endpoints:
    """One OpenAI-compatible LLM per entry of ``config.models``, keyed by model name.

    Each points at its endpoint's ``base_url``, reads its key from ``api_key_env`` when its first
    request is made (``api_key`` is the key of models that name none), and reports the endpoint's
    ``context_length`` as its context window. ``function_calling`` says whether the endpoints take
    ``tools`` (vLLM needs ``--enable-auto-tool-choice`` for that). Their HTTP clients are made here, so that whoever
    made the LLMs can close the connections they keep open.

    Raises:
        MissingDependencyError: ``llama-index-llms-openai`` is not installed.
    """
    out = Endpoints()
    if not config.models:
        return out
    cls = _endpoint_class()
    for mc in config.models:
        kwargs: dict[str, Any] = {
            "model": mc.name,
            "api_base": mc.base_url,
            # a placeholder until the first request reads api_key_env (NO_KEY for local servers)
            "api_key": api_key if mc.api_key_env is None and api_key else NO_KEY,
            "api_key_env": mc.api_key_env,
            "timeout": timeout if timeout is not None else mc.timeout_s,
            "max_retries": max_retries if max_retries is not None else mc.max_retries,
            "context_window": mc.context_length or DEFAULT_CONTEXT_WINDOW,
            "function_calling": function_calling,
        }
        client, aclient = httpx.Client(), httpx.AsyncClient()
        out.clients.append(client)
        out.async_clients.append(aclient)
        out.llms[mc.name] = cls(**kwargs, http_client=client, async_http_client=aclient)
    return out
