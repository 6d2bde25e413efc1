"""Where ``POST /v1/responses`` keeps its responses: for ``GET``, ``DELETE``, ``input_items`` and chaining.

Two stores behind one small async interface, both bounded (``server.responses``):

- :class:`MemoryResponseStore`: an LRU in this process, with a time to live. One replica only.
- :class:`RedisResponseStore`: every replica sees the same responses. Each response is one JSON
  value with the TTL as its expiry; a sorted set indexes them by time of storage so that the
  oldest go first once ``max_entries`` is reached.

A stored response carries its whole context (the items before its input, from the chain of
``previous_response_id``), so a chain stays usable when an earlier link has been evicted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["MemoryResponseStore", "RedisResponseStore", "ResponseStore", "StoredResponse"]


@dataclass(frozen=True)
class StoredResponse:
    """One stored response.

    Attributes:
        response: the Response object as it was returned (JSON).
        input_items: the request's own input items, each with an ``id``.
        history: the items before them: earlier inputs and outputs of the chain.
        owner: who created it (``user``, ``tenant``) when the access layer knew; only the same
            caller may read, delete or continue it. ``None``: anyone with its id.
    """

    response: dict[str, Any]
    input_items: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    owner: dict[str, str | None] | None = None

    @property
    def id(self) -> str:
        """The response's id."""
        return str(self.response["id"])

    def context(self) -> list[dict[str, Any]]:
        """Every item a response chained to this one continues from: history, input, then output."""
        return [*self.history, *self.input_items, *self.response.get("output", [])]

    def to_json(self) -> str:
        """Serialised for a shared store."""
        data = {
            "response": self.response,
            "input_items": self.input_items,
            "history": self.history,
            "owner": self.owner,
        }
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str | bytes) -> StoredResponse:
        """Read what :meth:`to_json` wrote."""
        data = json.loads(raw)
        return cls(
            response=data["response"],
            input_items=data["input_items"],
            history=data["history"],
            owner=data.get("owner"),
        )


class ResponseStore(Protocol):
    """A bounded store of responses, by id."""

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response, or ``None`` when unknown, expired or evicted."""

    async def put(self, record: StoredResponse) -> None:
        """Store (or replace) a response."""

    async def delete(self, response_id: str) -> bool:
        """Forget a response; ``False`` when there was none."""

    async def ping(self) -> bool:
        """Whether the store can be used now (for ``GET /ready``)."""

    async def aclose(self) -> None:
        """Release connections."""


class MemoryResponseStore:
    """Responses in this process: least recently used evicted past ``max_entries``, expired after ``ttl_s``.

    ``clock`` (seconds, monotonic) is injectable so that tests can move time without waiting.
    """

    def __init__(
        self, *, max_entries: int = 10_000, ttl_s: float = 86_400.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, StoredResponse]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response (it becomes the most recently used), or ``None``."""
        entry = self._items.get(response_id)
        if entry is None:
            return None
        expires, record = entry
        if self._clock() >= expires:
            del self._items[response_id]
            return None
        self._items.move_to_end(response_id)
        return record

    async def put(self, record: StoredResponse) -> None:
        """Store a response; the least recently used ones go past ``max_entries``."""
        self._items[record.id] = (self._clock() + self.ttl_s, record)
        self._items.move_to_end(record.id)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    async def delete(self, response_id: str) -> bool:
        """Forget a response."""
        return self._items.pop(response_id, None) is not None

    async def ping(self) -> bool:
        """Always usable."""
        return True

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisResponseStore:
    """Responses in Redis, shared by every replica; bounded by ``ttl_s`` and ``max_entries``.

    Keys: ``{prefix}{id}`` (the JSON, with the TTL as expiry) and ``{prefix}index`` (a sorted set
    of ids by time of storage). Reads refresh neither; the bound is approximate under races
    between replicas (a few extra entries until the next write trims them).
    """

    def __init__(
        self, url: str, *, max_entries: int = 10_000, ttl_s: float = 86_400.0, prefix: str = "sirp:response:"
    ) -> None:
        from sirp._imports import require

        aioredis = require("redis.asyncio", extra="server", purpose="A Redis response store")
        self._redis: Any = aioredis.Redis.from_url(url)
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._index = prefix + "index"

    def _key(self, response_id: str) -> str:
        return self.prefix + response_id

    async def get(self, response_id: str) -> StoredResponse | None:
        """The stored response, or ``None``."""
        raw = await self._redis.get(self._key(response_id))
        return None if raw is None else StoredResponse.from_json(raw)

    async def put(self, record: StoredResponse) -> None:
        """Store a response with its expiry; trim the oldest past ``max_entries``."""
        ttl_ms = max(1, int(self.ttl_s * 1000))
        now = time.time()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(record.id), record.to_json(), px=ttl_ms)
            pipe.zadd(self._index, {record.id: now})
            # entries whose value expired leave the index too
            pipe.zremrangebyscore(self._index, "-inf", now - self.ttl_s)
            pipe.zcard(self._index)
            *_, size = await pipe.execute()
        overflow = int(size) - self.max_entries
        if overflow > 0:
            oldest = await self._redis.zpopmin(self._index, overflow)
            if oldest:
                await self._redis.delete(*(self._key(i.decode() if isinstance(i, bytes) else i) for i, _ in oldest))

    async def delete(self, response_id: str) -> bool:
        """Forget a response."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(response_id))
            pipe.zrem(self._index, response_id)
            deleted, _ = await pipe.execute()
        return bool(deleted)

    async def ping(self) -> bool:
        """Whether Redis answers."""
        try:
            return bool(await asyncio.wait_for(self._redis.ping(), timeout=2.0))
        except Exception:  # any failure means "not ready"; /ready reports it, it must not raise
            return False

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._redis.aclose()
