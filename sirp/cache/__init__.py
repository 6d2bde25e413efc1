"""Semantic cache: answer a repeated request from an earlier answer, in memory or in Redis.

A request's key is the normalised last user turn (compared by embedding similarity) plus an
exact fingerprint of everything else that shapes the answer (model pin, system prompt, earlier
turns, tools, sampling parameters). Enable it with ``cache: {enabled: true}`` in the router
config; ``SemanticRouter.complete/acomplete/stream/astream`` then look up before calling a
model and store complete answers. See ``docs/cache.md``.

``redis`` is imported only when a :class:`RedisStore` is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sirp.cache.entry import CacheEntry, CacheHit, CacheOutcome, unit_vector
from sirp.cache.index import VectorIndex
from sirp.cache.keys import CacheKey, fingerprint, normalise, request_key
from sirp.cache.memory import MemoryStore
from sirp.cache.semantic import SemanticCache, make_store
from sirp.cache.store import CacheStore, CacheUnavailableError

if TYPE_CHECKING:
    from sirp.cache.encoder import FolderEncoder
    from sirp.cache.redis_store import RedisStore

__all__ = [
    "CacheEntry",
    "CacheHit",
    "CacheKey",
    "CacheOutcome",
    "CacheStore",
    "CacheUnavailableError",
    "FolderEncoder",
    "MemoryStore",
    "RedisStore",
    "SemanticCache",
    "VectorIndex",
    "fingerprint",
    "make_store",
    "normalise",
    "request_key",
    "unit_vector",
]

_LAZY = {"RedisStore": "sirp.cache.redis_store", "FolderEncoder": "sirp.cache.encoder"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sirp.cache' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
