"""One cached answer and the result of a lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["CacheEntry", "CacheHit", "CacheOutcome", "Clock", "unit_vector"]

#: What the cache did for one request (``RoutedCompletion.cache``).
CacheOutcome = Literal["hit", "miss", "refresh", "bypass"]

#: Seconds since the epoch (``time.time``); tests pass a fake one to move time forward.
Clock = Callable[[], float]


def unit_vector(vector: Any) -> np.ndarray:
    """``vector`` as a flat float32 array of length 1 (cosine similarity becomes a dot product).

    Raises:
        ValueError: the vector is empty, not finite, or all zeros.
    """
    v = np.asarray(vector, dtype=np.float32).ravel()
    norm = float(np.linalg.norm(v)) if v.size else 0.0
    if not np.isfinite(norm) or norm == 0.0:
        raise ValueError("an embedding must be a non-empty, finite, non-zero vector")
    out: np.ndarray = v / norm
    return out


@dataclass(frozen=True)
class CacheEntry:
    """A stored answer: what it answered (key and embedding) and the answer itself."""

    id: str
    """:attr:`CacheKey.id` of the request it answered"""
    fingerprint: str
    text: str
    """the normalised last user turn"""
    vector: np.ndarray
    """unit-length embedding of ``text``"""
    response: dict[str, Any]
    """the chat completion as JSON (``ChatCompletion.model_dump(mode="json")``)"""
    model: str
    """the model that answered"""
    category: str | None
    created_at: float
    expires_at: float | None
    """clock time after which the entry is gone; ``None``: until evicted"""

    def expired(self, now: float) -> bool:
        """Whether the entry's time to live has run out at ``now``."""
        return self.expires_at is not None and now >= self.expires_at


@dataclass(frozen=True)
class CacheHit:
    """A lookup that found an answer."""

    entry: CacheEntry
    similarity: float
    """cosine similarity between the request's last user turn and the entry's"""
