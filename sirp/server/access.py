"""The access layer of ``sirp serve``: identity, RBAC and rate limits (``server.access``).

Interface notes for the server (sirp/server/app.py, pipeline.py, admission.py):

- The agreed interface is unchanged: ``AccessControl(config, *, redis_url=None)``,
  ``await admit(headers, peer, *, model=..., estimated_tokens=...) -> Admission``,
  ``await record_usage(admission, tokens)``, ``await aclose()``.
- RBAC rules may name *tiers*; resolving them needs the router config's models and tiers.
  Build with ``AccessControl.from_config(router_config, redis_url=...)`` (or pass
  ``router_config=``); without it, a rule naming tiers is a ConfigError at start-up, and the
  auto model is taken to be ``"auto"``. ``build_access`` should call ``from_config``.
- ``Admission.reroute`` (new, default False): True when the request pinned a model above the
  caller's rights and ``rbac.on_exceed`` is ``route_down``. The request should then be *routed*
  within ``allowed_models`` (which holds only models at or below the pinned tier) instead of
  answered with a 403 for the pin. Ignoring it is safe: such pins are then refused (403).
- ``AccessUnavailableError`` (503) when the Redis of the rate limits cannot be reached and
  ``rate_limits.fail_open`` is false.

One admission, in order::

    identity   verified JWT (jwt) > x-authz-* headers from a trusted proxy > anonymous     → 401
    RBAC       rights = models granted to the caller's groups; a pin above them           → 403 / reroute
    limits     the user's and tenant's buckets, requests and tokens, all or nothing       → 429 + retry-after

See :mod:`sirp.config.access` for every setting and :mod:`sirp.server.ratelimit` for the
rate-limit algorithm (GCRA: a sliding token bucket per user or tenant).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sirp.config.access import EVERYONE, AccessConfig, JWTConfig, RateLimitRule
from sirp.config.base import TIER_ORDER
from sirp.errors import (
    AccessUnavailableError,
    AuthenticationError,
    ConfigError,
    PermissionDeniedError,
    RateLimitError,
)
from sirp.server.ratelimit import Bucket, Limiter, MemoryLimiter, RedisLimiter, Verdict

if TYPE_CHECKING:
    from sirp.config.schema import RouterConfig
    from sirp.server.admission import AdmissionLike

__all__ = ["AccessControl", "Admission", "Identity"]

logger = logging.getLogger(__name__)

_JWT_SHAPE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Identity:
    """Who is calling.

    ``verified`` is true when the identity comes from a JWT whose signature, expiry, issuer and
    audience sirp checked; identity headers from a trusted proxy are believed but not verified.
    """

    user: str | None = None
    groups: tuple[str, ...] = ()
    tenant: str | None = None
    verified: bool = False


@dataclass(frozen=True)
class _Ticket:
    """What an admission charged, so that :meth:`AccessControl.record_usage` can correct the token estimate."""

    token_buckets: tuple[Bucket, ...] = ()
    estimated_tokens: int = 0


@dataclass(frozen=True)
class Admission:
    """An admitted request: who it is, what it may reach, and the headers to add.

    Attributes:
        identity: the caller.
        allowed_models: the models the request may be answered by; ``None`` = unrestricted.
        headers: ``x-ratelimit-*`` headers for the response.
        upstream_headers: ``x-authz-*`` identity headers to forward to the model's endpoint.
        reroute: the request pinned a model above the caller's rights and ``rbac.on_exceed`` is
            ``route_down``: route it within ``allowed_models`` instead of pinning.
    """

    identity: Identity
    allowed_models: frozenset[str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upstream_headers: Mapping[str, str] = field(default_factory=dict)
    reroute: bool = False
    ticket: _Ticket = field(default_factory=_Ticket, repr=False, compare=False)


def _duration(seconds: float) -> str:
    """OpenAI's form of a reset time: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{math.ceil(seconds * 10) / 10:g}s"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s"


