"""MemoryStore and the numpy index: threshold, fingerprint isolation, TTL, LRU eviction."""

from __future__ import annotations

import numpy as np
import pytest

from sirp.cache.index import VectorIndex
from sirp.cache.memory import MemoryStore
from tests.unit.cache.helpers import FakeClock, axis, entry, mix


def test_threshold_decides_between_hit_and_miss() -> None:
    store = MemoryStore(10)
    store.put(entry("a", axis(0)))
    probe = mix(axis(0), axis(1), 0.93)
    hit = store.search(probe, "fp", 0.9)
    assert hit is not None and hit.entry.id == "a" and hit.similarity == pytest.approx(0.93, abs=1e-5)
    assert store.search(probe, "fp", 0.95) is None


def test_the_most_similar_entry_wins() -> None:
    store = MemoryStore(10)
    store.put(entry("near", mix(axis(0), axis(1), 0.99)))
    store.put(entry("far", mix(axis(0), axis(2), 0.91)))
    hit = store.search(axis(0), "fp", 0.9)
    assert hit is not None and hit.entry.id == "near"


def test_only_entries_of_the_same_fingerprint_can_answer() -> None:
    store = MemoryStore(10)
    store.put(entry("a", axis(0), fp="system-A"))
    assert store.search(axis(0), "system-B", 0.5) is None
    assert store.search(axis(0), "system-A", 0.5) is not None


def test_ttl_expires_entries_by_the_injected_clock() -> None:
    clock = FakeClock()
    store = MemoryStore(10, clock=clock)
    store.put(entry("a", axis(0), created=clock.now, ttl=60))
    clock.advance(59)
    assert store.search(axis(0), "fp", 0.9) is not None
    clock.advance(1)
    assert store.search(axis(0), "fp", 0.9) is None
    assert len(store) == 0  # dropped when found expired


def test_an_expired_best_match_gives_way_to_a_live_one() -> None:
    clock = FakeClock()
    store = MemoryStore(10, clock=clock)
    store.put(entry("old", axis(0), created=clock.now, ttl=10))
    store.put(entry("live", mix(axis(0), axis(1), 0.95), created=clock.now, ttl=1000))
    clock.advance(11)
    hit = store.search(axis(0), "fp", 0.9)
    assert hit is not None and hit.entry.id == "live"


def test_lru_evicts_the_least_recently_used_entry() -> None:
    store = MemoryStore(2)
    store.put(entry("a", axis(0)))
    store.put(entry("b", axis(1)))
    assert store.search(axis(0), "fp", 0.9) is not None  # a is now the most recently used
    store.put(entry("c", axis(2)))
    assert len(store) == 2
    assert store.get("b") is None and store.get("a") is not None and store.get("c") is not None


def test_eviction_takes_expired_entries_first() -> None:
    clock = FakeClock()
    store = MemoryStore(2, clock=clock)
    store.put(entry("short", axis(0), created=clock.now, ttl=5))
    store.put(entry("long", axis(1), created=clock.now))
    assert store.search(axis(0), "fp", 0.9) is not None  # 'short' is the most recently used...
    clock.advance(6)  # ...but expired by the time capacity runs out
    store.put(entry("new", axis(2), created=clock.now))
    assert store.get("long") is not None and store.get("new") is not None and len(store) == 2


def test_same_id_replaces_the_entry() -> None:
    store = MemoryStore(10)
    store.put(entry("a", axis(0), model="old"))
    store.put(entry("a", axis(0), model="new"))
    hit = store.search(axis(0), "fp", 0.9)
    assert len(store) == 1 and hit is not None and hit.entry.model == "new"


def test_accept_skips_to_the_next_candidate() -> None:
    store = MemoryStore(10)
    store.put(entry("best", axis(0), text="12 apples"))
    store.put(entry("second", mix(axis(0), axis(1), 0.95), text="15 apples"))
    hit = store.search(axis(0), "fp", 0.9, accept=lambda e: "15" in e.text)
    assert hit is not None and hit.entry.id == "second"
    assert store.search(axis(0), "fp", 0.9, accept=lambda e: False) is None


def test_remove_and_clear() -> None:
    store = MemoryStore(10)
    store.put(entry("a", axis(0)))
    store.put(entry("b", axis(1)))
    store.remove("a")
    store.remove("missing")  # no error
    assert store.search(axis(0), "fp", 0.9) is None and len(store) == 1
    store.clear()
    assert len(store) == 0 and store.search(axis(1), "fp", 0.9) is None


def test_bad_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryStore(0)


def test_index_grows_removes_and_rejects_other_dimensions() -> None:
    idx = VectorIndex()
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((50, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i, v in enumerate(vecs):
        idx.add(str(i), "fp", v)
    assert len(idx) == 50
    for i in range(0, 50, 2):
        idx.remove(str(i))
    for i in range(1, 50, 2):  # every survivor is still found exactly after the swaps
        best = idx.best(vecs[i], "fp")
        assert best is not None and best[0] == str(i) and best[1] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="16-value embeddings"):
        idx.add("x", "fp", np.ones(8, dtype=np.float32))
    assert idx.best(np.ones(8, dtype=np.float32), "fp") is None
    idx.add("1", "other-fp", vecs[1])  # moving an id to another fingerprint
    assert idx.best(vecs[1], "fp", exclude={"3"}) != ("1", pytest.approx(1.0))
    assert "1" in idx
