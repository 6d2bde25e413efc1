"""Who may call the server, what they may reach, and how often (``server.access``).

Three independent parts, each off until configured, applied in this order to every routed
request of ``sirp serve`` by :class:`sirp.server.access.AccessControl`:

1. **identity** — from a verified JWT (``jwt``), else from the ``x-authz-*`` headers when the
   peer is a trusted proxy (``trusted_proxies``); copies sent by anyone else are ignored and
   never forwarded. ``require_identity`` answers 401 to callers without one.
2. **RBAC** (``rbac``) — which groups may reach which tiers and models; a request above its
   rights is routed within them or refused with 403 (``rbac.on_exceed``).
3. **rate limits** (``rate_limits``) — requests and tokens per minute per user and/or tenant,
   in memory or in Redis (shared by replicas); 429 with ``retry-after`` when over.

The wire names of the identity headers follow the authors' reference implementation of the
multi-provider draft; they are overridable here because the draft's are not final.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sirp.config.base import FieldPathError
from sirp.config.base import StrictModel as _Model
from sirp.config.providers import check_env_name
from sirp.decision import Tier

__all__ = ["AccessConfig", "JWTConfig", "RBACConfig", "RBACRule", "RateLimitConfig", "RateLimitRule"]

#: The group every caller belongs to, anonymous ones included (for RBAC and rate-limit rules).
EVERYONE = "*"


class JWTConfig(_Model):
    """How a caller's JSON Web Token is found and verified (PyJWT; HS256 or RS256)."""

    algorithm: Literal["HS256", "RS256"] = Field(
        default="HS256", description="HS256 (shared secret, secret_env) or RS256 (public key, public_key_file)"
    )
    secret_env: str | None = Field(
        default=None, description="HS256: NAME of the environment variable holding the shared secret"
    )
    public_key_file: Path | None = Field(default=None, description="RS256: PEM file of the issuer's public key")
    public_key: str | None = Field(
        default=None, description="RS256: the issuer's public key as PEM text (instead of public_key_file)"
    )
    issuer: str | None = Field(default=None, description="required 'iss' claim; null = not checked")
    audience: list[str] | None = Field(
        default=None, description="accepted 'aud' values (the token must name one); null = not checked"
    )
    leeway_s: float = Field(default=30.0, ge=0, description="clock skew tolerated on exp, nbf and iat, in seconds")
    require_exp: bool = Field(default=True, description="refuse tokens without an expiry ('exp')")
    header: str = Field(
        default="authorization",
        min_length=1,
        description="request header carrying the token; 'authorization' expects 'Bearer <token>'",
    )
    required: bool = Field(
        default=False,
        description="answer 401 when no token is sent; false = a request without one is anonymous "
        "(a token that is sent but invalid is always 401)",
    )
    user_claim: str = Field(default="sub", min_length=1, description="claim holding the user id")
    groups_claim: str = Field(
        default="groups", min_length=1, description="claim holding the groups (a list, or a comma-separated string)"
    )
    tenant_claim: str = Field(default="tenant_id", min_length=1, description="claim holding the tenant id")

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @field_validator("header")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _key_for_algorithm(self) -> JWTConfig:
        if self.algorithm == "HS256":
            if self.secret_env is None:
                raise FieldPathError(
                    ("secret_env",), "HS256 needs the NAME of the environment variable that holds the shared secret"
                )
            if self.public_key is not None or self.public_key_file is not None:
                raise FieldPathError(("algorithm",), "public keys are for RS256; HS256 uses secret_env")
        else:
            if (self.public_key is None) == (self.public_key_file is None):
                raise FieldPathError(
                    ("public_key_file",), "RS256 needs the issuer's public key: give public_key_file or public_key"
                )
            if self.secret_env is not None:
                raise FieldPathError(("secret_env",), "RS256 verifies with a public key, not a shared secret")
        return self


