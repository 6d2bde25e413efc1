"""Rate limits of the access layer: GCRA buckets in memory (a fake clock) and shared in a real Redis."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from typing import Any

import pytest

from sirp.config.schema import RouterConfig
from sirp.errors import AccessUnavailableError, RateLimitError
from sirp.server.access import AccessControl, Admission
from sirp.server.ratelimit import Bucket, MemoryLimiter, RedisLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def router_config(rules: list[dict[str, Any]], **limits: Any) -> RouterConfig:
    return RouterConfig.from_dict(
        {
            "tiers": [{"name": "slm", "model": "small", "reference_model": "r1"}],
            "models": [{"name": "small", "tier": "slm", "base_url": "http://127.0.0.1:9/v1"}],
            "server": {"access": {"trusted_proxies": ["127.0.0.1"], "rate_limits": {"rules": rules, **limits}}},
        }
    )


def control(rules: list[dict[str, Any]], clock: Clock | None = None, **limits: Any) -> AccessControl:
    return AccessControl.from_config(router_config(rules, **limits), limiter=MemoryLimiter(clock=clock or Clock()))


def caller(user: str | None = "alice", tenant: str | None = None, groups: str = "") -> dict[str, str]:
    h = {"x-authz-user-groups": groups}
    if user:
        h["x-authz-user-id"] = user
    if tenant:
        h["x-authz-tenant-id"] = tenant
    return h


def admit(ac: AccessControl, headers: dict[str, str], tokens: int = 0, peer: str = "127.0.0.1") -> Admission:
    return asyncio.run(ac.admit(headers, peer, model="auto", estimated_tokens=tokens))


def refused(ac: AccessControl, headers: dict[str, str], tokens: int = 0, peer: str = "127.0.0.1") -> RateLimitError:
    with pytest.raises(RateLimitError) as e:
        admit(ac, headers, tokens, peer)
    assert e.value.status_code == 429
    return e.value


def test_requests_per_minute_with_headers_and_retry_after() -> None:
    clock = Clock()
    ac = control([{"requests_per_minute": 3}], clock)
    seen = [admit(ac, caller()).headers for _ in range(3)]
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["2", "1", "0"]
    assert seen[0]["x-ratelimit-limit-requests"] == "3"
    assert [h["x-ratelimit-reset-requests"] for h in seen] == ["20s", "40s", "1m0s"]
    err = refused(ac, caller())
    assert err.retry_after == pytest.approx(20.0)  # one request refills every 60/3 s
    assert "rate limit reached for user 'alice': 3 requests per minute; try again in 20s" in str(err)
    assert err.headers["x-ratelimit-remaining-requests"] == "0"
    clock.now += 19.9
    refused(ac, caller())  # refusals are not charged: still 0.1 s to wait
    clock.now += 0.1
    assert admit(ac, caller()).headers["x-ratelimit-remaining-requests"] == "0"


def test_tokens_per_minute_charge_the_estimate_then_the_usage() -> None:
    ac = control([{"tokens_per_minute": 100}])
    a = admit(ac, caller(), tokens=40)
    assert a.headers["x-ratelimit-remaining-tokens"] == "60"
    asyncio.run(ac.record_usage(a, 10))  # used 10 of the 40 estimated: 30 come back
    b = admit(ac, caller(), tokens=50)
    assert b.headers["x-ratelimit-remaining-tokens"] == "40"
    asyncio.run(ac.record_usage(b, 80))  # used 30 more than estimated
    err = refused(ac, caller(), tokens=20)
    assert "100 tokens per minute" in str(err)
    assert err.retry_after == pytest.approx(6.0)  # 10 missing tokens at 100 per 60 s


def test_an_estimate_above_the_whole_limit_needs_a_full_bucket() -> None:
    clock = Clock()
    ac = control([{"tokens_per_minute": 100}], clock)
    a = admit(ac, caller(), tokens=250)  # a full bucket admits it, and is left in debt
    assert a.headers["x-ratelimit-remaining-tokens"] == "0"
    err = refused(ac, caller(), tokens=1)
    assert err.retry_after == pytest.approx(90.6)  # 150 tokens of debt plus one, at 100 per minute
    clock.now += 149
    assert refused(ac, caller(), tokens=250).retry_after == pytest.approx(1.0)  # not quite full again
    clock.now += 1
    admit(ac, caller(), tokens=250)


def test_users_have_their_own_buckets_and_anonymous_callers_go_by_peer() -> None:
    ac = control([{"requests_per_minute": 1}])
    admit(ac, caller("alice"))
    admit(ac, caller("bob"))
    refused(ac, caller("alice"))
    admit(ac, caller(None), peer="198.51.100.7")
    admit(ac, caller(None), peer="198.51.100.8")
    err = refused(ac, caller(None), peer="198.51.100.7")
    assert "an anonymous caller" in str(err)


def test_a_tenant_shares_one_bucket_and_a_refusal_charges_nothing() -> None:
    ac = control([{"scope": "user", "requests_per_minute": 5}, {"scope": "tenant", "requests_per_minute": 2}])
    h = admit(ac, caller("alice", "acme")).headers
    assert h["x-ratelimit-remaining-requests"] == "1"  # the tighter of user (4) and tenant (1)
    admit(ac, caller("bob", "acme"))
    err = refused(ac, caller("carol", "acme"))
    assert "rate limit reached for user 'carol'" in str(err)
    # carol's own bucket was not charged by the refused request: alone, she still has 5
    solo = admit(ac, caller("carol", None))
    assert solo.headers["x-ratelimit-remaining-requests"] == "4"
    # callers without a tenant are not limited by the tenant rule
    for _ in range(4):
        admit(ac, caller("dave"))


def test_the_first_rule_matching_the_callers_groups_applies_per_scope() -> None:
    ac = control([{"groups": ["pro"], "requests_per_minute": 100}, {"requests_per_minute": 1}])
    for _ in range(5):
        assert admit(ac, caller("p", groups="pro")).headers["x-ratelimit-limit-requests"] == "100"
    admit(ac, caller("f"))
    refused(ac, caller("f"))


def test_no_headers_without_rate_limits() -> None:
    ac = AccessControl.from_config(RouterConfig.from_dict({"server": {"access": {"trusted_proxies": ["127.0.0.1"]}}}))
    assert admit(ac, caller()).headers == {}


# -- Redis: counters shared by replicas --------------------------------------------------------


@pytest.fixture
def redis_cfg() -> RouterConfig:
    pytest.importorskip("redis", reason="Redis rate limits need the sirp[server] extra")
    return router_config(
        [{"requests_per_minute": 3, "tokens_per_minute": 1000}, {"scope": "tenant", "requests_per_minute": 4}],
        backend="redis",
    )


def test_two_replicas_share_the_counters_in_redis(redis_url: str, redis_cfg: RouterConfig) -> None:
    async def main() -> tuple[list[dict[str, str]], RateLimitError, list[Any]]:
        nonlocal elapsed
        a = AccessControl.from_config(redis_cfg, redis_url=redis_url)
        b = AccessControl.from_config(redis_cfg, redis_url=redis_url)
        try:
            seen = []
            start = time.monotonic()
            for ac in (a, b, a):
                adm = await ac.admit(caller("alice", "acme"), "127.0.0.1", model="auto", estimated_tokens=100)
                seen.append(dict(adm.headers))
                await ac.record_usage(adm, 300)
            elapsed = time.monotonic() - start
            try:
                await b.admit(caller("alice", "acme"), "127.0.0.1", model="auto", estimated_tokens=1)
            except RateLimitError as err:
                error = err
            # bob's own bucket is fresh, but the tenant allows one more request only
            await a.admit(caller("bob", "acme"), "127.0.0.1", model="auto", estimated_tokens=1)
            try:
                await b.admit(caller("bob", "acme"), "127.0.0.1", model="auto", estimated_tokens=1)
            except RateLimitError as err:
                tenant_error = err
            import redis.asyncio

            r = redis.asyncio.Redis.from_url(redis_url)
            ttls = [await r.pttl(k) for k in sorted(await r.keys("sirp:ratelimit:*"))]
            await r.aclose()
            return seen, error, [tenant_error, ttls]
        finally:
            await a.aclose()
            await b.aclose()

    elapsed = 0.0
    seen, error, (tenant_error, ttls) = asyncio.run(main())
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["2", "1", "0"]
    # the tokens each replica recorded (300 used, 100 estimated) count for the other; the bucket
    # refills 1000/60 tokens a second meanwhile (Redis's clock), a few on a slow machine
    refill = math.ceil(elapsed * 1000 / 60) + 1
    remaining = [int(h["x-ratelimit-remaining-tokens"]) for h in seen]
    assert all(want <= got <= want + refill for got, want in zip(remaining, [900, 600, 300], strict=True)), remaining
    assert 0 < error.retry_after <= 20 and error.headers["x-ratelimit-remaining-requests"] == "0"
    assert 0 < tenant_error.retry_after <= 15 and "4 requests per minute" in str(tenant_error)
    # every bucket expires once full again: none lives forever (-1); a nearly full one (bob's tokens)
    # may already be gone (-2) when the test machine is slow
    assert len(ttls) == 5 and all(t != -1 and t <= 60_000 for t in ttls) and sum(t > 0 for t in ttls) >= 3


def test_redis_and_memory_agree(redis_url: str) -> None:
    pytest.importorskip("redis")
    buckets = [Bucket("k:req", 5, 1), Bucket("k:tok", 100, 30)]

    async def run(limiter: Any) -> list[tuple[bool, int]]:
        out = []
        for _ in range(5):
            verdicts = await limiter.acquire(buckets)
            out.append((verdicts[0].admitted, verdicts[1].remaining))
        await limiter.adjust([Bucket("k:tok", 100, -30)])
        verdicts = await limiter.acquire(buckets)
        out.append((verdicts[0].admitted, verdicts[1].remaining))
        await limiter.aclose()
        return out

    memory = asyncio.run(run(MemoryLimiter(clock=Clock())))
    shared = asyncio.run(run(RedisLimiter(redis_url)))
    assert memory == shared == [(True, 70), (True, 40), (True, 10), (False, 10), (False, 10), (True, 10)]


def dead_redis_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"  # nothing listens there any more


def test_an_unreachable_redis_fails_open_or_closed(redis_cfg: RouterConfig) -> None:
    ac = AccessControl.from_config(redis_cfg, redis_url=dead_redis_url())
    assert admit(ac, caller()).headers == {}  # admitted unchecked (and logged)
    closed = redis_cfg.model_copy(
        update={
            "server": redis_cfg.server.model_copy(
                update={
                    "access": redis_cfg.server.access.model_copy(
                        update={
                            "rate_limits": redis_cfg.server.access.rate_limits.model_copy(update={"fail_open": False})
                        }
                    )
                }
            )
        }
    )
    with pytest.raises(AccessUnavailableError, match="rate limits cannot be checked") as e:
        admit(AccessControl.from_config(closed, redis_url=dead_redis_url()), caller())
    assert e.value.status_code == 503


def test_redis_backend_needs_a_url(redis_cfg: RouterConfig) -> None:
    from sirp.errors import ConfigError

    with pytest.raises(ConfigError, match=r"redis needs the Redis URL: set server\.redis_url_env"):
        AccessControl.from_config(redis_cfg)
