"""With the semantic cache on, the answer says what it did: X-SIRP-Cache and x-vsr-cache-hit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.server.support import SHORT, build_app, make_config


@pytest.fixture
def cached(mock_folder: Path, fake_openai: FakeOpenAI) -> Iterator[TestClient]:
    cfg = make_config(mock_folder, fake_openai, cache={"enabled": True})
    with TestClient(build_app(mock_folder, cfg)) as c:
        yield c


def chat(client: TestClient, headers: dict[str, str] | None = None, **body: Any) -> Any:
    payload = {"model": "auto", "messages": [{"role": "user", "content": SHORT}], **body}
    return client.post("/v1/chat/completions", json=payload, headers=headers or {})


def test_a_repeated_request_is_a_cache_hit(cached: TestClient, fake_openai: FakeOpenAI) -> None:
    first = chat(cached)
    assert first.headers["x-sirp-cache"] == "miss" and first.headers["x-vsr-cache-hit"] == "false"
    second = chat(cached)
    assert second.headers["x-sirp-cache"] == "hit" and second.headers["x-vsr-cache-hit"] == "true"
    assert second.json()["choices"][0]["message"]["content"] == first.json()["choices"][0]["message"]["content"]
    assert len(fake_openai.requests_for("small")) == 1
    streamed = chat(cached, stream=True)
    assert streamed.headers["x-sirp-cache"] == "hit" and "Echo from small" in streamed.text
    assert len(fake_openai.requests_for("small")) == 1
    assert 'sirp_cache_total{status="hit"} 2.0' in cached.get("/metrics").text


def test_cache_control_bypasses_or_refreshes(cached: TestClient, fake_openai: FakeOpenAI) -> None:
    chat(cached)
    assert chat(cached, {"Cache-Control": "no-store"}).headers["x-sirp-cache"] == "bypass"
    assert chat(cached, {"Cache-Control": "no-cache"}).headers["x-sirp-cache"] == "refresh"
    assert chat(cached, {"X-SIRP-Privacy": "pii"}).headers["x-sirp-cache"] == "bypass"
    assert chat(cached, {"Cache-Control": "no-store"}, stream=True).headers["x-sirp-cache"] == "bypass"
    assert len(fake_openai.requests_for("small")) == 5


def test_a_dead_redis_never_fails_a_request_and_shows_in_metrics(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = {"enabled": True, "backend": "redis", "redis_url": f"redis://127.0.0.1:{port}/0"}
    cfg = make_config(mock_folder, fake_openai, cache=cache)
    with TestClient(build_app(mock_folder, cfg)) as client:
        answers = [chat(client) for _ in range(2)]
        assert [a.status_code for a in answers] == [200, 200]
        assert len(fake_openai.requests_for("small")) == 2  # served without the cache, nothing lost
        metrics = client.get("/metrics").text
    errors = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("sirp_cache_backend_errors_total{")
    }
    assert errors["lookup"] >= 2 and errors["store"] >= 2
