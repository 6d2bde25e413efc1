"""Redis cache store: one cache shared by every router replica, on a plain ``redis-server``.

Debian's redis-server 7.0 has no vector search (RediSearch is a separate module), so Redis holds
the entries and each replica keeps a local numpy index of their vectors:

- ``<ns>:e:<id>``: a hash per entry (fingerprint, text, vector, answer JSON, model, category,
  times), with Redis's own TTL (``PEXPIRE``);
- ``<ns>:lru``: a sorted set of entry ids by last use, for LRU eviction past ``max_entries``;
- ``<ns>:log``: a stream of changes (put with fingerprint and vector, delete, clear), each with a
  number from ``<ns>:seq``; writes are Lua scripts, so an entry, its LRU score and its log record
  change together.

A replica loads every entry once (``SCAN``), then before a lookup reads the log records it has
not seen (``XREAD``, one round trip; at most every ``sync_interval_s``) and searches its local
index; on a candidate it fetches the answer (``HGETALL``) and bumps its LRU score in the same
round trip. A gap in the record numbers (the log is capped) makes the replica reload. Entries
that expired are dropped locally by their expiry time; entries evicted or deleted by another
replica disappear through the log, or when a fetch finds them gone.

Trade-off: every replica holds every vector in memory (100k × 384 floats ≈ 150 MB) and a
lookup costs one or two round trips; in exchange, search is exact and needs no Redis module.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import numpy as np

from sirp._imports import require
from sirp.cache.entry import CacheEntry, CacheHit, Clock
from sirp.cache.index import VectorIndex
from sirp.cache.store import MAX_CANDIDATES, Accept, CacheStore, CacheUnavailableError

__all__ = ["RedisStore"]

logger = logging.getLogger(__name__)

# KEYS: entry, lru, log, seq. ARGV: id, now_ms, ttl_ms (0: none), max_entries, log_maxlen,
# entry key prefix, fingerprint, vector, expires, then the entry's hash fields and values.
_PUT = """
local id, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cap, maxlen, prefix = tonumber(ARGV[4]), ARGV[5], ARGV[6]
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  -- unused for longer than the TTL means expired: such ids must not count towards capacity
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - ttl))
end
redis.call('ZADD', KEYS[2], now, id)
local seq = redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'op', 'put', 'seq', seq, 'id', id,
           'fp', ARGV[7], 'vec', ARGV[8], 'exp', ARGV[9])
