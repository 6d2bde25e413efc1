"""``sirp extproc``: sirp as Envoy's external processor (``pip install "sirp[envoy]"``).

Envoy keeps the data path; for each OpenAI-style request it asks this gRPC service
(``envoy.service.ext_proc.v3.ExternalProcessor``), which runs ``sirp serve``'s own pipeline
(:mod:`sirp.server.pipeline`) and answers with the mutations to apply: the chosen model and its
family's reasoning parameters in the body, the destination header Envoy's routes match, the
SIRP signalling headers. One module per concept:

=================  ===========================================================================
``service.py``     the gRPC servicer (one exchange per ``Process`` stream), health, the server
``routing.py``     one request body, decided through the server's pipeline, as mutations
``answers.py``     reading the answer as it streams past: usage, the completion for the cache
``envoy.py``       building and reading Envoy's messages (protos from ``xds-protos``)
``bootstrap.py``   an Envoy bootstrap (clusters, routes, the ext_proc filter) from a router config
``metrics.py``     the server's Prometheus metrics plus the ext_proc counters
=================  ===========================================================================
"""

from __future__ import annotations

from sirp._imports import require

require("grpc", extra="envoy", purpose="sirp extproc (the Envoy external processor)")
require("envoy.service.ext_proc.v3.external_processor_pb2", extra="envoy", purpose="sirp extproc (Envoy's protos)")
require("grpc_health.v1.health", extra="envoy", purpose="sirp extproc's gRPC health service")

from sirp.extproc.service import ExternalProcessor, build_state, create_server, serve  # noqa: E402 - after the checks

__all__ = ["ExternalProcessor", "build_state", "create_server", "serve"]
