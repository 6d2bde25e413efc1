"""The app factory: :func:`create_app` builds the FastAPI app of ``sirp serve``.

Interface with the access layer (:mod:`sirp.server.access`), as agreed; the two additions (the
whole router config, ``reroute``) came from the access layer's side::

    AccessControl.from_config(router_config, *, redis_url: str | None)
        # = AccessControl(router_config.server.access, redis_url=..., router_config=router_config)
    await admit(headers, peer, *, model: str, estimated_tokens: int) -> Admission
        # Admission(identity, allowed_models: frozenset[str] | None, headers, upstream_headers, reroute)
        # raises AuthenticationError (401), PermissionDeniedError (403), RateLimitError (429),
        # AccessUnavailableError (503)
    await record_usage(admission, tokens: int)
    await aclose()

The app calls ``admit`` once per routed request (``model`` is the pinned model's name, or the
auto model's), passes ``allowed_models`` to the router's eligibility hook, drops the pin when
``reroute`` says RBAC routes it down, adds ``headers`` to the answer (errors included) and
forwards ``upstream_headers`` to the model; after the answer, ``record_usage`` gets its total
tokens. With ``server.access`` at its defaults the access layer is not loaded at all
(:mod:`sirp.server.admission`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from sirp._version import __version__
from sirp.backends.base import Backend
from sirp.config.loader import config_from_dict
from sirp.config.schema import RouterConfig
from sirp.errors import ConfigError
from sirp.router import SemanticRouter
from sirp.server import chat, classify, models, ops, responses
from sirp.server.admission import AccessLayer, build_access
from sirp.server.errors import APIError
from sirp.server.headers import HeaderNames
from sirp.server.http import RequestMetrics, error_response
from sirp.server.metrics import ServerMetrics
from sirp.server.pipeline import ServerState
from sirp.server.store import MemoryResponseStore, RedisResponseStore, ResponseStore

__all__ = ["CONFIG_ENV", "app_from_env", "create_app"]

#: The environment variable through which ``sirp serve --workers N`` hands each worker its config (JSON).
CONFIG_ENV = "SIRP_SERVE_CONFIG"


def _check_names(config: RouterConfig) -> None:
    auto = config.server.auto_model
    taken = {m.name for m in config.models} | {t.name for t in config.tiers}
    if auto in taken:
        raise ConfigError(
            f"server.auto_model: {auto!r} is also the name of a configured model or tier, so a request for it "
            "could not say whether it wants routing or that model; pick another auto_model"
        )


def _store(config: RouterConfig, redis_url: str | None) -> ResponseStore:
    s = config.server.responses
    if s.backend == "redis":
        assert redis_url is not None  # ServerConfig requires a Redis URL for the redis backend
        return RedisResponseStore(redis_url, max_entries=s.max_entries, ttl_s=s.ttl_s)
    return MemoryResponseStore(max_entries=s.max_entries, ttl_s=s.ttl_s)


def create_app(
    router: SemanticRouter | RouterConfig | dict[str, Any] | str | Path | None = None,
    *,
    backend: Backend | None = None,
    store: ResponseStore | None = None,
    access: AccessLayer | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Build the OpenAI-compatible router server.

    Args:
        router: a :class:`~sirp.SemanticRouter` to serve (the caller keeps owning it), or its
            configuration (a :class:`~sirp.RouterConfig`, a dict, a YAML path; ``None``: the
            defaults): the app then builds the router and closes it at shutdown.
        backend: the classifier backend, when the app builds the router (tests: ``MockBackend``).
        store: the response store; default from ``server.responses``.
        access: the access layer; default from ``server.access`` (off: everyone is admitted).
        registry: the Prometheus registry; default a new one for this app.

    Raises:
        ConfigError: the configuration is invalid (e.g. ``server.auto_model`` names a model).
        MissingDependencyError: an extra is missing (``pip install "sirp[server]"``).
    """
    if isinstance(router, SemanticRouter):
        if backend is not None:
            raise ConfigError("backend= is for a router the app builds; pass a SemanticRouter or backend=, not both")
        sr, owns = router, False
    else:
        sr, owns = SemanticRouter(router, backend=backend), True
    config = sr.config
    _check_names(config)
    redis_url = config.server.resolved_redis_url()
    state = ServerState(
        router=sr,
        names=HeaderNames(config.server),
        store=store if store is not None else _store(config, redis_url),
        access=access if access is not None else build_access(config, redis_url=redis_url),
        metrics=ServerMetrics(registry),
        owns_router=owns,
    )
    if sr.cache is not None:
        state.metrics.watch_cache(sr.cache)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.store.aclose()
        await state.access.aclose()
        if state.owns_router:
            await state.router.aclose()

    app = FastAPI(
        title="sirp",
        version=__version__,
        description="OpenAI-compatible semantic router",
        lifespan=lifespan,
        # The routes read their bodies themselves (size limits, OpenAI-format errors), so a
        # generated schema would say little; OpenAI's own API reference describes them.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.sirp = state
    app.state.started = int(time.time())
    for module in (chat, responses, models, classify, ops):
        app.include_router(module.router)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # unknown paths and methods: OpenAI's format too, so clients show a useful message
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        message = (
            f"no route {request.method} {request.url.path} on this server"
            if exc.status_code in (404, 405)
            else str(exc.detail)
        )
        return error_response(APIError(exc.status_code, message, code=code), dict(exc.headers or {}))

    if config.server.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.server.cors_origins,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=state.names.response_names(),
        )
    app.add_middleware(RequestMetrics, metrics=state.metrics)
    return app


def app_from_env() -> FastAPI:
    """The app of one ``sirp serve --workers N`` worker: its config comes as JSON in :data:`CONFIG_ENV`."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise ConfigError(f"{CONFIG_ENV} is not set; start workers through `sirp serve`")
    return create_app(config_from_dict(json.loads(raw), source=CONFIG_ENV))
