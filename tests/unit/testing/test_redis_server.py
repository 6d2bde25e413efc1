"""The Redis fixture starts a real server that answers commands."""

from __future__ import annotations

import redis


def test_redis_fixture_is_a_real_server(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.set("sirp:probe", "1")
    assert client.get("sirp:probe") == b"1"
    assert client.info("server")["redis_version"].startswith(("6.", "7.", "8."))
    client.close()


def test_each_test_starts_empty(redis_url: str) -> None:
    assert redis.Redis.from_url(redis_url).dbsize() == 0
