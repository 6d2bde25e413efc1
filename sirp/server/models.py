"""``GET /v1/models`` and ``GET /v1/models/{id}``: the auto model and every configured model, with capabilities.

This is the capability negotiation of the multi-provider draft: each model lists its tier, its
reasoning family, its context length, its input modalities, tool calling and whether it runs
locally, under ``capabilities``; a request can then require some of them (``X-SIRP-Require``,
see :mod:`sirp.server.capabilities`). The auto model lists what routing can reach: the union of
its models' capabilities.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sirp.server.capabilities import model_capabilities
from sirp.server.errors import APIError
from sirp.server.http import SirpRoute
from sirp.server.pipeline import ServerState, state_of

__all__ = ["model_cards", "router"]

router = APIRouter(route_class=SirpRoute)


def _auto_card(state: ServerState, created: int) -> dict[str, Any]:
    models = list(state.models.values())
    contexts = [m.context_length for m in models if m.context_length is not None]
    caps: dict[str, Any] = {
        "router": True,
        "tiers": [t.name for t in state.config.tiers],
        "models": [m.name for m in models],
        "reasoning": any(m.family != "none" for m in models),
        "context_length": max(contexts) if contexts else None,
        "modalities": sorted({x for m in models for x in m.modalities}) or ["text"],
        "tools": any(m.tool_calling for m in models),
        "local": any(m.local for m in models),
    }
    return {
        "id": state.server.auto_model,
        "object": "model",
        "created": created,
        "owned_by": "sirp",
        "capabilities": caps,
    }


def model_cards(state: ServerState, created: int) -> list[dict[str, Any]]:
    """The auto model first, then every configured model, as OpenAI model objects with ``capabilities``."""
    cards = [_auto_card(state, created)]
    for m in state.models.values():
        cards.append(
            {
                "id": m.name,
                "object": "model",
                "created": created,
                "owned_by": "sirp",
                "capabilities": model_capabilities(m),
            }
        )
    return cards


@router.get("/v1/models", response_model=None)
async def list_models(request: Request) -> Response:
    """Every model this server answers for."""
    state = state_of(request)
    return JSONResponse({"object": "list", "data": model_cards(state, request.app.state.started)})


@router.get("/v1/models/{model_id:path}", response_model=None)
async def get_model(request: Request, model_id: str) -> Response:
    """One model (404 when the server does not serve it)."""
    state = state_of(request)
    for card in model_cards(state, request.app.state.started):
        if card["id"] == model_id:
            return JSONResponse(card)
    raise APIError(404, f"the model {model_id!r} does not exist on this server", code="model_not_found", param="model")
