"""HTTP plumbing shared by every route: request ids, OpenAI-format errors, server-sent events, metrics.

- :class:`SirpRoute` wraps every endpoint: it gives the request an id (the caller's
  ``X-Request-Id`` when it is sane, else a new one), turns any exception into an OpenAI-format
  error answer (:func:`~sirp.server.errors.api_error`), and adds the id and the rate-limit
  headers to every answer, errors included. An exception never escapes to the server: one bad
  request cannot disturb another.
- :class:`RequestMetrics` is an ASGI middleware that counts requests by endpoint template and
  status and times them to their last byte (streams included).
- :func:`sse` formats one server-sent event.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sirp.server.errors import APIError, api_error
from sirp.server.metrics import ServerMetrics

__all__ = ["RequestMetrics", "SirpRoute", "error_response", "request_id", "sse"]

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id(request: Request) -> str:
    """This request's id (made on first use)."""
    rid: str | None = getattr(request.state, "request_id", None)
    if rid is None:
        given = request.headers.get(request.app.state.sirp.names["request_id"], "")
        rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        request.state.request_id = rid
    return rid


def error_response(err: APIError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON answer for ``err``."""
    return JSONResponse(err.body(), status_code=err.status_code, headers={**(headers or {}), **err.headers})


def _validation_error(exc: RequestValidationError) -> APIError:
    """A bad path or query parameter (FastAPI checked it) as a 400 naming it."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
    return APIError(
        400, f"{param}: {first.get('msg')}" if param else str(first.get("msg")), code="invalid_value", param=param
    )


def _endpoint(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


class SirpRoute(APIRoute):
    """An API route whose every failure is an OpenAI-format error with the request's id."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            rid = request_id(request)
            state = request.app.state.sirp
            id_header = state.names["request_id"]
            try:
                response = await handler(request)
            except Exception as exc:  # every failure answers in OpenAI's format; none reaches the server
                err = (
                    _validation_error(exc)
                    if isinstance(exc, RequestValidationError)
                    else api_error(exc, request_id=rid)
                )
                metrics: ServerMetrics = state.metrics
                metrics.errors.labels(_endpoint(request), err.type, str(err.status_code)).inc()
                extra = dict(getattr(request.state, "admission_headers", {}) or {})
                extra[id_header] = rid
                return error_response(err, extra)
            response.headers.setdefault(id_header, rid)
            return response

        return handle


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``event:`` (when given) and one ``data:`` line of JSON (or text)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


class RequestMetrics:
    """Counts and times every HTTP request (to the last byte of its answer), by endpoint template."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        m = self.metrics

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        m.in_flight.inc()
        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            m.in_flight.dec()
            route = scope.get("route")
            # unmatched paths share one label: a scanner must not grow the metric without bound
            endpoint = str(getattr(route, "path", "unmatched"))
            m.requests.labels(endpoint, scope.get("method", ""), str(status)).inc()
            m.request_seconds.labels(endpoint).observe(time.perf_counter() - start)
