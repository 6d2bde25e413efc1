"""Settings of ``sirp serve`` (the OpenAI-compatible router server).

Every header name the server reads or writes has a key here (:data:`HeaderKey`); the defaults
live in :mod:`sirp.server.headers`, and ``header_names`` overrides any of them, because the
drafts' wire names are not final.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sirp.config.access import AccessConfig
from sirp.config.base import FieldPathError
from sirp.config.base import StrictModel as _Model
from sirp.config.extproc import ExtProcConfig
from sirp.decision import Tier
from sirp.errors import ConfigError

__all__ = ["HeaderKey", "ResponseStoreConfig", "ServerConfig"]

#: Every header the server reads (request hints) or writes (signalling), by a stable key.
HeaderKey = Literal[
    "category",
    "complexity",
    "sensitivity",
    "decision",
    "policy",
    "model",
    "cache",
    "request_id",
    "urgency",
    "privacy",
    "max_tier",
    "require",
]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# RFC 9110 token characters: what a header field name may be made of.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class ResponseStoreConfig(_Model):
    """Where ``POST /v1/responses`` keeps responses for ``GET`` and ``previous_response_id`` chaining."""

    backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="memory: in this process (one replica); redis: shared by every replica (needs redis_url_env)",
    )
    max_entries: int = Field(
        default=10_000, ge=1, description="most responses kept; the least recently used goes first"
    )
    ttl_s: float = Field(default=86_400.0, gt=0, description="seconds a response is kept after it is stored")


class ServerConfig(_Model):
    """How the OpenAI-compatible server behaves; the routing itself is the rest of :class:`RouterConfig`."""

    host: str = Field(default="127.0.0.1", min_length=1, description="address to listen on (0.0.0.0: every one)")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port to listen on")
    workers: int = Field(default=1, ge=1, description="worker processes (each loads the classifier)")
    auto_model: str = Field(
        default="auto",
        min_length=1,
        description="the model name that asks sirp to route; any configured model name pins that model",
    )
    max_request_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="largest request body accepted; larger ones get HTTP 413"
    )
    max_batch_size: int = Field(default=256, ge=1, description="most inputs in one POST /v1/classify request")
    responses: ResponseStoreConfig = ResponseStoreConfig()
    redis_url: str | None = Field(
        default=None,
        description="Redis shared by the replicas (response store, rate limits), e.g. redis://redis:6379/0; "
        "no password in it: use redis_url_env for that",
    )
    redis_url_env: str | None = Field(
        default=None,
        description="NAME of an environment variable holding the Redis URL (for URLs with a password); "
        "overrides redis_url",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="browser origins allowed to call the server (CORS), e.g. https://app.example.com; "
        "empty = no CORS headers",
    )
    client_hints: bool = Field(
        default=True,
        description="honour the request hint headers (urgency, privacy, max tier, required capabilities); "
        "they can only narrow the choice, never widen what a caller may reach",
    )
    fast_path_max_tier: Tier | None = Field(
        default=None,
        description="an urgent request (urgency: high) is kept at or below this tier, besides answering "
        "without reasoning; null = reasoning off only",
    )
    header_names: dict[HeaderKey, str] = Field(
        default_factory=dict,
        description="override the wire name of any header by its key, e.g. {category: X-Semantic-Category}",
    )
    vsr_headers: bool = Field(
        default=True,
        description="also send the reference implementation's x-vsr-selected-model, x-vsr-selected-category, "
        "x-vsr-selected-reasoning and x-vsr-cache-hit",
    )
    access: AccessConfig = AccessConfig()
    extproc: ExtProcConfig = ExtProcConfig()

    @field_validator("redis_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # not echoed: a value that is not a variable name may be the URL, password included
            raise FieldPathError(
                (),
                "redis_url_env must be the NAME of an environment variable (e.g. SIRP_REDIS_URL), not the URL; "
                "export the URL in that variable",
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("redis_url must start with redis://, rediss:// or unix:// (e.g. redis://redis:6379/0)")
        return value

    @field_validator("header_names")
    @classmethod
    def _header_names(cls, value: dict[HeaderKey, str]) -> dict[HeaderKey, str]:
        for key, name in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{key}: {name!r} is not a valid HTTP header name (letters, digits, '-')")
        lowered = [n.lower() for n in value.values()]
        dupes = sorted({n for n in lowered if lowered.count(n) > 1})
        if dupes:
            raise ValueError(f"header names must differ; used twice: {', '.join(dupes)}")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"{origin!r} is not an origin; write it as https://host[:port], or '*'")
        return value

    @model_validator(mode="after")
    def _redis_when_needed(self) -> ServerConfig:
        if self.responses.backend == "redis" and self.redis_url is None and self.redis_url_env is None:
            raise FieldPathError(
                ("responses", "backend"),
                "redis needs server.redis_url (or server.redis_url_env, the name of a variable holding it)",
            )
        return self

    def resolved_redis_url(self) -> str | None:
        """The Redis URL: from the ``redis_url_env`` variable when set, else ``redis_url``.

        Raises:
            ConfigError: ``redis_url_env`` names a variable that is not set.
        """
        if self.redis_url_env is not None:
            value = os.environ.get(self.redis_url_env)
            if not value:
                raise ConfigError(
                    f"server.redis_url_env: the environment variable {self.redis_url_env} is not set; "
                    "export the Redis URL in it"
                )
            return value
        return self.redis_url
