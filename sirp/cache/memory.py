"""In-process cache store: entries in a dict, vectors in a numpy index, LRU order, TTL by clock."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

import numpy as np

from sirp.cache.entry import CacheEntry, CacheHit, Clock
from sirp.cache.index import VectorIndex
from sirp.cache.store import MAX_CANDIDATES, Accept, CacheStore

__all__ = ["MemoryStore"]


class MemoryStore(CacheStore):
    """Entries of this process only (lost on restart; use :class:`~sirp.cache.RedisStore` to share).

    Args:
        max_entries: most entries kept; beyond it the least recently used (stored or hit) go.
        clock: seconds since the epoch; entries whose ``expires_at`` has passed are never returned.
    """

    def __init__(self, max_entries: int = 10_000, *, clock: Clock = time.time) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be ≥ 1, got {max_entries}")
        self.max_entries = max_entries
        self.clock = clock
        self._index = VectorIndex()
        # Least recently used first; moved to the end on every store and hit.
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def search(
        self, vector: np.ndarray, fingerprint: str, threshold: float, accept: Accept | None = None
    ) -> CacheHit | None:
        """See :meth:`CacheStore.search`."""
        now = self.clock()
        with self._lock:
            skip: set[str] = set()
            for _ in range(MAX_CANDIDATES):
                best = self._index.best(vector, fingerprint, exclude=skip)
                if best is None or best[1] < threshold:
                    return None
                entry = self._entries[best[0]]
                if entry.expired(now):
                    self._drop(entry.id)
                    continue
                if accept is not None and not accept(entry):
                    skip.add(entry.id)
                    continue
                self._entries.move_to_end(entry.id)
                return CacheHit(entry=entry, similarity=best[1])
        return None

    def put(self, entry: CacheEntry) -> None:
        """See :meth:`CacheStore.put`."""
        with self._lock:
            self._index.add(entry.id, entry.fingerprint, entry.vector)
            self._entries[entry.id] = entry
            self._entries.move_to_end(entry.id)
            if len(self._entries) > self.max_entries:
                self._evict()

    def _evict(self) -> None:
        # Expired entries go before live ones, however recently they were used.
        now = self.clock()
        for entry_id in [e.id for e in self._entries.values() if e.expired(now)]:
            self._drop(entry_id)
        while len(self._entries) > self.max_entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, entry_id: str) -> None:
        self._entries.pop(entry_id, None)
        self._index.remove(entry_id)

    def remove(self, entry_id: str) -> None:
        """See :meth:`CacheStore.remove`."""
        with self._lock:
            self._drop(entry_id)

    def clear(self) -> None:
        """See :meth:`CacheStore.clear`."""
        with self._lock:
            self._entries.clear()
            self._index.clear()

    def get(self, entry_id: str) -> CacheEntry | None:
        """The entry with this id, if it is held and not expired (no LRU update)."""
        with self._lock:
            entry = self._entries.get(entry_id)
        return None if entry is None or entry.expired(self.clock()) else entry
