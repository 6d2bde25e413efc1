"""``SemanticCache``: keys, thresholds and a store, with sync and async lookups.

A lookup takes a request's :class:`~sirp.cache.CacheKey` and the embedding of its last user
turn; it returns the most similar live entry with the same fingerprint whose similarity reaches
the threshold of the request's category. Backend failures (Redis down) are logged and read as
misses: no request fails because the cache did.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from sirp.cache.encoder import FolderEncoder, TextEncoder
from sirp.cache.entry import CacheEntry, CacheHit, Clock, unit_vector
from sirp.cache.keys import CacheKey, request_key, same_details
from sirp.cache.memory import MemoryStore
from sirp.cache.store import CacheStore, CacheUnavailableError
from sirp.config.cache import CacheConfig
from sirp.errors import ConfigError

__all__ = ["SemanticCache", "make_store"]

logger = logging.getLogger(__name__)


def make_store(config: CacheConfig, *, clock: Clock = time.time) -> CacheStore:
    """The store ``config.backend`` names (Redis is imported only here, when asked for)."""
    if config.backend == "memory":
        return MemoryStore(config.max_entries, clock=clock)
    url = config.redis_url
    if config.redis_url_env is not None:
        url = os.environ.get(config.redis_url_env, "")
        if not url:
            raise ConfigError(
                f"cache.redis_url_env names {config.redis_url_env}, which is not set; export the Redis URL in it"
            )
    from sirp.cache.redis_store import RedisStore

    return RedisStore(
        url,
        namespace=config.namespace,
        max_entries=config.max_entries,
        sync_interval_s=config.sync_interval_s,
        clock=clock,
    )


class SemanticCache:
    """Answers repeated requests: exact fingerprint, similar last user turn, within TTL.

    Args:
        config: thresholds, TTL, capacity, backend (``cache:`` of the router config).
        store: where entries live (default: the one ``config.backend`` names).
        encoder: embeds texts for :meth:`embed` (default: ``config.encoder``'s folder, if any;
            the router passes its own classifier embeddings instead when it has none).
        clock: seconds since the epoch, for TTL (tests move it forward).
    """

    def __init__(
        self,
        config: CacheConfig | None = None,
        *,
        store: CacheStore | None = None,
        encoder: TextEncoder | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.config = config if config is not None else CacheConfig(enabled=True)
        self.clock = clock
        self.store = store if store is not None else make_store(self.config, clock=clock)
        if encoder is None and self.config.encoder is not None:
            encoder = FolderEncoder(self.config.encoder)
        self.encoder = encoder
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        #: Backend failures (e.g. Redis down) by operation; each was logged and served as a miss.
        #: ``sirp serve`` exports them as ``sirp_cache_backend_errors_total``.
        self.backend_errors: dict[str, int] = {"lookup": 0, "store": 0, "remove": 0}

    def __len__(self) -> int:
        return len(self.store)

    # -- keys and embeddings -------------------------------------------------------------------

    def key(self, messages: Any, params: Mapping[str, Any]) -> CacheKey:
        """The key of a request (see :func:`~sirp.cache.request_key`), honouring ``fingerprint_ignore``."""
        return request_key(messages, params, ignore=self.config.fingerprint_ignore)

    def embed(self, text: str) -> np.ndarray | None:
        """The encoder's embedding of ``text``; ``None`` when it had to be truncated (never cached).

        Raises:
            ConfigError: no encoder (the router passes its own embeddings instead).
        """
        if self.encoder is None:
            raise ConfigError("this cache has no encoder: pass embeddings to lookup()/put(), or set cache.encoder")
        vectors, truncated = self.encoder.encode([text])
        return None if bool(truncated[0]) else vectors[0]

    def submit_embed(self, text: str) -> Future[np.ndarray | None]:
        """:meth:`embed` in a worker thread, so that a separate encoder runs while the router classifies.

        ONNX Runtime releases the GIL, so the two passes overlap on two cores.
        """
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sirp-cache-embed")
            return self._pool.submit(self.embed, text)

    def applies(self, category: str | None) -> bool:
        """Whether requests of ``category`` may use the cache (not in ``exclude_categories``)."""
        return category is None or category not in self.config.exclude_categories

    def threshold(self, category: str | None) -> float:
        """The similarity threshold for ``category`` (``category_thresholds``, else ``threshold``)."""
        return self.config.threshold_for(category)

    # -- lookup and store ----------------------------------------------------------------------

    def lookup(self, key: CacheKey, vector: Any, *, category: str | None = None) -> CacheHit | None:
        """The cached answer for ``key``, or ``None`` (also when the backend is down: logged)."""
        if not self.applies(category):
            return None
        cfg = self.config
        accept = None
        if cfg.match_numbers or cfg.match_negations or cfg.match_names:

            def accept(entry: CacheEntry) -> bool:
                return same_details(
                    key.text,
                    entry.text,
                    match_numbers=cfg.match_numbers,
                    match_negations=cfg.match_negations,
                    match_names=cfg.match_names,
                )

        try:
            return self.store.search(unit_vector(vector), key.fingerprint, self.threshold(category), accept)
        except CacheUnavailableError as err:
            self.backend_errors["lookup"] += 1
            logger.warning("semantic cache lookup skipped: %s", err)
            return None

    def put(
        self, key: CacheKey, vector: Any, response: Mapping[str, Any], *, model: str, category: str | None = None
    ) -> CacheEntry | None:
        """Store an answer (the completion as JSON) for ``key``; ``None`` when not stored."""
        if not self.applies(category):
            return None
        now = self.clock()
        ttl = self.config.ttl_s
        entry = CacheEntry(
            id=key.id,
            fingerprint=key.fingerprint,
            text=key.text,
            vector=unit_vector(vector),
            response=dict(response),
            model=model,
            category=category,
            created_at=now,
            expires_at=None if ttl is None else now + ttl,
        )
        try:
            self.store.put(entry)
        except CacheUnavailableError as err:
            self.backend_errors["store"] += 1
            logger.warning("semantic cache store skipped: %s", err)
            return None
        return entry

    def remove(self, entry_id: str) -> None:
        """Drop one entry (e.g. one whose answer no longer parses)."""
        try:
            self.store.remove(entry_id)
        except CacheUnavailableError as err:
            self.backend_errors["remove"] += 1
            logger.warning("semantic cache remove skipped: %s", err)

    async def alookup(self, key: CacheKey, vector: Any, *, category: str | None = None) -> CacheHit | None:
        """Async :meth:`lookup` (the scan and any Redis round trip run in a worker thread)."""
        return await asyncio.to_thread(self.lookup, key, vector, category=category)

    async def aput(
        self, key: CacheKey, vector: Any, response: Mapping[str, Any], *, model: str, category: str | None = None
    ) -> CacheEntry | None:
        """Async :meth:`put`."""
        return await asyncio.to_thread(self.put, key, vector, response, model=model, category=category)

    def clear(self) -> None:
        """Drop every entry (in Redis: every replica's)."""
        self.store.clear()

    def close(self) -> None:
        """Release the store's connections, the embedding threads and the encoder."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        self.store.close()
        close = getattr(self.encoder, "close", None)
        if callable(close):
            close()