class RBACRule(_Model):
    """Members of any of ``groups`` may use the models of ``tiers`` and the ``models`` named."""

    groups: list[str] = Field(min_length=1, description="groups this rule grants to; '*' = every caller")
    tiers: list[Tier] = Field(default_factory=list, description="tiers whose models these groups may use")
    models: list[str] = Field(default_factory=list, description="model names these groups may use")

    @model_validator(mode="after")
    def _grants_something(self) -> RBACRule:
        if not self.tiers and not self.models:
            raise FieldPathError(("tiers",), "a rule must grant some tiers or models")
        return self


class RBACConfig(_Model):
    """Which groups may reach which tiers and models (role-based access control)."""

    rules: list[RBACRule] = Field(
        min_length=1,
        description="a caller may use every model granted by a rule naming one of its groups (or '*'); "
        "a caller matching no rule may use none (403)",
    )
    on_exceed: Literal["route_down", "refuse"] = Field(
        default="route_down",
        description="a request for a model above the caller's rights: route_down = answer with the best model "
        "it may use at or below that tier; refuse = 403. Routed requests (model 'auto') always stay within "
        "the caller's rights",
    )


class RateLimitRule(_Model):
    """A limit on the requests and tokens of one user (or one tenant) per minute."""

    scope: Literal["user", "tenant"] = Field(
        default="user",
        description="user: each user (callers without one: each peer address) has its own budget; "
        "tenant: each tenant shares one (callers without a tenant are not limited by this rule)",
    )
    groups: list[str] = Field(
        default_factory=list,
        description="applies to callers in any of these groups; empty = every caller. Per scope, the first "
        "matching rule applies",
    )
    requests_per_minute: int | None = Field(default=None, ge=1, description="requests per minute; null = no limit")
    tokens_per_minute: int | None = Field(
        default=None,
        ge=1,
        description="tokens per minute (the estimate is charged on admission, corrected by the usage reported)",
    )

    @model_validator(mode="after")
    def _limits_something(self) -> RateLimitRule:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise FieldPathError(("requests_per_minute",), "give requests_per_minute, tokens_per_minute or both")
        return self


class RateLimitConfig(_Model):
    """Requests and tokens per minute, counted in this process or in Redis (shared by every replica)."""

    rules: list[RateLimitRule] = Field(min_length=1, description="the limits; per scope the first matching applies")
    backend: Literal["memory", "redis"] = Field(
        default="memory",
        description="memory: counters in this process (one replica); redis: shared by every replica "
        "(needs server.redis_url_env)",
    )
    key_prefix: str = Field(default="sirp:ratelimit:", description="prefix of the Redis keys")
    fail_open: bool = Field(
        default=True,
        description="when Redis cannot be reached: true = admit the request (logged), false = answer 503",
    )


class AccessConfig(_Model):
    """Identity headers, JWT verification, RBAC and rate limits of ``sirp serve`` (all off by default)."""

    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="peer addresses or CIDRs (e.g. 10.0.0.0/8) whose identity headers are believed; "
        "from any other peer they are ignored and never forwarded",
    )
    require_identity: bool = Field(default=False, description="answer 401 to callers without a user id")
    user_header: str = Field(default="x-authz-user-id", min_length=1, description="identity header: the user id")
    groups_header: str = Field(
        default="x-authz-user-groups", min_length=1, description="identity header: the groups, comma-separated"
    )
    tenant_header: str = Field(default="x-authz-tenant-id", min_length=1, description="identity header: the tenant")
    forward_identity: bool = Field(
        default=True, description="send the caller's identity headers on to the model's endpoint"
    )
    jwt: JWTConfig | None = Field(default=None, description="verify a JWT for the caller's identity; null = no JWT")
    rbac: RBACConfig | None = Field(default=None, description="which groups may use which models; null = everyone all")
    rate_limits: RateLimitConfig | None = Field(default=None, description="requests/tokens per minute; null = none")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR (e.g. 10.0.0.0/8, 127.0.0.1)") from None
        return value

    @field_validator("user_header", "groups_header", "tenant_header")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()
