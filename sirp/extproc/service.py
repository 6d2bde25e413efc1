"""The gRPC service: ``envoy.service.ext_proc.v3.ExternalProcessor/Process`` and the standard health service.

Envoy opens one ``Process`` stream per HTTP request and sends, as its processing mode says,
the request headers, the (buffered) request body, the response headers and the response body
chunks; sirp answers each message with one :class:`ProcessingResponse`::

    request headers   a routed endpoint (POST /v1/chat/completions, /v1/responses)? check the
                      content type, the declared size, that a body follows; else skip the rest
    request body      decide (sirp.extproc.routing): new body, destination and x-sirp-* headers,
                      clear the route cache; or answer now (error, refusal, cache hit)
    response headers  add the x-sirp-* headers for the client; read the body only if it is an answer
    response body     each chunk answered at once (the usage chunk sirp asked for is taken out
                      when the client did not ask); usage, cost and the cache store after the last

An internal failure (a bug, a decision slower than ``decision_timeout_s``) fails open — the
request goes on unrouted — or closed — a 500 — per ``server.extproc.fail_open``, and is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import grpc
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from sirp.config.schema import RouterConfig
from sirp.errors import SirpError
from sirp.extproc.answers import AnswerReader, reader_for
from sirp.extproc.envoy import body_response, header_map, headers_response, immediate_response, peer_address
from sirp.extproc.metrics import ExtProcMetrics
from sirp.extproc.routing import CHAT, RESPONSES, Outcome, decide, error_outcome, refusal
from sirp.server.admission import build_access
from sirp.server.errors import APIError
from sirp.server.headers import HeaderNames
from sirp.server.pipeline import ServerState
from sirp.server.store import MemoryResponseStore

__all__ = ["SERVICE_NAME", "ExternalProcessor", "Headers", "build_state", "create_server", "serve"]

logger = logging.getLogger(__name__)

#: The full name of the service, as the health service and gRPC reflection know it.
SERVICE_NAME = "envoy.service.ext_proc.v3.ExternalProcessor"

_ROUTED = {CHAT, RESPONSES}


class Headers(Mapping[str, str]):
    """Request headers with case-insensitive lookups (what the pipeline expects of Starlette's)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._h = {k.lower(): v for k, v in headers.items()}

    def __getitem__(self, key: str) -> str:
        return self._h[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._h)

    def __len__(self) -> int:
        return len(self._h)


def build_state(router: Any, metrics: ExtProcMetrics, *, owns_router: bool = True) -> ServerState:
    """The pipeline's shared state for the ext_proc front door (no response store: the upstream keeps its own)."""
    config: RouterConfig = router.config
    return ServerState(
        router=router,
        names=HeaderNames(config.server),
        store=MemoryResponseStore(max_entries=1, ttl_s=1.0),
        access=build_access(config, redis_url=config.server.resolved_redis_url()),
        metrics=metrics,
        owns_router=owns_router,
    )


def _media(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


class _Exchange:
    """One HTTP request and its answer, as Envoy streams them past."""

    def __init__(self, service: ExternalProcessor) -> None:
        self.service = service
        self.state = service.state
        self.metrics = service.metrics
        self.cfg = service.state.server.extproc
        self.started = time.perf_counter()
        self.endpoint: str | None = None
        self.method = ""
        self.headers = Headers({})
        self.peer: str | None = None
        self.request_id: str | None = None
        self.outcome: Outcome | None = None
        self.reader: AnswerReader | None = None
        self.status: int | None = None
        self.phase = "start"
        self.finished = False

    # -- dispatch ----------------------------------------------------------------------------

    async def handle(self, req: Any) -> Any:
        kind = req.WhichOneof("request")
        self.phase = kind or "unknown"
        try:
            if kind == "request_headers":
                return self.on_request_headers(req)
            if kind == "request_body":
                return await self.on_request_body(req.request_body)
            if kind == "response_headers":
                return self.on_response_headers(req.response_headers)
            if kind == "response_body":
                return self.on_response_body(req.response_body)
            if kind in ("request_trailers", "response_trailers"):
                resp = ep.ProcessingResponse()
                getattr(resp, kind).SetInParent()
                return resp
        except Exception as exc:
            return self.failed(kind or "unknown", exc)
        raise ValueError(f"a ProcessingRequest with nothing in it ({kind!r})")

    def failed(self, phase: str, exc: BaseException, kind: str = "error") -> Any:
        """An internal failure: fail open (continue unchanged) or closed (500), and count it."""
        self.metrics.failures.labels(phase, kind).inc()
        closed = not self.cfg.fail_open and phase in ("request_headers", "request_body")
        logger.error(
            "ext_proc %s failed in %s (request %s); failing %s",
            kind,
            phase,
            self.request_id,
            "closed" if closed else "open",
            exc_info=exc if kind == "error" else None,
        )
        if phase in ("request_headers", "request_body") and self.endpoint is not None:
            self.metrics.outcomes.labels(self.endpoint, "failed_closed" if closed else "failed_open").inc()
        if closed:
            where = f" (request id {self.request_id})" if self.request_id else ""
            err = APIError(
                500,
                f"the router failed to decide this request{where}; see its log",
                type="server_error",
                code="internal_error",
            )
            return self._immediate(error_outcome(err, request_id=self.request_id), count=False)
        self.outcome = None  # unrouted: the response is not sirp's to read
        if phase in ("request_headers", "response_headers"):
            return headers_response(phase, skip_response_body=True)
        return body_response(phase) if phase in ("request_body", "response_body") else ep.ProcessingResponse()

    # -- request -----------------------------------------------------------------------------

    def on_request_headers(self, req: Any) -> Any:
        h = header_map(req.request_headers)
        self.headers = Headers(h)
        self.method = h.get(":method", "")
        path = h.get(":path", "").split("?", 1)[0]
        self.request_id = h.get("x-request-id")
        self.peer = peer_address(req)
        remove = [self.cfg.destination_header]  # only sirp says where a request goes
        if self.method != "POST" or path not in _ROUTED:
            self.metrics.outcomes.labels("other", "not_routed").inc()
            return headers_response("request_headers", remove=remove, skip_rest=True)
        self.endpoint = path
        problem = self._check_headers(h, req.request_headers.end_of_stream)
        if problem is not None:
            return self._immediate(error_outcome(problem, request_id=self.request_id))
        return headers_response("request_headers", remove=remove)

    def _check_headers(self, h: Mapping[str, str], end_of_stream: bool) -> APIError | None:
        media = _media(h.get("content-type"))
        if media != "application/json":
            shown = f"Content-Type {h['content-type']!r}" if "content-type" in h else "no Content-Type"
            return APIError(
                415,
                f"the request has {shown}; send a JSON body with Content-Type: application/json",
                code="unsupported_media_type",
            )
        limit = self.state.server.max_request_bytes
        declared = h.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return APIError(
                413,
                f"the request body has {int(declared):,} bytes, more than this router's limit of {limit:,} "
                "(server.max_request_bytes)",
                code="request_too_large",
            )
        if end_of_stream:
            return APIError(400, "the request has no body; send a JSON object", code="invalid_json")
        return None

    async def on_request_body(self, body: Any) -> Any:
        if self.endpoint is None or self.finished:
            return body_response("request_body")
        if not body.end_of_stream:
            # Envoy sends a body in pieces only past its buffer (BUFFERED_PARTIAL) or in a mode
            # sirp does not route in (STREAMED): the body cannot be rewritten whole.
            err = APIError(
                413,
                "the request body is larger than the proxy's buffer; send a smaller body (the proxy must buffer the "
                "whole body for sirp to route it: request_body_mode BUFFERED)",
                code="request_too_large",
            )
            return self._immediate(error_outcome(err, request_id=self.request_id))
        try:
            outcome = await decide(self.state, self.endpoint, self.headers, self.peer, bytes(body.body))
        except (asyncio.TimeoutError, TimeoutError) as exc:
            return self.failed("request_body", exc, kind="timeout")
        except (APIError, SirpError) as exc:
            err = refusal(exc, request_id=self.request_id)
            if err.code == "internal_error":
                return self.failed("request_body", exc)
            outcome = error_outcome(err, request_id=self.request_id)
        self.outcome = outcome
        self.metrics.outcomes.labels(self.endpoint, outcome.kind).inc()
        if outcome.decision is not None:
            self.metrics.decision(self.endpoint, outcome.decision)
        if outcome.kind in ("refused", "cache_hit"):
            if outcome.kind == "cache_hit":
                self.metrics.cache.labels("hit").inc()
            return self._immediate(outcome)
        if outcome.kind == "passthrough":
            return body_response("request_body")
        return body_response(
            "request_body",
            body=outcome.body,
            set_headers=outcome.set_headers,
            remove=outcome.remove,
            clear_route_cache=True,
        )

    def _immediate(self, outcome: Outcome, *, count: bool = True) -> Any:
        """Answer the client now; ``count``: count a refusal made before the body (the body's are counted there)."""
        self.outcome = outcome
        err = outcome.error
        if err is not None:
            self.metrics.errors.labels(self.endpoint or "other", err.type, str(err.status_code)).inc()
            if count and self.phase == "request_headers":
                self.metrics.outcomes.labels(self.endpoint or "other", "refused").inc()
        self._finish(outcome.status)
        return immediate_response(outcome.status, outcome.body or b"", outcome.response_headers)

    # -- response ----------------------------------------------------------------------------

    def on_response_headers(self, msg: Any) -> Any:
        h = header_map(msg)
        status = h.get(":status", "")
        self.status = int(status) if status.isdigit() else None
        o = self.outcome
        if o is None or self.endpoint is None or o.kind not in ("routed", "pinned", "passthrough"):
            if self.endpoint is not None:
                self._finish(self.status)
            return headers_response("response_headers", skip_response_body=True)
        set_headers = o.response_headers if o.kind != "passthrough" else {}
        encoded = h.get("content-encoding", "identity").lower() not in ("", "identity")
        reader = None
        if self.status == 200 and not encoded:
            strip = o.kind == "routed" and o.stream and not o.include_usage and self.endpoint == CHAT
            reader = reader_for(
                self.endpoint,
                h.get("content-type", ""),
                limit=self.cfg.max_response_bytes,
                strip_usage=strip,
                keep=o.store is not None,
            )
        if reader is None:
            if self.status is not None and self.status >= 400:
                self.metrics.errors.labels(self.endpoint, "upstream_error", str(self.status)).inc()
            self._finish(self.status)
            return headers_response("response_headers", set_headers=set_headers, skip_response_body=True)
        self.reader = reader
        remove = ["content-length"] if getattr(reader, "strip_usage", False) else None
        if msg.end_of_stream:
            self._answered()
        return headers_response("response_headers", set_headers=set_headers, remove=remove)

    def on_response_body(self, body: Any) -> Any:
        if self.reader is None:
            return body_response("response_body")
        replacement = self.reader.feed(bytes(body.body))
        if body.end_of_stream:
            self._answered()
        return body_response("response_body", body=replacement)

    def _answered(self) -> None:
        """The answer's last byte went past: account for it off the data path."""
        reader, o = self.reader, self.outcome
        self.reader = None
        self._finish(self.status)
        if reader is None or o is None or self.endpoint is None:
            return
        answer = reader.finish()
        self.service.background(self.service.account(o, answer))

    def _finish(self, status: int | None) -> None:
        """Count the exchange once: its status and its time to the answer's last byte."""
        if self.finished:
            return
        self.finished = True
        endpoint = self.endpoint or "other"
        self.metrics.requests.labels(endpoint, self.method, str(status or 0)).inc()
        self.metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - self.started)

    def close(self) -> None:
        """The stream ended: an exchange without its last byte was aborted (the client went away)."""
        if self.endpoint is not None and not self.finished:
            self.metrics.aborted.labels(self.phase).inc()
        self.reader = None


class ExternalProcessor:
    """The ``ExternalProcessor`` servicer: one :class:`_Exchange` per ``Process`` stream."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        metrics = state.metrics
        assert isinstance(metrics, ExtProcMetrics)
        self.metrics: ExtProcMetrics = metrics
        self._tasks: set[asyncio.Task[None]] = set()

    async def Process(self, request_iterator: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
        """Answer each of Envoy's messages about one HTTP request."""
        ex = _Exchange(self)
        self.metrics.in_flight.inc()
        try:
            async for req in request_iterator:
                yield await ex.handle(req)
        finally:
            self.metrics.in_flight.dec()
            ex.close()

    def background(self, coro: Any) -> None:
        """Run ``coro`` after the answer, keeping a reference until it is done."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the accounting still running (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def account(self, o: Outcome, answer: Any) -> None:
        """Usage, cost, the caller's token count and the cache store of one finished answer."""
        try:
            model = o.model or "other"
            config = self.state.models.get(model)
            label = model if config is not None else "other"  # labels take bounded values only
            if answer.usage is not None:
                self.metrics.usage(label, answer.usage, config)
                if o.admission is not None:
                    await self.state.access.record_usage(o.admission, answer.usage.total_tokens)
            plan = o.store
            if plan is not None:
                stored = answer.complete and answer.completion is not None
                cache = self.state.router.cache
                if stored and cache is not None:
                    category = plan.decision.category
                    await asyncio.to_thread(
                        cache.put, plan.key, plan.vector, answer.completion, model=model, category=category
                    )
                self.metrics.cache.labels(plan.label if stored else "bypass").inc()
        except Exception:
            logger.exception("accounting for an answer of %s failed", o.model)


def _warm_up() -> None:
    import openai.lib.streaming.chat
    import openai.types.chat  # noqa: F401


async def create_server(
    state: ServerState, *, host: str | None = None, port: int | None = None
) -> tuple[Any, ExternalProcessor, int]:
    """A started ``grpc.aio`` server with the ext_proc and health services; returns it, the servicer, the port."""
    cfg = state.server.extproc
    # The cache answers and stores chat completions through openai's types: import them now, not
    # inside the first request's decision time.
    if state.router.cache is not None:
        await asyncio.to_thread(_warm_up)
    server = grpc.aio.server()
    servicer = ExternalProcessor(state)
    ep_grpc.add_ExternalProcessorServicer_to_server(servicer, server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = server.add_insecure_port(f"{host or cfg.host}:{cfg.port if port is None else port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host or cfg.host}:{cfg.port if port is None else port}")
    await server.start()
    serving = health_pb2.HealthCheckResponse.SERVING
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, serving)
    return server, servicer, bound


async def serve(config: RouterConfig, *, ready: Any = None) -> None:
    """Run ``sirp extproc`` until SIGINT/SIGTERM: the router, the gRPC services, ``/metrics``.

    Args:
        config: the router config (``server.extproc`` for the service itself).
        ready: called with the bound port once the service answers (tests, supervisors).
    """
    import signal

    from prometheus_client import start_http_server

    from sirp.router import SemanticRouter

    cfg = config.server.extproc
    router = SemanticRouter(config)
    state = build_state(router, ExtProcMetrics())
    server, servicer, port = await create_server(state)
    metrics_server = None
    if cfg.metrics_port is not None:
        metrics_server, _ = start_http_server(cfg.metrics_port, addr=cfg.host, registry=state.metrics.registry)
    logger.info(
        "sirp extproc serving %s on %s:%d%s",
        SERVICE_NAME,
        cfg.host,
        port,
        f"; metrics on http://{cfg.host}:{cfg.metrics_port}/metrics" if cfg.metrics_port else "",
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(port)
    try:
        await stop.wait()
    finally:
        logger.info("sirp extproc stopping: finishing the streams in flight")
        await server.stop(grace=5.0)
        await servicer.drain()
        if metrics_server is not None:
            metrics_server.shutdown()
        await state.access.aclose()
        await router.aclose()
