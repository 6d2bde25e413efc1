"""``sirp serve``: an OpenAI-compatible HTTP server that routes every request (``sirp[server]``).

Endpoints: ``POST /v1/chat/completions``, ``POST /v1/responses`` (with ``GET``/``DELETE
/v1/responses/{id}``, ``GET /v1/responses/{id}/input_items`` and ``previous_response_id``
chaining), ``GET /v1/models``, ``POST /v1/classify``, ``GET /metrics``, ``GET /health``,
``GET /ready``. One module per concept:

==========================  ==================================================================
``app.py``                  :func:`create_app`, the app factory
``pipeline.py``             the steps every routed request shares (model, size, hints, access)
``chat.py``                 Chat Completions, JSON and SSE
``responses.py``            the Responses API; ``responses_format.py`` translates to chat
``store.py``                the bounded response store (memory, Redis)
``models.py``               ``/v1/models`` and capabilities; ``capabilities.py`` the matching
``classify.py``             decisions without a model call
``hints.py``                request hints: the SIRP draft's VAR modules
``headers.py``              every header name, and the SIRP signalling values
``admission.py``            the interface to the access layer (``access.py``)
``errors.py``, ``http.py``  OpenAI-format errors, request ids, SSE, request metrics
``metrics.py``, ``ops.py``  Prometheus metrics, health, readiness
==========================  ==================================================================
"""

from __future__ import annotations

from sirp._imports import require

require("fastapi", extra="server", purpose="sirp serve (the router server)")
require("prometheus_client", extra="server", purpose="sirp serve's /metrics")

from sirp.server.app import create_app  # noqa: E402 - after the checks above, for their clear error

__all__ = ["create_app"]
