"""The Redis cache store against a real redis-server on loopback (Debian's package).

Two RedisStore objects on one Redis stand for two router replicas: what one stores, the other
finds; what one evicts or deletes, the other stops finding.
"""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

pytest.importorskip("redis", reason="the Redis cache needs the sirp[cache] extra")

import redis

from sirp.cache import CacheUnavailableError, SemanticCache
from sirp.cache.redis_store import RedisStore
from sirp.config.cache import CacheConfig
from tests.unit.cache.helpers import FakeClock, axis, bow, entry, mix, response


def replica(url: str, **kw) -> RedisStore:
    return RedisStore(url, namespace="t", **kw)


def test_two_replicas_share_entries(redis_url: str) -> None:
    a, b = replica(redis_url), replica(redis_url)
    a.put(entry("e1", axis(0), text="what is 2+2"))
    hit = b.search(mix(axis(0), axis(1), 0.95), "fp", 0.9)
    assert hit is not None and hit.entry.id == "e1" and hit.entry.text == "what is 2+2"
    assert hit.entry.response == response() and hit.entry.model == "small"
    assert np.allclose(hit.entry.vector, axis(0))
    assert len(a) == len(b) == 1
    # a replica started later loads what is there
    c = replica(redis_url)
    assert c.search(axis(0), "fp", 0.9) is not None
    assert c.search(axis(0), "other-fp", 0.0) is None


def test_ttl_is_set_in_redis_and_checked_by_the_clock(redis_url: str) -> None:
    clock = FakeClock()
    a, b = replica(redis_url, clock=clock), replica(redis_url, clock=clock)
    a.put(entry("short", axis(0), created=clock.now, ttl=30))
    a.put(entry("forever", axis(1), created=clock.now))
    r = redis.Redis.from_url(redis_url)
    assert 0 < r.pttl("t:e:short") <= 30_000
    assert r.pttl("t:e:forever") == -1  # no expiry: only LRU eviction removes it
    assert b.search(axis(0), "fp", 0.9) is not None
    clock.advance(31)
    assert b.search(axis(0), "fp", 0.9) is None
    assert b.search(axis(1), "fp", 0.9) is not None


def test_an_entry_expired_by_redis_is_a_miss_everywhere(redis_url: str) -> None:
    a, b = replica(redis_url), replica(redis_url)
    a.put(entry("gone", axis(0)))
    assert b.search(axis(0), "fp", 0.9) is not None
    redis.Redis.from_url(redis_url).delete("t:e:gone")  # what Redis's own expiry does
    assert b.search(axis(0), "fp", 0.9) is None
    assert "gone" not in b._index


def test_lru_eviction_is_shared(redis_url: str) -> None:
    clock = FakeClock()
    a, b = replica(redis_url, max_entries=2, clock=clock), replica(redis_url, max_entries=2, clock=clock)
    a.put(entry("x", axis(0), created=clock.now))
    clock.advance(1)
    a.put(entry("y", axis(1), created=clock.now))
    clock.advance(1)
    assert b.search(axis(0), "fp", 0.9) is not None  # replica b uses x: y is now the least recent
    clock.advance(1)
    b.put(entry("z", axis(2), created=clock.now))
    assert len(a) == 2
    assert a.search(axis(1), "fp", 0.9) is None  # y evicted, for every replica
    assert a.search(axis(0), "fp", 0.9) is not None and a.search(axis(2), "fp", 0.9) is not None
    assert "y" not in a._index and "y" not in b._index


def test_remove_and_clear_reach_other_replicas(redis_url: str) -> None:
    a, b = replica(redis_url), replica(redis_url)
    a.put(entry("p", axis(0)))
    a.put(entry("q", axis(1)))
    assert b.search(axis(0), "fp", 0.9) is not None
    a.remove("p")
    assert b.search(axis(0), "fp", 0.9) is None
    b.clear()
    assert a.search(axis(1), "fp", 0.9) is None and len(a) == 0


def test_a_replica_that_missed_trimmed_log_records_reloads(redis_url: str) -> None:
    a, b = replica(redis_url), replica(redis_url)
    a.put(entry("before", axis(0)))
    assert b.search(axis(0), "fp", 0.9) is not None
    r = redis.Redis.from_url(redis_url)
    a.put(entry("during", axis(1)))
    r.xtrim("t:log", maxlen=0)  # b never sees the record of 'during'
    a.put(entry("after", axis(2)))
    assert b.search(axis(1), "fp", 0.9) is not None  # found after the reload the gap caused
    assert b.search(axis(2), "fp", 0.9) is not None


def test_a_corrupt_entry_is_skipped_and_deleted(redis_url: str) -> None:
    a = replica(redis_url)
    a.put(entry("bad", axis(0)))
    a.put(entry("good", mix(axis(0), axis(1), 0.95)))
    r = redis.Redis.from_url(redis_url)
    r.hset("t:e:bad", "resp", b"{not json")
    hit = a.search(axis(0), "fp", 0.9)
    assert hit is not None and hit.entry.id == "good"
    assert not r.exists("t:e:bad")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_redis_down_raises_cache_unavailable_and_the_cache_reads_it_as_a_miss() -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    store = replica(url, socket_timeout_s=0.2)  # does not raise: loads once Redis answers
    with pytest.raises(CacheUnavailableError, match="ConnectionError"):
        store.search(axis(0), "fp", 0.9)
    cache = SemanticCache(CacheConfig(enabled=True, backend="redis", redis_url=url))
    k = cache.key("q", {})
    assert cache.lookup(k, axis(0)) is None
    assert cache.put(k, axis(0), response(), model="small") is None


def test_semantic_cache_on_redis_sync_and_async(redis_url: str) -> None:
    cfg = CacheConfig(enabled=True, backend="redis", redis_url=redis_url, namespace="sem", ttl_s=60)
    one, two = SemanticCache(cfg), SemanticCache(cfg)
    text = "What is the boiling point of water at sea level?"
    one.put(one.key(text, {}), bow(text), response("100 °C"), model="small", category="chemistry")

    async def look():
        return await two.alookup(two.key(text.lower(), {}), bow(text.lower()), category="chemistry")

    hit = asyncio.run(look())
    assert hit is not None and hit.entry.category == "chemistry" and hit.entry.expires_at is not None
    assert hit.entry.response["choices"][0]["message"]["content"] == "100 °C"
    # the numbers guard also holds across replicas
    other = "What is the boiling point of water at 2000 m?"
    assert two.lookup(two.key(other, {}), bow(text)) is None
    one.close()
    two.close()
