"""Requests and tokens per minute: GCRA buckets, in this process or in Redis (shared by replicas).

The algorithm is GCRA (the generic cell rate algorithm, as in redis-cell and many API
gateways): a token bucket of ``limit`` units that refills continuously at ``limit`` per
minute, stored as one number per bucket, its *theoretical arrival time* (TAT). It behaves as
a sliding window: there is no boundary at which a caller may burst twice its limit, as with
fixed windows, and the state is a single key per bucket. A request of cost ``c``::

    emission = 60 s / limit              tat = max(stored_tat, now)
    admitted  iff  tat + min(c, limit) · emission − now ≤ 60 s
    then stored_tat = tat + c · emission

``remaining`` is what the bucket holds afterwards, ``reset`` the time until it is full again
(OpenAI's ``x-ratelimit-reset-*`` meaning), ``retry_after`` the time until a refused request
would fit. A cost above the whole limit (a huge token estimate) is admitted only into a full
bucket and then leaves it in debt. Several buckets (the user's and the tenant's, requests and
tokens) are checked and charged together, all or nothing: in Redis by one Lua script, whose
clock is the Redis server's (``TIME``), so replicas with skewed clocks still agree.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["WINDOW_S", "Bucket", "Limiter", "MemoryLimiter", "RedisLimiter", "Verdict"]

#: The period the limits are expressed in: requests and tokens per minute.
WINDOW_S = 60.0
_WINDOW_MS = WINDOW_S * 1000


@dataclass(frozen=True)
class Bucket:
    """One limit to check and charge: its key, its size per minute and what this request costs."""

    key: str
    limit: int
    cost: int

    @property
    def emission_ms(self) -> float:
        """Milliseconds one unit takes to refill."""
        return _WINDOW_MS / self.limit


@dataclass(frozen=True)
class Verdict:
    """The outcome for one bucket (``admitted`` is the same for every bucket of one call)."""

    bucket: Bucket
    admitted: bool
    remaining: int
    reset_s: float
    retry_after_s: float


class Limiter(Protocol):
    """Where the buckets live."""

    async def acquire(self, buckets: Sequence[Bucket]) -> list[Verdict]:
        """Check every bucket; charge them all when every one admits, none otherwise."""

    async def adjust(self, buckets: Sequence[Bucket]) -> None:
        """Charge ``cost`` more (or give back, when negative) without a check: usage known afterwards."""

    async def aclose(self) -> None:
        """Release connections."""


def _verdict(b: Bucket, tat: float, now: float, admitted: bool) -> Verdict:
    """The verdict for ``b`` whose bucket stands at ``tat`` (after the charge when admitted)."""
    e = b.emission_ms
    check = min(b.cost, b.limit)
    ahead = max(0.0, tat - now)
    return Verdict(
        bucket=b,
        admitted=admitted,
        remaining=max(0, math.floor((_WINDOW_MS - ahead) / e + 1e-9)),
        reset_s=ahead / 1000,
        retry_after_s=0.0 if admitted else max(0.0, tat + check * e - _WINDOW_MS - now) / 1000,
    )


class MemoryLimiter:
    """Buckets in this process: right for one replica (or tests); each replica counts on its own.

    Args:
        clock: monotonic seconds; tests pass a fake one to let the buckets refill.
        max_keys: stale buckets (full again) are dropped once this many are held.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def _now(self) -> float:
        return self.clock() * 1000

    async def acquire(self, buckets: Sequence[Bucket]) -> list[Verdict]:
        """See :meth:`Limiter.acquire`."""
        with self._lock:
            now = self._now()
            tats = [max(self._tat.get(b.key, now), now) for b in buckets]
            admitted = all(
                t + min(b.cost, b.limit) * b.emission_ms - now <= _WINDOW_MS for b, t in zip(buckets, tats, strict=True)
            )
            if admitted:
                tats = [t + b.cost * b.emission_ms for b, t in zip(buckets, tats, strict=True)]
                for b, t in zip(buckets, tats, strict=True):
                    self._tat[b.key] = t
                if len(self._tat) > self.max_keys:
                    self._tat = {k: v for k, v in self._tat.items() if v > now}
            return [_verdict(b, t, now, admitted) for b, t in zip(buckets, tats, strict=True)]

    async def adjust(self, buckets: Sequence[Bucket]) -> None:
        """See :meth:`Limiter.adjust`."""
        with self._lock:
            now = self._now()
            for b in buckets:
                self._tat[b.key] = max(self._tat.get(b.key, now), now) + b.cost * b.emission_ms

    async def aclose(self) -> None:
        """Nothing to release."""


# KEYS: the buckets. ARGV: the window in ms, then per bucket: emission ms, check cost, charge cost.
# Returns: admitted (1/0), then per bucket: the TAT after the call and "now", as strings (Lua
# numbers would be truncated to integers on the way out).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local window = tonumber(ARGV[1])
local tats = {}
local admitted = 1
for i, key in ipairs(KEYS) do
  local e = tonumber(ARGV[2 + (i - 1) * 3])
  local check = tonumber(ARGV[3 + (i - 1) * 3])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tats[i] = tat
  if tat + check * e - now > window then admitted = 0 end
end
local out = {admitted, string.format('%.3f', now)}
for i, key in ipairs(KEYS) do
  local e = tonumber(ARGV[2 + (i - 1) * 3])
  local charge = tonumber(ARGV[4 + (i - 1) * 3])
  local tat = tats[i]
  if admitted == 1 then
    tat = tat + charge * e
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
  end
  out[#out + 1] = string.format('%.3f', tat)
end
return out
"""

# KEYS: the buckets. ARGV: per bucket: emission ms, cost (may be negative).
_ADJUST = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
for i, key in ipairs(KEYS) do
  local e = tonumber(ARGV[1 + (i - 1) * 2])
  local cost = tonumber(ARGV[2 + (i - 1) * 2])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  tat = tat + cost * e
  if tat > now then
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
  else
    redis.call('DEL', key)
  end
end
return 1
"""


class RedisLimiter:
    """Buckets in Redis, shared by every replica; one Lua script per admission, so checks are atomic.

    Args:
        url: ``redis://...`` (it may carry a password; it is never logged).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._acquire: Any = None
        self._adjust: Any = None

    def _scripts(self) -> tuple[Any, Any]:
        if self._client is None:
            from sirp._imports import require

            redis_asyncio = require("redis.asyncio", extra="server", purpose="Rate limits shared in Redis")
            # The client connects on first use, from the event loop that uses it.
            self._client = redis_asyncio.Redis.from_url(self.url)
            self._acquire = self._client.register_script(_ACQUIRE)
            self._adjust = self._client.register_script(_ADJUST)
        return self._acquire, self._adjust

    async def acquire(self, buckets: Sequence[Bucket]) -> list[Verdict]:
        """See :meth:`Limiter.acquire`."""
        script, _ = self._scripts()
        args: list[float | int] = [_WINDOW_MS]
        for b in buckets:
            args += [b.emission_ms, min(b.cost, b.limit), b.cost]
        out = await script(keys=[b.key for b in buckets], args=args)
        admitted, now = bool(int(out[0])), float(out[1])
        return [_verdict(b, float(t), now, admitted) for b, t in zip(buckets, out[2:], strict=True)]

    async def adjust(self, buckets: Sequence[Bucket]) -> None:
        """See :meth:`Limiter.adjust`."""
        if not buckets:
            return
        _, script = self._scripts()
        args: list[float | int] = []
        for b in buckets:
            args += [b.emission_ms, b.cost]
        await script(keys=[b.key for b in buckets], args=args)

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
