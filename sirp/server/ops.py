"""Operations endpoints: ``GET /health`` (liveness), ``GET /ready`` (readiness), ``GET /metrics`` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sirp.server.http import SirpRoute
from sirp.server.metrics import CONTENT_TYPE_LATEST
from sirp.server.pipeline import state_of

__all__ = ["router"]

router = APIRouter(route_class=SirpRoute)


@router.get("/health", response_model=None)
async def health() -> Response:
    """The process answers (a liveness probe: nothing else is checked)."""
    return JSONResponse({"status": "ok"})


@router.get("/ready", response_model=None)
async def ready(request: Request) -> Response:
    """Ready to serve: the classifier is loaded (it is, once the app exists) and the response store answers."""
    state = state_of(request)
    checks = {"router": "ok", "store": "ok" if await state.store.ping() else "unreachable"}
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


@router.get("/metrics", response_model=None)
async def metrics(request: Request) -> Response:
    """Every metric in Prometheus' text format."""
    return Response(state_of(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)
