"""The response stores: bounded, expiring, and (Redis) shared by replicas."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sirp.server.store import MemoryResponseStore, RedisResponseStore, StoredResponse
from tests.unit.server.support import SHORT, build_app


def record(i: int, **extra: Any) -> StoredResponse:
    return StoredResponse(
        response={"id": f"resp_{i}", "object": "response", "output": [{"type": "message", "id": f"msg_{i}"}]},
        input_items=[{"type": "message", "id": f"in_{i}"}],
        **extra,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_memory_store_evicts_the_least_recently_used() -> None:
    async def go() -> None:
        store = MemoryResponseStore(max_entries=2)
        await store.put(record(1))
        await store.put(record(2))
        assert await store.get("resp_1") is not None  # 1 is now the most recently used
        await store.put(record(3))
        assert await store.get("resp_2") is None
        assert [await store.get(f"resp_{i}") is not None for i in (1, 3)] == [True, True]
        assert len(store) == 2
        assert await store.delete("resp_1") and not await store.delete("resp_1")

    asyncio.run(go())


def test_memory_store_expires_entries() -> None:
    async def go() -> None:
        clock = Clock()
        store = MemoryResponseStore(ttl_s=10, clock=clock)
        await store.put(record(1))
        clock.now += 9.9
        assert await store.get("resp_1") is not None
        clock.now += 0.2
        assert await store.get("resp_1") is None and len(store) == 0

    asyncio.run(go())


def test_context_is_history_then_input_then_output() -> None:
    r = record(2, history=[{"type": "message", "id": "old"}])
    assert [i["id"] for i in r.context()] == ["old", "in_2", "msg_2"]
    assert StoredResponse.from_json(r.to_json()) == r


def test_redis_store_is_shared_bounded_and_expiring(redis_url: str) -> None:
    async def go() -> None:
        a = RedisResponseStore(redis_url, max_entries=3, ttl_s=60)
        b = RedisResponseStore(redis_url, max_entries=3, ttl_s=60)  # another replica
        try:
            assert await a.ping()
            for i in range(5):
                await a.put(record(i))
            assert await b.get("resp_4") == record(4)
            # the two oldest were trimmed to keep max_entries
            assert [await b.get(f"resp_{i}") is None for i in range(5)] == [True, True, False, False, False]
            assert await b.delete("resp_4") and await a.get("resp_4") is None
            assert not await a.delete("resp_4")
            short = RedisResponseStore(redis_url, ttl_s=0.05, prefix="sirp:short:")
            await short.put(record(9))
            ttl = await short._redis.pttl("sirp:short:resp_9")
            assert 0 < ttl <= 50  # Redis expires it; no waiting here
            await short.aclose()
        finally:
            await a.aclose()
            await b.aclose()

    asyncio.run(go())


def test_redis_store_reports_an_unreachable_server() -> None:
    async def go() -> None:
        store = RedisResponseStore("redis://127.0.0.1:9/0")
        assert await store.ping() is False
        await store.aclose()

    asyncio.run(go())


def test_two_apps_sharing_redis_continue_each_others_responses(
    mock_folder: Path, server_config: dict[str, Any], redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SIRP_REDIS", redis_url)
    server_config["server"] = {"responses": {"backend": "redis"}, "redis_url_env": "TEST_SIRP_REDIS"}
    with (
        TestClient(build_app(mock_folder, server_config)) as one,
        TestClient(build_app(mock_folder, server_config)) as two,
    ):
        first = one.post("/v1/responses", json={"model": "auto", "input": SHORT}).json()
        assert two.get(f"/v1/responses/{first['id']}").json() == first
        second = two.post("/v1/responses", json={"model": "auto", "input": "more", "previous_response_id": first["id"]})
        assert second.status_code == 200
        assert one.get("/ready").json()["checks"]["store"] == "ok"
