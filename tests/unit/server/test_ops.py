"""/health, /ready, /metrics: probes and Prometheus metrics (one registry per app)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.server.support import LONG, SHORT, build_app


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m: dict[Any, float], name: str, **labels: str) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def chat(client: TestClient, content: str, **body: Any) -> Any:
    return client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": content}], **body}
    )


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "checks": {"router": "ok", "store": "ok"}}


def test_ready_reports_an_unreachable_store(mock_folder: Path, server_config: dict[str, Any]) -> None:
    class DownStore:
        async def ping(self) -> bool:
            return False

        async def aclose(self) -> None:
            return None

    with TestClient(build_app(mock_folder, server_config, store=DownStore())) as c:
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["checks"]["store"] == "unreachable"
        assert c.get("/health").status_code == 200


def test_metrics_count_requests_decisions_tokens_and_cost(client: TestClient) -> None:
    chat(client, SHORT)
    chat(client, LONG)
    chat(client, SHORT, stream=True)
    chat(client, SHORT, model="nope")
    client.post("/v1/classify", json={"input": [SHORT, SHORT]})
    m = samples(client)
    assert value(m, "sirp_requests_total", endpoint="/v1/chat/completions", method="POST", status="200") == 3
    assert value(m, "sirp_requests_total", endpoint="/v1/chat/completions", method="POST", status="404") == 1
    assert (
        value(m, "sirp_errors_total", endpoint="/v1/chat/completions", type="invalid_request_error", status="404") == 1
    )
    decided = {k[1]: v for k, v in m.items() if k[0] == "sirp_decisions_total"}
    by_endpoint: dict[str, float] = {}
    for labels, v in decided.items():
        by_endpoint[dict(labels)["endpoint"]] = by_endpoint.get(dict(labels)["endpoint"], 0) + v
    assert by_endpoint == {"/v1/chat/completions": 3, "/v1/classify": 2}
    assert value(m, "sirp_classifier_latency_seconds_count") == 5
    assert value(m, "sirp_tokens_total", model="small", kind="prompt") > 0
    assert value(m, "sirp_tokens_total", model="large", kind="completion") > 0
    # small costs 1 and 2 USD per million tokens: a few words cost a few millionths
    assert 0 < value(m, "sirp_cost_usd_total", model="small") < 0.001
    assert value(m, "sirp_upstream_ttft_seconds_count", model="small") == 1  # the streamed one
    assert value(m, "sirp_upstream_latency_seconds_count", model="small", outcome="ok") == 2
    assert value(m, "sirp_requests_in_flight") == 1  # the scrape itself


def test_each_app_has_its_own_registry(
    mock_folder: Path, server_config: dict[str, Any], fake_openai: FakeOpenAI
) -> None:
    with TestClient(build_app(mock_folder, server_config)) as a, TestClient(build_app(mock_folder, server_config)) as b:
        chat(a, SHORT)
        assert (
            value(samples(a), "sirp_requests_total", endpoint="/v1/chat/completions", method="POST", status="200") == 1
        )
        assert (
            value(samples(b), "sirp_requests_total", endpoint="/v1/chat/completions", method="POST", status="200") == 0
        )


def test_unmatched_paths_share_one_label(client: TestClient) -> None:
    for i in range(3):
        client.get(f"/scan/{i}")
    m = samples(client)
    assert value(m, "sirp_requests_total", endpoint="unmatched", method="GET", status="404") == 3
    assert not [k for k in m if k[0] == "sirp_requests_total" and "/scan" in str(k[1])]
