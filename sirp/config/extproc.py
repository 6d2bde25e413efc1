"""Settings of ``sirp extproc``: sirp as Envoy's external processor (``server.extproc``).

The ext_proc service is a second front door to the server's pipeline, so everything else it
needs comes from the ``server:`` section it lives in: the auto model's name, the body size
limit, header names, request hints, access control.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from sirp.config.base import StrictModel as _Model

__all__ = ["ExtProcConfig"]

# RFC 9110 token characters, lower case: Envoy hands header names to ext_proc in lower case.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9a-z-]+$")


class ExtProcConfig(_Model):
    """How ``sirp extproc`` serves Envoy's ``envoy.service.ext_proc.v3.ExternalProcessor``."""

    host: str = Field(default="127.0.0.1", min_length=1, description="address the gRPC service listens on")
    port: int = Field(default=50051, ge=1, le=65535, description="TCP port of the gRPC service")
    metrics_port: int | None = Field(
        default=9190,
        ge=1,
        le=65535,
        description="port of the Prometheus /metrics endpoint (plain HTTP, same host); null = none",
    )
    destination_header: str = Field(
        default="x-sirp-destination",
        min_length=1,
        description="request header set to the chosen model's name; Envoy's routes match it to pick the cluster",
    )
    fail_open: bool = Field(
        default=True,
        description="on an internal failure pass the request through unrouted (true, counted in "
        "sirp_extproc_failures_total) or answer 500 (false); keep Envoy's failure_mode_allow the same",
    )
    decision_timeout_s: float = Field(
        default=2.0,
        gt=0,
        description="most time to decide one request; past it the request fails open or closed. Keep it "
        "under Envoy's message_timeout",
    )
    max_response_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="largest answer read for usage and the semantic cache; a larger one passes on unread",
    )
    inject_api_keys: bool = Field(
        default=True,
        description="set Authorization: Bearer <key> for the chosen model when its api_key_env is set, as "
        "sirp serve does; false = leave the header to Envoy",
    )

    @field_validator("destination_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not _HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not a lower-case HTTP header name (letters, digits, '-')")
        return value
