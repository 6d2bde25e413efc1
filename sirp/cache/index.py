"""Exact nearest-neighbour search over unit vectors, one partition per fingerprint (numpy).

Only entries with the request's exact fingerprint can answer it, so each fingerprint has its own
matrix and a lookup scores that one alone: one matrix-vector product, exact, no tuning. At 100k
entries of 384 floats in a single partition (the worst case: every request shares one system
prompt and one set of parameters) that is one ~150 MB scan, a few milliseconds on one core
(``sirp bench cache`` measures it) — small next to the model call a hit saves, so an approximate
index (HNSW) is not worth its recall loss, build cost and delete handling here. Not thread-safe:
the stores lock around it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["VectorIndex"]


class _Partition:
    """Rows of one fingerprint: a growable matrix, swap-with-last removal."""

    def __init__(self, dim: int) -> None:
        self.vectors = np.zeros((8, dim), dtype=np.float32)
        self.ids: list[str] = []
        self.row: dict[str, int] = {}

    def add(self, entry_id: str, vector: np.ndarray) -> None:
        at = self.row.get(entry_id)
        if at is None:
            at = len(self.ids)
            if at == len(self.vectors):  # double the capacity: amortised O(1) appends
                grown = np.zeros((2 * len(self.vectors), self.vectors.shape[1]), dtype=np.float32)
                grown[:at] = self.vectors
                self.vectors = grown
            self.ids.append(entry_id)
            self.row[entry_id] = at
        self.vectors[at] = vector

    def remove(self, entry_id: str) -> None:
        at = self.row.pop(entry_id)
        last = len(self.ids) - 1
        if at != last:
            moved = self.ids[last]
            self.vectors[at] = self.vectors[last]
            self.ids[at] = moved
            self.row[moved] = at
        self.ids.pop()

    def best(self, query: np.ndarray, exclude: set[str]) -> tuple[str, float] | None:
        n = len(self.ids)
        if n == 0:
            return None
        sims = self.vectors[:n] @ query
        for i in exclude:
            at = self.row.get(i)
            if at is not None:
                sims[at] = -np.inf
        j = int(np.argmax(sims))
        if not np.isfinite(sims[j]):
            return None
        return self.ids[j], float(sims[j])


class VectorIndex:
    """Unit vectors by entry id, searched within one fingerprint at a time."""

    def __init__(self) -> None:
        self._parts: dict[str, _Partition] = {}
        self._fp: dict[str, str] = {}
        self.dim: int | None = None

    def __len__(self) -> int:
        return len(self._fp)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._fp

    def add(self, entry_id: str, fingerprint: str, vector: np.ndarray) -> None:
        """Add or replace an entry's vector (unit length, float32).

        Raises:
            ValueError: the vector's length differs from the index's (a different encoder).
        """
        if self.dim is None:
            self.dim = int(vector.shape[0])
        elif vector.shape[0] != self.dim:
            raise ValueError(
                f"embedding has {vector.shape[0]} values but the cache holds {self.dim}-value embeddings; "
                "clear the cache after changing cache.encoder"
            )
        old = self._fp.get(entry_id)
        if old is not None and old != fingerprint:
            self.remove(entry_id)
        part = self._parts.get(fingerprint)
        if part is None:
            part = self._parts[fingerprint] = _Partition(self.dim)
        part.add(entry_id, vector)
        self._fp[entry_id] = fingerprint

    def remove(self, entry_id: str) -> None:
        """Drop an entry (no error when it is not there)."""
        fp = self._fp.pop(entry_id, None)
        if fp is None:
            return
        part = self._parts[fp]
        part.remove(entry_id)
        if not part.ids:
            del self._parts[fp]

    def best(self, query: np.ndarray, fingerprint: str, *, exclude: set[str] | None = None) -> tuple[str, float] | None:
        """The most similar entry under ``fingerprint`` (id, cosine similarity), skipping ``exclude``."""
        part = self._parts.get(fingerprint)
        if part is None or (self.dim is not None and query.shape[0] != self.dim):
            return None
        return part.best(query, exclude or set())

    def clear(self) -> None:
        """Drop every entry."""
        self._parts.clear()
        self._fp.clear()
        self.dim = None