local evicted = {}
local n = redis.call('ZCARD', KEYS[2])
if n > cap then
  local gone = redis.call('ZPOPMIN', KEYS[2], n - cap)
  for i = 1, #gone, 2 do
    redis.call('DEL', prefix .. gone[i])
    seq = redis.call('INCR', KEYS[4])
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', maxlen, '*', 'op', 'del', 'seq', seq, 'id', gone[i])
    evicted[#evicted + 1] = gone[i]
  end
end
return evicted
"""

# KEYS: entry, lru, log, seq. ARGV: id, log_maxlen.
_DEL = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local seq = redis.call('INCR', KEYS[4])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'op', 'del', 'seq', seq, 'id', ARGV[1])
return seq
"""

_FIELDS = (b"fp", b"text", b"vec", b"resp", b"model", b"cat", b"created", b"exp")


def _str(value: bytes | None) -> str:
    return value.decode("utf-8") if value is not None else ""


class RedisStore(CacheStore):
    """Entries in Redis, shared by every replica that uses the same URL and namespace.

    Args:
        url: ``redis://host:port/db`` (``rediss://`` for TLS).
        namespace: prefix of every key.
        max_entries: most entries across all replicas; the least recently used go first.
        sync_interval_s: least time between reads of other replicas' changes (0: every lookup).
        clock: seconds since the epoch (entry times, LRU scores, local expiry checks).
        socket_timeout_s: a Redis call slower than this fails, and the request goes on uncached.
        client: an existing ``redis.Redis`` (binary responses) instead of ``url``.

    A Redis that cannot be reached at start is logged, and the entries are loaded on the first
    call that reaches it; until then every call raises :class:`CacheUnavailableError` (the
    router reads it as a miss).
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "sirp:cache",
        max_entries: int = 10_000,
        sync_interval_s: float = 0.0,
        clock: Clock = time.time,
        socket_timeout_s: float = 0.5,
        client: Any = None,
    ) -> None:
        redis = require("redis", extra="cache", purpose="The Redis semantic cache")
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self._r = client or redis.Redis.from_url(
            url, socket_timeout=socket_timeout_s, socket_connect_timeout=socket_timeout_s
        )
        self.namespace = namespace
        self.max_entries = max_entries
        self.sync_interval_s = sync_interval_s
        self.clock = clock
        self._prefix = f"{namespace}:e:"
        self._lru = f"{namespace}:lru"
        self._log = f"{namespace}:log"
        self._seq_key = f"{namespace}:seq"
        self._log_maxlen = max(1000, 2 * max_entries)
        self._put = self._r.register_script(_PUT)
        self._del = self._r.register_script(_DEL)
        self._lock = threading.RLock()
        self._index = VectorIndex()
        self._expires: dict[str, float | None] = {}
        self._seq = 0
        self._last_id: bytes | str = "0-0"
        self._synced_at = -float("inf")
        self._loaded = False
        try:
            self._call(self._reload)
        except CacheUnavailableError as err:
            logger.warning("semantic cache: %s; entries load once Redis answers", err)

    # -- plumbing ------------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._errors as err:
            raise CacheUnavailableError(f"Redis at {self.namespace!r} failed: {type(err).__name__}: {err}") from err

    def _local_put(self, entry_id: str, fp: str, vec: bytes, exp: str) -> None:
        self._index.add(entry_id, fp, np.frombuffer(vec, dtype=np.float32).copy())
        self._expires[entry_id] = float(exp) if exp else None

    def _local_drop(self, entry_id: str) -> None:
        self._index.remove(entry_id)
        self._expires.pop(entry_id, None)

    def _reload(self) -> None:
        """Load every entry's vector; later changes come from the log."""
        with self._lock:
            pipe = self._r.pipeline(transaction=True)
            pipe.get(self._seq_key)
            pipe.xrevrange(self._log, count=1)
            seq, last = pipe.execute()
            self._index.clear()
            self._expires.clear()
            keys = list(self._r.scan_iter(match=self._prefix + "*", count=1000))
            for start in range(0, len(keys), 500):
                pipe = self._r.pipeline(transaction=False)
                for k in keys[start : start + 500]:
                    pipe.hmget(k, b"fp", b"vec", b"exp")
                for k, (fp, vec, exp) in zip(keys[start : start + 500], pipe.execute(), strict=True):
                    if fp is not None and vec is not None:
                        self._local_put(_str(k)[len(self._prefix) :], _str(fp), vec, _str(exp))
            self._seq = int(seq or 0)
            self._last_id = last[0][0] if last else "0-0"
            self._synced_at = time.monotonic()
            self._loaded = True

    def _sync(self) -> None:
        """Apply the log records this replica has not seen yet."""
        if not self._loaded:
            self._reload()
            return
        if time.monotonic() - self._synced_at < self.sync_interval_s:
            return
        with self._lock:
            while True:
                reply = self._r.xread({self._log: self._last_id}, count=5000)
                records = reply[0][1] if reply else []
                for rec_id, fields in records:
                    seq = int(fields[b"seq"])
                    if seq <= self._seq:
                        self._last_id = rec_id
                        continue
                    if seq != self._seq + 1:  # records were trimmed before this replica read them
                        self._reload()
                        return
                    op = fields[b"op"]
                    if op == b"put":
                        self._local_put(_str(fields[b"id"]), _str(fields[b"fp"]), fields[b"vec"], _str(fields[b"exp"]))
                    elif op == b"del":
                        self._local_drop(_str(fields[b"id"]))
                    elif op == b"clear":
                        self._index.clear()
                        self._expires.clear()
                    self._seq, self._last_id = seq, rec_id
                if len(records) < 5000:
                    break
            self._synced_at = time.monotonic()

    def _entry(self, entry_id: str, raw: dict[bytes, bytes]) -> CacheEntry | None:
        try:
            exp = _str(raw.get(b"exp"))
            return CacheEntry(
                id=entry_id,
                fingerprint=_str(raw[b"fp"]),
                text=_str(raw[b"text"]),
                vector=np.frombuffer(raw[b"vec"], dtype=np.float32).copy(),
                response=json.loads(raw[b"resp"]),
                model=_str(raw[b"model"]),
                category=_str(raw.get(b"cat")) or None,
                created_at=float(raw[b"created"]),
                expires_at=float(exp) if exp else None,
            )
        except (KeyError, ValueError, UnicodeDecodeError):
            return None

    # -- the store protocol --------------------------------------------------------------------

    def __len__(self) -> int:
        """Entries in Redis (every replica's)."""
        return int(self._call(self._r.zcard, self._lru))

    def search(
        self, vector: np.ndarray, fingerprint: str, threshold: float, accept: Accept | None = None
    ) -> CacheHit | None:
        """See :meth:`CacheStore.search`."""
        return self._call(self._search, vector, fingerprint, threshold, accept)  # type: ignore[no-any-return]

    def _search(self, vector: np.ndarray, fingerprint: str, threshold: float, accept: Accept | None) -> CacheHit | None:
        self._sync()
        now = self.clock()
        skip: set[str] = set()
        for _ in range(MAX_CANDIDATES):
            with self._lock:
                best = self._index.best(vector, fingerprint, exclude=skip)
                if best is None or best[1] < threshold:
                    return None
                entry_id, sim = best
                expires = self._expires.get(entry_id)
                if expires is not None and now >= expires:
                    self._local_drop(entry_id)
                    continue
            pipe = self._r.pipeline(transaction=False)
            pipe.hgetall(self._prefix + entry_id)
            pipe.zadd(self._lru, {entry_id: now * 1000}, xx=True)
            raw, _ = pipe.execute()
            if not raw:  # evicted or expired in Redis since this replica last synced
                with self._lock:
                    self._local_drop(entry_id)
                continue
            entry = self._entry(entry_id, raw)
            if entry is None or entry.fingerprint != fingerprint:  # corrupt: never serve it, drop it for all
                self._delete(entry_id)
                skip.add(entry_id)
                continue
            if accept is not None and not accept(entry):
                skip.add(entry_id)
                continue
            return CacheHit(entry=entry, similarity=sim)
        return None

    def put(self, entry: CacheEntry) -> None:
        """See :meth:`CacheStore.put`."""
        self._call(self._store, entry)

    def _store(self, entry: CacheEntry) -> None:
        vec = np.ascontiguousarray(entry.vector, dtype=np.float32).tobytes()
        exp = "" if entry.expires_at is None else repr(entry.expires_at)
        ttl_ms = 0 if entry.expires_at is None else max(1, round((entry.expires_at - entry.created_at) * 1000))
        fields: list[Any] = [
            b"fp", entry.fingerprint, b"text", entry.text, b"vec", vec,
            b"resp", json.dumps(entry.response, separators=(",", ":")), b"model", entry.model,
            b"cat", entry.category or "", b"created", repr(entry.created_at), b"exp", exp,
        ]  # fmt: skip
        evicted = self._put(
            keys=[self._prefix + entry.id, self._lru, self._log, self._seq_key],
            args=[
                entry.id, int(entry.created_at * 1000), ttl_ms, self.max_entries, self._log_maxlen,
                self._prefix, entry.fingerprint, vec, exp, *fields,
            ],
        )  # fmt: skip
        with self._lock:
            # Searchable here at once; the log record comes back on the next sync (applied idempotently).
            self._local_put(entry.id, entry.fingerprint, vec, exp)
            for gone in evicted:
                self._local_drop(_str(gone))

    def _delete(self, entry_id: str) -> None:
        self._del(
            keys=[self._prefix + entry_id, self._lru, self._log, self._seq_key], args=[entry_id, self._log_maxlen]
        )
        with self._lock:
            self._local_drop(entry_id)

    def remove(self, entry_id: str) -> None:
        """See :meth:`CacheStore.remove`."""
        self._call(self._delete, entry_id)

    def clear(self) -> None:
        """Drop every entry of the namespace, for every replica."""
        self._call(self._clear)

    def _clear(self) -> None:
        keys = list(self._r.scan_iter(match=self._prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            self._r.delete(*keys[start : start + 500])
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(self._lru)
        pipe.incr(self._seq_key)
        seq = pipe.execute()[1]
        self._r.xadd(self._log, {"op": "clear", "seq": seq}, maxlen=self._log_maxlen, approximate=True)
        with self._lock:
            self._index.clear()
            self._expires.clear()

    def close(self) -> None:
        """Close the connection pool."""
        self._r.close()
