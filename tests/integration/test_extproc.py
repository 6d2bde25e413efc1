"""sirp extproc with the bundled model: one pipeline, two front doors, and the command itself.

- The same router behind ``sirp serve`` and behind the ext_proc service: for every prompt, the body
  Envoy is told to send is the very body ``sirp serve`` sent the model (model, reasoning syntax,
  messages, parameters), and the decision headers are the same.
- ``sirp extproc`` in a subprocess: health, a routed request over gRPC, ``/metrics``, a clean stop.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the sirp[server] extra")
pytest.importorskip("grpc", reason="sirp extproc needs the sirp[envoy] extra")

import grpc
from fastapi.testclient import TestClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sirp.extproc import build_state, create_server
from sirp.extproc.metrics import ExtProcMetrics
from sirp.router import SemanticRouter
from sirp.server import create_app
from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.extproc.support import EnvoyStream, header_set, request_body, request_headers

ROOT = Path(__file__).resolve().parents[2]

PROMPTS = [
    "What is the height of Mt. Everest?",
    "Prove that there are infinitely many primes.",
    "Solve for x: 3x + 7 = 22, and explain each step.",
    "Who wrote Pride and Prejudice?",
    "Derive the time complexity of merge sort and compare it with quicksort's worst case.",
    "What does the enzyme amylase break down?",
]


def _config(base_url: str) -> dict[str, Any]:
    return {
        "classifier": {"threads": 1},
        "policy": {"reasoning": {"categories": ["math", "physics", "computer science"], "min_complexity": 0.3}},
        "models": [
            {"name": "llama-3.1-8b-instruct", "tier": "slm", "base_url": base_url, "family": "qwen3"},
            {"name": "llama-3.1-70b-instruct", "tier": "llm", "base_url": base_url, "family": "openai"},
        ],
        "categories": [
            {
                "name": "math",
                "model_scores": {"llama-3.1-70b-instruct": 1.0, "llama-3.1-8b-instruct": 0.1},
                "override_tier": True,
            },
            {"name": "law", "system_prompt": "Answer as a careful lawyer."},
        ],
    }


@pytest.mark.slow
def test_extproc_tells_envoy_to_send_exactly_what_sirp_serve_sends(fake_openai: FakeOpenAI) -> None:
    router = SemanticRouter(_config(fake_openai.base_url))
    sent: list[dict[str, Any]] = []
    serve_headers: list[str] = []
    with TestClient(create_app(router)) as client:
        for p in PROMPTS:
            r = client.post(
                "/v1/chat/completions",
                json={"model": "auto", "messages": [{"role": "user", "content": p}], "temperature": 0.3},
            )
            assert r.status_code == 200, r.text
            serve_headers.append(r.headers["x-sirp-decision"])
    sent = [r.body for r in fake_openai.requests if r.path.endswith("/chat/completions")]
    assert len(sent) == len(PROMPTS)

    async def through_extproc() -> list[tuple[dict[str, Any], dict[str, str]]]:
        state = build_state(router, ExtProcMetrics(), owns_router=False)
        server, _, port = await create_server(state, host="127.0.0.1", port=0)
        out = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            for p in PROMPTS:
                body = json.dumps(
                    {"model": "auto", "messages": [{"role": "user", "content": p}], "temperature": 0.3}
                ).encode()
                s = EnvoyStream(channel)
                await s.send(request_headers(body=body))
                common = (await s.send(request_body(body))).request_body.response
                await s.close()
                out.append((json.loads(common.body_mutation.body), header_set(common.header_mutation)))
        await server.stop(0)
        return out

    via_envoy = asyncio.run(through_extproc())
    router.close()
    for (body, headers), served, decision in zip(via_envoy, sent, serve_headers, strict=True):
        assert body == served  # model, the family's reasoning fields, messages (system prompt too), parameters
        assert headers["x-sirp-decision"] == decision
        assert headers["x-sirp-destination"] == body["model"]
    assert {b["model"] for b, _ in via_envoy} == {"llama-3.1-8b-instruct", "llama-3.1-70b-instruct"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_sirp_extproc_with_the_bundled_model(tmp_path: Path) -> None:
    cfg = tmp_path / "router.yaml"
    cfg.write_text(json.dumps(_config("http://models.invalid:8000/v1")))
    port, metrics_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sirp.cli.main",
            "extproc",
            "--config",
            str(cfg),
            "--port",
            str(port),
            "--metrics-port",
            str(metrics_port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    async def drive() -> tuple[dict[str, Any], dict[str, str]]:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 120
            while True:
                try:
                    reply = await stub.Check(
                        health_pb2.HealthCheckRequest(service="envoy.service.ext_proc.v3.ExternalProcessor"),
                        timeout=1,
                    )
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.aio.AioRpcError:
                    pass
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "sirp extproc did not start serving"
                await asyncio.sleep(0.2)
            body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": PROMPTS[1]}]}).encode()
            s = EnvoyStream(channel)
            await s.send(request_headers(body=body))
            common = (await s.send(request_body(body))).request_body.response
            await s.close()
            return json.loads(common.body_mutation.body), header_set(common.header_mutation)

    try:
        body, headers = asyncio.run(drive())
        assert headers["x-sirp-destination"] == body["model"]
        assert body["model"] in ("llama-3.1-8b-instruct", "llama-3.1-70b-instruct")
        assert headers["x-sirp-category"].split(";")[0] in ("math", "computer science", "philosophy", "other")
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert 'sirp_extproc_requests_total{endpoint="/v1/chat/completions",outcome="routed"} 1.0' in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        output = proc.stdout.read() if proc.stdout else ""
        if proc.stdout:
            proc.stdout.close()
    assert proc.returncode == 0, output


@pytest.mark.slow
def test_sirp_bench_extproc_runs_and_every_decision_agrees() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "sirp.cli.main",
            "bench",
            "extproc",
            "--requests",
            "12",
            "--concurrency",
            "1,3",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert [lv["concurrency"] for lv in result["levels"]] == [1, 3]
    for lv in result["levels"]:
        assert lv["agree"] == 1.0  # the ext_proc service chose what the in-process router chose
        for way in ("route", "pipeline", "ext_proc"):
            assert 0 < lv[way]["p50_ms"] <= lv[way]["p99_ms"]
    from sirp.extproc.bench import format_table

    table = format_table(result)
    assert "ext_proc p50" in table and "added p50" in table
