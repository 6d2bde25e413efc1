"""Shared pieces of the cache unit tests: a fake clock, entries, and a bag-of-words encoder."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from sirp.cache.entry import CacheEntry, unit_vector

DIM = 64


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def bow(text: str, dim: int = DIM) -> np.ndarray:
    """Bag-of-words embedding: the same words in any order or case give the same vector."""
    v = np.zeros(dim, dtype=np.float32)
    for w in re.findall(r"[a-z0-9]+", text.lower()):
        v[zlib.crc32(w.encode()) % dim] += 1.0
    return unit_vector(v) if v.any() else unit_vector(np.ones(dim))


class BowEncoder:
    """A :class:`~sirp.cache.encoder.TextEncoder` over :func:`bow`; texts longer than ``max_words`` are 'truncated'."""

    def __init__(self, max_words: int = 1000) -> None:
        self.max_words = max_words
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        return np.stack([bow(t) for t in texts]), np.array([len(t.split()) > self.max_words for t in texts])


def response(content: str = "42", model: str = "small") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }


def entry(
    entry_id: str,
    vector: Any,
    *,
    fp: str = "fp",
    text: str = "q",
    created: float = 1_000_000.0,
    ttl: float | None = None,
    model: str = "small",
) -> CacheEntry:
    return CacheEntry(
        id=entry_id,
        fingerprint=fp,
        text=text,
        vector=unit_vector(vector),
        response=response(model=model),
        model=model,
        category=None,
        created_at=created,
        expires_at=None if ttl is None else created + ttl,
    )


def axis(i: int, dim: int = DIM) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def mix(a: np.ndarray, b: np.ndarray, cos: float) -> np.ndarray:
    """A unit vector at cosine ``cos`` from unit vector ``a`` (``b`` orthogonal to ``a``)."""
    return unit_vector(cos * a + np.sqrt(1 - cos**2) * b)
