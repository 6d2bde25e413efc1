"""Several providers behind one logical model, and how their health is tracked.

A model (``models[]``) is answered either by one endpoint (``base_url``) or by several
``providers`` (the same model served by vLLM in two regions, or by two vendors). The
balancer (:mod:`sirp.providers.balancer`) spreads requests over them by ``weight``, ejects a
failing one for a cool-down (``dispatch.health``) and fails over to another provider of the
same model before the request falls back to another model.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from sirp.config.base import FieldPathError
from sirp.config.base import StrictModel as _Model

__all__ = ["HealthConfig", "ProviderEndpoint", "check_env_name", "check_http_url", "default_provider_name"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_http_url(value: str) -> str:
    """``value`` without its trailing slash; a ``ValueError`` unless it is an http(s) URL."""
    if not value.startswith(("http://", "https://")):
        raise ValueError("base_url must start with http:// or https:// (e.g. http://localhost:8000/v1)")
    return value.rstrip("/")


def check_env_name(value: str | None) -> str | None:
    """``value`` if it is an environment variable's name (or ``None``); else an error that does not echo it."""
    if value is not None and not _ENV_NAME.match(value):
        # FieldPathError is not echoed: a value that is not a variable name may be the key itself.
        raise FieldPathError(
            (),
            "api_key_env must be the NAME of an environment variable (e.g. OPENAI_API_KEY), not the key; "
            "export the key in that variable",
        )
    return value


def default_provider_name(base_url: str) -> str:
    """The name a provider gets when none is given: its URL's ``host:port`` (``api.openai.com``)."""
    return urlsplit(base_url).netloc or base_url


class ProviderEndpoint(_Model):
    """One provider of a model: an OpenAI-compatible endpoint that serves it, and its share of traffic."""

    name: str | None = Field(
        default=None,
        min_length=1,
        description="label in attempts, traces and metrics; null = the base_url's host:port "
        "(names must be unique within a model)",
    )
    base_url: str = Field(description="OpenAI-compatible base URL of this provider, e.g. http://gpu-a:8000/v1")
    api_key_env: str | None = Field(
        default=None,
        description="name of the environment variable holding this provider's API key; null = the model's api_key_env",
    )
    weight: float = Field(
        default=1.0,
        ge=0,
        description="share of requests relative to the model's other providers; 0 = standby, used only when "
        "the weighted ones are ejected or have failed for this request",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="time limit of one attempt at this provider; null = the model's timeout_s"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @property
    def label(self) -> str:
        """``name``, or the default derived from ``base_url``."""
        return self.name or default_provider_name(self.base_url)


class HealthConfig(_Model):
    """When a provider is ejected (skipped) and when it is tried again (``dispatch.health``).

    A provider is ejected after ``consecutive_failures`` failures in a row, or when at least
    ``error_rate`` of its last ``window`` calls failed (once ``min_calls`` are recorded). After
    ``cooldown_s`` one request probes it (half-open): success restores it, failure ejects it
    again for twice as long, up to ``max_cooldown_s``. Only failures that say something about
    the provider count (connection, timeout, 5xx, 429, 401/403/404, an unusable answer); a 400
    is the request's fault and counts as an answer.
    """

    enabled: bool = Field(default=True, description="track provider health; false = never eject")
    consecutive_failures: int = Field(default=5, ge=1, description="failures in a row that eject a provider")
    error_rate: float = Field(
        default=0.5, gt=0, le=1, description="failed fraction of the last `window` calls that ejects a provider"
    )
    window: int = Field(default=20, ge=1, description="calls per provider the error rate is computed over")
    min_calls: int = Field(default=10, ge=1, description="calls in the window before the error rate may eject")
    cooldown_s: float = Field(default=30.0, gt=0, description="time an ejected provider is skipped before a probe")
    max_cooldown_s: float = Field(
        default=300.0, gt=0, description="longest cool-down; each failed probe doubles it up to this"
    )

    @model_validator(mode="after")
    def _consistent(self) -> HealthConfig:
        if self.min_calls > self.window:
            raise FieldPathError(
                ("min_calls",),
                f"is {self.min_calls} but only the last {self.window} calls are kept (window); "
                "make min_calls at most window",
            )
        if self.max_cooldown_s < self.cooldown_s:
            raise FieldPathError(
                ("max_cooldown_s",), f"is shorter than cooldown_s ({self.cooldown_s:g}); make it at least that"
            )
        return self
