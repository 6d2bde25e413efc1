"""``sirp bench extproc``: the latency sirp adds to a request through Envoy, beside the same decisions in-process.

Three ways to decide the same requests, at several concurrencies:

- ``route``: ``SemanticRouter.aroute`` in this process — the decision alone;
- ``pipeline``: the ext_proc decision (:func:`sirp.extproc.routing.decide`: body parsing, the
  server's pipeline, the route, the request body for the model) in this process, without gRPC;
- ``ext_proc``: ``sirp extproc`` in a subprocess, driven over gRPC on loopback as Envoy drives it:
  request headers, then the body; the time from the first message to the body's answer is what
  Envoy waits before it sends the request on (Envoy's own proxying is not included).

Every ext_proc answer must name the model the in-process route chose (``agree``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sirp.bench.prompts import EVERYDAY_PROMPTS
from sirp.config.loader import config_from_dict
from sirp.config.schema import RouterConfig

__all__ = ["bench_config", "format_table", "run_benchmark"]

_NOWHERE = "http://127.0.0.1:9/v1"  # never called: ext_proc decides, Envoy would call


def bench_config(config: RouterConfig, port: int) -> RouterConfig:
    """``config`` for the benchmark: models for every tier (never called), no cache, no access control."""
    data = config.model_dump(mode="json")
    if not data["models"]:
        data["models"] = [{"name": t["model"], "tier": t["name"], "base_url": _NOWHERE} for t in data["tiers"]]
    data["cache"] = {"enabled": False}
    data["fallback"] = []
    server = data["server"]
    server["access"] = {}
    server["extproc"] = {**server["extproc"], "host": "127.0.0.1", "port": port, "metrics_port": None}
    return config_from_dict(data, source="sirp bench extproc")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stats(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=float) * 1000
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
    }


async def _load(
    call: Callable[[int], Awaitable[str]], n: int, concurrency: int
) -> tuple[list[float], list[str], float]:
    """``n`` calls, ``concurrency`` at a time: their latencies, their answers (by index), the wall time."""
    latencies: list[float] = [0.0] * n
    answers: list[str] = [""] * n
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            answers[i] = await call(i)
            latencies[i] = time.perf_counter() - t0

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, answers, time.perf_counter() - start


class _ExtProc:
    """``sirp extproc`` in a subprocess, with a gRPC channel to it."""

    def __init__(self, config: RouterConfig, *, startup_timeout_s: float = 180.0) -> None:
        self.config = config
        self.port = config.server.extproc.port
        self.timeout = startup_timeout_s
        self._dir = tempfile.TemporaryDirectory(prefix="sirp-bench-extproc-")
        self.proc: subprocess.Popen[str] | None = None
        self.channel: Any = None

    def _start(self) -> subprocess.Popen[str]:
        path = Path(self._dir.name) / "router.yaml"
        path.write_text(self.config.model_dump_json(), encoding="utf-8")  # JSON is YAML
        return subprocess.Popen(
            [sys.executable, "-m", "sirp.cli.main", "extproc", "--config", str(path), "--log-level", "warning"],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def __aenter__(self) -> _ExtProc:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        self.proc = self._start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.port}")
        stub = health_pb2_grpc.HealthStub(self.channel)
        deadline = time.monotonic() + self.timeout
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise RuntimeError(f"sirp extproc exited with {self.proc.returncode}: {err[-2000:]}")
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return self
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("sirp extproc did not start serving in time")
            await asyncio.sleep(0.2)

    async def __aexit__(self, *exc: object) -> None:
        if self.channel is not None:
            await self.channel.close()
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr is not None:
                self.proc.stderr.close()
        self._dir.cleanup()

    async def decide(self, body: bytes) -> str:
        """One request through the service as Envoy sends it; the destination it answers with."""
        from envoy.config.core.v3 import base_pb2
        from envoy.service.ext_proc.v3 import external_processor_pb2 as ep
        from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as ep_grpc

        h = {
            ":method": "POST",
            ":path": "/v1/chat/completions",
            "content-type": "application/json",
            "content-length": str(len(body)),
        }
        headers = base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in h.items()])
        call = ep_grpc.ExternalProcessorStub(self.channel).Process()
        await call.write(ep.ProcessingRequest(request_headers=ep.HttpHeaders(headers=headers)))
        await call.read()
        await call.write(ep.ProcessingRequest(request_body=ep.HttpBody(body=body, end_of_stream=True)))
        answer = await call.read()
        await call.done_writing()
        dest = self.config.server.extproc.destination_header
        for opt in answer.request_body.response.header_mutation.set_headers:
            if opt.header.key == dest:
                return str(opt.header.raw_value.decode())
        return ""


def run_benchmark(
    config: RouterConfig,
    *,
    concurrency: Sequence[int] = (1, 16, 64),
    requests: int = 256,
    prompts: Sequence[str] = EVERYDAY_PROMPTS,
    warmup: int = 16,
) -> dict[str, Any]:
    """Time the three ways at each concurrency; see the module docstring."""
    return asyncio.run(_run(config, concurrency, requests, prompts, warmup))


async def _run(
    config: RouterConfig, levels: Sequence[int], n: int, prompts: Sequence[str], warmup: int
) -> dict[str, Any]:
    from sirp.extproc.metrics import ExtProcMetrics
    from sirp.extproc.routing import CHAT, decide
    from sirp.extproc.service import Headers, build_state
    from sirp.router import SemanticRouter

    cfg = bench_config(config, _free_port())
    bodies = [
        json.dumps({"model": "auto", "messages": [{"role": "user", "content": prompts[i % len(prompts)]}]}).encode()
        for i in range(n)
    ]
    router = SemanticRouter(cfg)
    state = build_state(router, ExtProcMetrics(), owns_router=False)
    headers = Headers({"content-type": "application/json"})

    async def route(i: int) -> str:
        d = await router.aroute(prompts[i % len(prompts)])
        return d.model

    async def pipeline(i: int) -> str:
        outcome = await decide(state, CHAT, headers, None, bodies[i])
        return outcome.model or ""

    levels_out = []
    async with _ExtProc(cfg) as ext:

        async def ext_proc(i: int) -> str:
            return await ext.decide(bodies[i])

        for fn in (route, pipeline, ext_proc):  # warm every path (first ONNX runs, imports, connections)
            await _load(fn, min(warmup, n), 1)
        for c in levels:
            out: dict[str, Any] = {"concurrency": c}
            answers: dict[str, list[str]] = {}
            for name, fn in (("route", route), ("pipeline", pipeline), ("ext_proc", ext_proc)):
                lat, got, wall = await _load(fn, n, c)
                out[name] = {**_stats(lat), "throughput_rps": round(n / wall, 1)}
                answers[name] = got
            out["added_p50_ms"] = round(out["ext_proc"]["p50_ms"] - out["route"]["p50_ms"], 3)
            out["added_p99_ms"] = round(out["ext_proc"]["p99_ms"] - out["route"]["p99_ms"], 3)
            agree = sum(a == b for a, b in zip(answers["ext_proc"], answers["route"], strict=True))
            out["agree"] = round(agree / n, 4)
            levels_out.append(out)
    await router.aclose()
    clf = cfg.classifier
    return {
        "model": str(clf.model) if clf.model is not None else "bundled default",
        "threads": clf.threads,
        "requests_per_level": n,
        "cpu_count": os.cpu_count(),
        "levels": levels_out,
    }


def format_table(result: dict[str, Any]) -> str:
    """The result as a text table (milliseconds)."""
    head = (
        f"sirp bench extproc — {result['model']}, {result['requests_per_level']} requests per level, "
        f"classifier threads {result['threads'] or 'one per core'}, {result['cpu_count']} CPUs\n"
    )
    cols = (
        f"{'conc':>4}  {'route p50':>9} {'p99':>7}  {'pipeline p50':>12} {'p99':>7}  "
        f"{'ext_proc p50':>12} {'p99':>7}  {'added p50':>9} {'p99':>7}  {'ext_proc rps':>12}  {'agree':>5}"
    )
    lines = [head, cols, "-" * len(cols)]
    for lv in result["levels"]:
        r, p, e = lv["route"], lv["pipeline"], lv["ext_proc"]
        lines.append(
            f"{lv['concurrency']:>4}  {r['p50_ms']:>9.2f} {r['p99_ms']:>7.2f}  "
            f"{p['p50_ms']:>12.2f} {p['p99_ms']:>7.2f}  "
            f"{e['p50_ms']:>12.2f} {e['p99_ms']:>7.2f}  {lv['added_p50_ms']:>9.2f} {lv['added_p99_ms']:>7.2f}  "
            f"{e['throughput_rps']:>12.1f}  {lv['agree']:>5.0%}"
        )
    return "\n".join(lines)
