"""The store protocol every cache backend implements, and its error."""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import TracebackType

import numpy as np

from sirp.cache.entry import CacheEntry, CacheHit
from sirp.errors import SirpError

__all__ = ["Accept", "CacheStore", "CacheUnavailableError"]

#: Extra check a candidate entry must pass to be returned (e.g. same numbers in both texts).
Accept = Callable[[CacheEntry], bool]

#: Candidates a lookup tries before it gives up, when the best ones turn out to be gone
#: (expired, evicted by another replica, or corrupt).
MAX_CANDIDATES = 8


class CacheUnavailableError(SirpError):
    """The cache's backend could not be reached or failed (e.g. Redis is down).

    The router logs it and serves the request without the cache; only direct callers of a
    store see it.
    """


class CacheStore(abc.ABC):
    """Where entries live: exact-fingerprint, nearest-vector lookup, TTL and LRU eviction.

    Implementations must be safe to call from several threads at once.
    """

    @abc.abstractmethod
    def search(
        self, vector: np.ndarray, fingerprint: str, threshold: float, accept: Accept | None = None
    ) -> CacheHit | None:
        """The most similar live entry under ``fingerprint`` with similarity ≥ ``threshold`` that ``accept`` takes.

        A hit counts as a use for LRU eviction.
        """

    @abc.abstractmethod
    def put(self, entry: CacheEntry) -> None:
        """Store ``entry`` (replacing one with the same id); evict the least recently used beyond capacity."""

    @abc.abstractmethod
    def remove(self, entry_id: str) -> None:
        """Drop one entry (no error when it is not there)."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Drop every entry."""

    @abc.abstractmethod
    def __len__(self) -> int:
        """Entries held (expired ones not yet dropped may count)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    def __enter__(self) -> CacheStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
