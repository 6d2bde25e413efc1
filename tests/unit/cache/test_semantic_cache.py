"""SemanticCache: thresholds (global and per category), exclusions, the numbers guard, async, faults."""

from __future__ import annotations

import asyncio
import logging

import numpy as np
import pytest

from sirp.cache import CacheUnavailableError, MemoryStore, SemanticCache
from sirp.cache.store import CacheStore
from sirp.config.cache import CacheConfig
from sirp.errors import ConfigError
from tests.unit.cache.helpers import BowEncoder, FakeClock, axis, bow, mix, response


def make(**cfg) -> SemanticCache:
    return SemanticCache(CacheConfig(enabled=True, **cfg), encoder=BowEncoder())


def store_text(cache: SemanticCache, text: str, vector=None, category=None, **params):
    key = cache.key(text, params)
    return cache.put(key, bow(text) if vector is None else vector, response(text), model="small", category=category)


def test_a_reworded_request_hits_and_a_different_one_misses() -> None:
    cache = make(threshold=0.9)
    store_text(cache, "What is the capital of France?")
    hit = cache.lookup(cache.key("what is the CAPITAL of france", {}), bow("what is the CAPITAL of france"))
    assert (
        hit is not None and hit.entry.response["choices"][0]["message"]["content"] == "What is the capital of France?"
    )
    other = "Who wrote War and Peace?"
    assert cache.lookup(cache.key(other, {}), bow(other)) is None


def test_different_parameters_never_share_an_answer() -> None:
    cache = make()
    store_text(cache, "Tell me a joke", temperature=0.0)
    text = "Tell me a joke"
    assert cache.lookup(cache.key(text, {"temperature": 0.0}), bow(text)) is not None
    assert cache.lookup(cache.key(text, {"temperature": 1.0}), bow(text)) is None
    assert cache.lookup(cache.key(text, {"temperature": 0.0, "model": "large"}), bow(text)) is None


def test_per_category_thresholds_override_the_global_one() -> None:
    cache = make(threshold=0.9, category_thresholds={"math": 0.99})
    k = cache.key("q", {})
    cache.put(k, axis(0), response(), model="small", category="math")
    probe = mix(axis(0), axis(1), 0.95)
    assert cache.threshold("math") == 0.99 and cache.threshold("law") == 0.9 and cache.threshold(None) == 0.9
    assert cache.lookup(k, probe, category="math") is None
    assert cache.lookup(k, probe, category="law") is not None
    assert cache.lookup(k, mix(axis(0), axis(1), 0.995), category="math") is not None


def test_excluded_categories_are_neither_stored_nor_looked_up() -> None:
    cache = make(exclude_categories=["health"])
    k = cache.key("q", {})
    assert cache.put(k, axis(0), response(), model="small", category="health") is None
    assert len(cache) == 0
    cache.put(k, axis(0), response(), model="small", category="law")
    assert cache.lookup(k, axis(0), category="health") is None
    assert cache.lookup(k, axis(0), category="law") is not None


def test_numbers_guard_refuses_a_near_duplicate_with_another_number() -> None:
    guarded, loose = make(), make(match_numbers=False)
    for c in (guarded, loose):
        store_text(c, "What is 12 times 7?", vector=axis(0))
    probe_text = "What is 12 times 8?"
    assert guarded.lookup(guarded.key(probe_text, {}), axis(0)) is None
    assert loose.lookup(loose.key(probe_text, {}), axis(0)) is not None
    reordered = "Times 7, what is 12?"
    assert guarded.lookup(guarded.key(reordered, {}), axis(0)) is not None  # same numbers, other order


def test_ttl_and_entry_times_come_from_the_config_and_clock() -> None:
    clock = FakeClock()
    cache = SemanticCache(CacheConfig(enabled=True, ttl_s=30), encoder=BowEncoder(), clock=clock)
    e = store_text(cache, "hello there")
    assert e is not None and e.created_at == clock.now and e.expires_at == clock.now + 30
    clock.advance(31)
    assert cache.lookup(cache.key("hello there", {}), bow("hello there")) is None
    forever = SemanticCache(CacheConfig(enabled=True, ttl_s=None), encoder=BowEncoder(), clock=clock)
    e = store_text(forever, "hello there")
    assert e is not None and e.expires_at is None


def test_embed_uses_the_encoder_and_refuses_truncated_texts() -> None:
    enc = BowEncoder(max_words=3)
    cache = SemanticCache(CacheConfig(enabled=True), encoder=enc)
    v = cache.embed("short text")
    assert v is not None and np.allclose(v, bow("short text"))
    assert cache.embed("this text has too many words") is None
    with pytest.raises(ConfigError, match="no encoder"):
        SemanticCache(CacheConfig(enabled=True)).embed("x")


class DownStore(CacheStore):
    """A backend that is always down."""

    def search(self, vector, fingerprint, threshold, accept=None):
        raise CacheUnavailableError("connection refused")

    def put(self, entry):
        raise CacheUnavailableError("connection refused")

    def remove(self, entry_id):
        raise CacheUnavailableError("connection refused")

    def clear(self):
        raise CacheUnavailableError("connection refused")

    def __len__(self):
        return 0


def test_a_backend_that_is_down_reads_as_a_miss_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    cache = SemanticCache(CacheConfig(enabled=True), store=DownStore())
    k = cache.key("q", {})
    with caplog.at_level(logging.WARNING, logger="sirp.cache.semantic"):
        assert cache.lookup(k, axis(0)) is None
        assert cache.put(k, axis(0), response(), model="small") is None
        cache.remove("x")
    assert caplog.text.count("connection refused") == 3


def test_async_lookup_and_store() -> None:
    cache = make()

    async def run():
        k = cache.key("async question", {})
        stored = await cache.aput(k, bow("async question"), response(), model="small")
        hit = await cache.alookup(k, bow("question async"))
        return stored, hit

    stored, hit = asyncio.run(run())
    assert stored is not None and hit is not None and hit.entry.id == stored.id


def test_memory_backend_is_the_default_and_clear_empties_it() -> None:
    cache = make(max_entries=3)
    assert isinstance(cache.store, MemoryStore) and cache.store.max_entries == 3
    store_text(cache, "one")
    cache.clear()
    assert len(cache) == 0


def test_redis_url_from_an_unset_env_var_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIRP_TEST_REDIS_URL", raising=False)
    with pytest.raises(ConfigError, match="SIRP_TEST_REDIS_URL"):
        SemanticCache(CacheConfig(enabled=True, backend="redis", redis_url_env="SIRP_TEST_REDIS_URL"))


def test_negation_and_name_guards_can_be_switched_off() -> None:
    strict, loose = make(), make(match_negations=False, match_names=False)
    for c in (strict, loose):
        store_text(c, "Which claim would Leopold accept?", vector=axis(0))
    for probe in ("Which claim would Leopold not accept?", "Which claim would Singer accept?"):
        assert strict.lookup(strict.key(probe, {}), axis(0)) is None
        assert loose.lookup(loose.key(probe, {}), axis(0)) is not None