class _JWTVerifier:
    """Checks a token's signature and claims with PyJWT; the key is loaded once, at start-up."""

    def __init__(self, cfg: JWTConfig) -> None:
        from sirp._imports import require

        self.jwt = require("jwt", extra="server", purpose="JWT verification (server.access.jwt)")
        self.cfg = cfg
        self.key: Any
        if cfg.algorithm == "HS256":
            env = cfg.secret_env or ""
            secret = os.environ.get(env)
            if not secret:
                raise ConfigError(
                    f"server.access.jwt.secret_env: the environment variable {env} is not set; export the "
                    "HS256 shared secret in it"
                )
            self.key = secret
        else:
            pem = cfg.public_key
            if pem is None and cfg.public_key_file is not None:
                try:
                    pem = cfg.public_key_file.read_text(encoding="utf-8")
                except OSError as err:
                    raise ConfigError(f"server.access.jwt.public_key_file: cannot read it ({err})") from err
            from cryptography.hazmat.primitives.serialization import load_pem_public_key

            try:
                self.key = load_pem_public_key((pem or "").encode())
            except ValueError as err:
                raise ConfigError(
                    "server.access.jwt: the RS256 public key is not a PEM public key ('-----BEGIN PUBLIC KEY-----' ...)"
                ) from err

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or :class:`AuthenticationError` saying what is wrong with it."""
        jwt, cfg = self.jwt, self.cfg
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=[cfg.algorithm],  # never the token's own choice: no 'none', no HS/RS confusion
                audience=cfg.audience,
                issuer=cfg.issuer,
                leeway=cfg.leeway_s,
                options={"require": ["exp"] if cfg.require_exp else [], "verify_aud": cfg.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired; get a new one") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("the token is not valid yet (nbf / iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError(
                f"the token is not meant for this server: its audience is not one of {cfg.audience}"
            ) from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(f"the token was not issued by {cfg.issuer!r}") from None
        except jwt.MissingRequiredClaimError as err:
            raise AuthenticationError(f"the token lacks the {err.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("the token's signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError(
                f"the token is not signed with {cfg.algorithm}, the one this server accepts"
            ) from None
        except jwt.InvalidTokenError as err:
            raise AuthenticationError(f"the token is not a valid JWT ({err})") from None
        return claims

    def identity(self, claims: Mapping[str, Any]) -> Identity:
        cfg = self.cfg
        user = claims.get(cfg.user_claim)
        tenant = claims.get(cfg.tenant_claim)
        return Identity(
            user=str(user) if user is not None else None,
            groups=_groups(claims.get(cfg.groups_claim)),
            tenant=str(tenant) if tenant is not None else None,
            verified=True,
        )


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        return ()
    return tuple(dict.fromkeys(g.strip() for g in items if g.strip()))


class AccessControl:
    """Admits or refuses each request of ``sirp serve``: identity (JWT, trusted proxies), RBAC, rate limits.

    Args:
        config: ``server.access``.
        redis_url: the Redis of the replicas (``server.redis_url_env``'s value); needed when
            ``rate_limits.backend`` is ``redis``.
        router_config: the whole config: its models and tiers resolve RBAC rules that name
            tiers, and its ``server.auto_model`` tells a routed request from a pin.
        limiter: where the rate-limit buckets live (default from ``rate_limits.backend``);
            tests pass a :class:`~sirp.server.ratelimit.MemoryLimiter` with a fake clock.

    Raises:
        ConfigError: a JWT key that cannot be loaded, an RBAC rule naming an unknown model or a
            tier without ``router_config``, Redis asked for without ``redis_url``.
    """

    def __init__(
        self,
        config: AccessConfig,
        *,
        redis_url: str | None = None,
        router_config: RouterConfig | None = None,
        limiter: Limiter | None = None,
    ) -> None:
        self.config = config
        self.auto_model = router_config.server.auto_model if router_config is not None else "auto"
        self._tiers = self._catalogue(router_config)
        self._tier_models: dict[str, str] = {t.name: t.model for t in router_config.tiers} if router_config else {}
        self._proxies = [ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies]
        self._jwt = _JWTVerifier(config.jwt) if config.jwt is not None else None
        self._grants = self._resolve_rbac(router_config)
        self._limiter: Limiter | None = None
        rl = config.rate_limits
        if rl is not None:
            if limiter is not None:
                self._limiter = limiter
            elif rl.backend == "redis":
                if not redis_url:
                    raise ConfigError(
                        "server.access.rate_limits.backend: redis needs the Redis URL: set server.redis_url_env "
                        "and export the URL in that variable"
                    )
                self._limiter = RedisLimiter(redis_url)
            else:
                self._limiter = MemoryLimiter()

    @classmethod
    def from_config(
        cls, router_config: RouterConfig, *, redis_url: str | None = None, limiter: Limiter | None = None
    ) -> AccessControl:
        """The access layer of ``router_config.server.access``, with its models and tiers known."""
        return cls(router_config.server.access, redis_url=redis_url, router_config=router_config, limiter=limiter)

    # -- set-up ----------------------------------------------------------------------------

    @staticmethod
    def _catalogue(rc: RouterConfig | None) -> dict[str, str]:
        """Model name → tier, from ``models`` (or, without them, the tiers' own models)."""
        if rc is None:
            return {}
        if rc.models:
            return {m.name: m.tier for m in rc.models}
        return {t.model: t.name for t in rc.tiers}

    def _resolve_rbac(self, rc: RouterConfig | None) -> list[tuple[frozenset[str], frozenset[str]]]:
        rbac = self.config.rbac
        if rbac is None:
            return []
        grants = []
        for i, rule in enumerate(rbac.rules):
            where = f"server.access.rbac.rules.{i}"
            models = set(rule.models)
            if rule.tiers:
                if rc is None:
                    raise ConfigError(
                        f"{where}.tiers: resolving tiers needs the router config; build the access layer with "
                        "AccessControl.from_config(config)"
                    )
                models |= {name for name, tier in self._tiers.items() if tier in rule.tiers}
            if self._tiers:
                for j, name in enumerate(rule.models):
                    if name not in self._tiers:
                        raise ConfigError(
                            f"{where}.models.{j}: {name!r} is not a configured model ({', '.join(self._tiers)})"
                        )
            grants.append((frozenset(rule.groups), frozenset(models)))
        return grants

    # -- identity --------------------------------------------------------------------------

    def _trusted(self, peer: str | None) -> bool:
        if peer is None or not self._proxies:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:  # a unix socket, a test client's made-up name
            return False
        return any(address in net for net in self._proxies)

    def _token(self, headers: Mapping[str, str]) -> str | None:
        assert self.config.jwt is not None
        value = headers.get(self.config.jwt.header)
        if not value:
            return None
        value = value.strip()
        if self.config.jwt.header == "authorization":
            scheme, _, rest = value.partition(" ")
            if scheme.lower() != "bearer":
                return None
            value = rest.strip()
        return value or None

    def identify(self, headers: Mapping[str, str], peer: str | None) -> Identity:
        """The caller's identity, or :class:`AuthenticationError` (401).

        A valid JWT wins; otherwise the identity headers count only from a trusted proxy. A
        bearer token that is not JWT-shaped (an OpenAI-style key) is no token at all.
        """
        cfg = self.config
        h = {k.lower(): v for k, v in headers.items()}
        identity: Identity | None = None
        if self._jwt is not None:
            token = self._token(h)
            if token is not None and _JWT_SHAPE.match(token):
                identity = self._jwt.identity(self._jwt.verify(token))
            elif cfg.jwt is not None and cfg.jwt.required:
                raise AuthenticationError(
                    f"this server needs a JWT in the {cfg.jwt.header} header"
                    + (" ('Bearer <token>')" if cfg.jwt.header == "authorization" else "")
                )
        if identity is None and self._trusted(peer):
            user, tenant = h.get(cfg.user_header), h.get(cfg.tenant_header)
            identity = Identity(
                user=user.strip() or None if user else None,
                groups=_groups(h.get(cfg.groups_header)),
                tenant=tenant.strip() or None if tenant else None,
            )
        if identity is None:
            identity = Identity()  # client-sent identity headers are ignored (and never forwarded)
        if cfg.require_identity and identity.user is None:
            raise AuthenticationError(
                "this server needs to know who is calling: send a JWT"
                if self._jwt is not None
                else "this server needs to know who is calling: call through the trusted proxy that sets "
                f"{cfg.user_header}"
            )
        return identity

    def upstream_headers(self, identity: Identity) -> dict[str, str]:
        """The identity headers forwarded to the model's endpoint."""
        if not self.config.forward_identity:
            return {}
        cfg, out = self.config, {}
        if identity.user is not None:
            out[cfg.user_header] = identity.user
        if identity.groups:
            out[cfg.groups_header] = ",".join(identity.groups)
        if identity.tenant is not None:
            out[cfg.tenant_header] = identity.tenant
        return out

    # -- RBAC ------------------------------------------------------------------------------

    def rights(self, identity: Identity) -> frozenset[str] | None:
        """The models ``identity`` may use; ``None`` = any (no RBAC configured)."""
        if self.config.rbac is None:
            return None
        groups = {*identity.groups, EVERYONE}
        allowed: set[str] = set()
        for rule_groups, models in self._grants:
            if rule_groups & groups:
                allowed |= models
        return frozenset(allowed)

    def _pin(self, model: str) -> str | None:
        """The model a request pins, or ``None`` when it asks to be routed."""
        if model in (self.auto_model, "auto"):
            return None
        if model in self._tiers or not self._tiers:
            return model
        return self._tier_models.get(model)  # a tier name pins its tier's model; unknown names: the server's 404

    def _authorize(self, identity: Identity, model: str) -> tuple[frozenset[str] | None, bool]:
        rights = self.rights(identity)
        if rights is None:
            return None, False
        who = _who(identity)
        if not rights:
            raise PermissionDeniedError(f"{who} may use no model on this server (no RBAC rule grants one)")
        pin = self._pin(model)
        if pin is None or pin in rights:
            return rights, False
        assert self.config.rbac is not None
        shown = ", ".join(sorted(rights))
        if self.config.rbac.on_exceed == "refuse" or pin not in self._tiers:
            raise PermissionDeniedError(f"{who} may not use the model {model!r}; it may use: {shown}")
        below = frozenset(m for m in rights if TIER_ORDER[self._tiers.get(m, "lrm")] <= TIER_ORDER[self._tiers[pin]])
        if not below:
            raise PermissionDeniedError(
                f"{who} may not use the model {model!r} (tier {self._tiers[pin]}) nor any model below it; "
                f"it may use: {shown}"
            )
        return below, True

    # -- rate limits -----------------------------------------------------------------------

    def _rule(self, identity: Identity, scope: str) -> tuple[int, RateLimitRule] | None:
        rl = self.config.rate_limits
        assert rl is not None
        groups = {*identity.groups, EVERYONE}
        for i, rule in enumerate(rl.rules):
            if rule.scope == scope and (not rule.groups or groups & set(rule.groups)):
                return i, rule
        return None

    def _buckets(self, identity: Identity, peer: str | None, tokens: int) -> tuple[list[Bucket], list[Bucket]]:
        rl = self.config.rate_limits
        assert rl is not None
        requests, token_buckets = [], []
        for scope in ("user", "tenant"):
            found = self._rule(identity, scope)
            if found is None:
                continue
            i, rule = found
            if scope == "user":
                who = f"user:{identity.user}" if identity.user is not None else f"peer:{peer or 'unknown'}"
            elif identity.tenant is not None:
                who = f"tenant:{identity.tenant}"
            else:
                continue
            base = f"{rl.key_prefix}{i}:{who}"
            if rule.requests_per_minute is not None:
                requests.append(Bucket(f"{base}:requests", rule.requests_per_minute, 1))
            if rule.tokens_per_minute is not None:
                token_buckets.append(Bucket(f"{base}:tokens", rule.tokens_per_minute, max(0, tokens)))
        return requests, token_buckets

    async def _limit(self, identity: Identity, peer: str | None, tokens: int) -> tuple[dict[str, str], _Ticket]:
        if self._limiter is None:
            return {}, _Ticket()
        requests, token_buckets = self._buckets(identity, peer, tokens)
        buckets = requests + token_buckets
        if not buckets:
            return {}, _Ticket()
        try:
            verdicts = await self._limiter.acquire(buckets)
        except Exception as err:
            if not _is_store_error(err):
                raise
            assert self.config.rate_limits is not None
            if self.config.rate_limits.fail_open:
                logger.warning("rate limits not checked, the store failed: %s: %s", type(err).__name__, err)
                return {}, _Ticket()
            raise AccessUnavailableError(
                "rate limits cannot be checked right now (their store is unreachable); try again shortly"
            ) from err
        headers = _headers(verdicts)
        if not verdicts[0].admitted:
            over = [v for v in verdicts if v.retry_after_s > 0] or verdicts
            worst = max(over, key=lambda v: v.retry_after_s)
            what = "requests" if worst.bucket.key.endswith(":requests") else "tokens"
            raise RateLimitError(
                f"rate limit reached for {_who(identity)}: {worst.bucket.limit} {what} per minute; "
                f"try again in {_duration(worst.retry_after_s)}",
                retry_after=max(v.retry_after_s for v in verdicts),
                headers=headers,
            )
        return headers, _Ticket(tuple(token_buckets), max(0, tokens))

    # -- the interface ---------------------------------------------------------------------

    async def admit(
        self, headers: Mapping[str, str], peer: str | None, *, model: str, estimated_tokens: int
    ) -> Admission:
        """Admit a request for ``model`` (the auto model's name routes; any other pins).

        Raises:
            AuthenticationError: 401, no or an invalid identity where one is required.
            PermissionDeniedError: 403, the caller may not use ``model`` (or any model).
            RateLimitError: 429, over a requests- or tokens-per-minute limit (``retry_after``).
            AccessUnavailableError: 503, the rate-limit store is down and ``fail_open`` is off.
        """
        identity = self.identify(headers, peer)
        allowed, reroute = self._authorize(identity, model)
        limit_headers, ticket = await self._limit(identity, peer, estimated_tokens)
        return Admission(
            identity=identity,
            allowed_models=allowed,
            headers=limit_headers,
            upstream_headers=self.upstream_headers(identity),
            reroute=reroute,
            ticket=ticket,
        )

    async def record_usage(self, admission: Admission | AdmissionLike, tokens: int) -> None:
        """Correct the tokens-per-minute buckets from the admission's estimate to the tokens used.

        ``admission`` is what :meth:`admit` returned (others, e.g. an open admission, are ignored).
        """
        ticket = getattr(admission, "ticket", None)
        if self._limiter is None or not isinstance(ticket, _Ticket) or not ticket.token_buckets:
            return
        delta = max(0, tokens) - ticket.estimated_tokens
        if delta == 0:
            return
        buckets = [Bucket(b.key, b.limit, delta) for b in ticket.token_buckets]
        try:
            await self._limiter.adjust(buckets)
        except Exception as err:
            if not _is_store_error(err):
                raise
            logger.warning("token usage not recorded, the store failed: %s: %s", type(err).__name__, err)

    async def aclose(self) -> None:
        """Close the Redis connection, if any."""
        if self._limiter is not None:
            await self._limiter.aclose()


def _who(identity: Identity) -> str:
    if identity.user is not None:
        return f"user {identity.user!r}"
    if identity.tenant is not None:
        return f"tenant {identity.tenant!r}"
    return "an anonymous caller"


def _is_store_error(err: BaseException) -> bool:
    # redis-py's errors (ConnectionError, TimeoutError, ...) derive from RedisError; OSError covers
    # a refused socket that surfaces unwrapped. Matched by name so redis stays an optional import.
    return isinstance(err, OSError) or any(c.__name__ == "RedisError" for c in type(err).__mro__)


def _headers(verdicts: list[Verdict]) -> dict[str, str]:
    """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``: for each, the tightest bucket."""
    out: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        mine = [v for v in verdicts if v.bucket.key.endswith(f":{kind}")]
        if not mine:
            continue
        tight = min(mine, key=lambda v: (v.remaining, -v.reset_s))
        out[f"x-ratelimit-limit-{kind}"] = str(tight.bucket.limit)
        out[f"x-ratelimit-remaining-{kind}"] = str(tight.remaining)
        out[f"x-ratelimit-reset-{kind}"] = _duration(tight.reset_s)
    return out
