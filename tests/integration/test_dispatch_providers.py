"""Several providers per model, over real HTTP: weights, failover order, ejection, recovery, streams.

Each provider is its own ``sirp.testing.fake_openai.FakeOpenAI`` on loopback, told to fail or
not. The dispatcher is driven directly with a fixed routing decision (no classifier), a
seeded random source (weights are checked statistically, never by timing) and a fake clock
(cool-downs pass when the test says so).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest

from sirp.config.schema import RouterConfig
from sirp.decision import RoutingDecision
from sirp.errors import AllAttemptsFailedError, UpstreamError
from sirp.providers.balancer import Balancer
from sirp.providers.client import Dispatcher
from sirp.testing.fake_openai import FakeOpenAI

pytest.importorskip("openai", reason="dispatch needs the sirp[client] extra")

MSGS = [{"role": "user", "content": "What is 2 + 2?"}]


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def servers() -> Iterator[dict[str, FakeOpenAI]]:
    fakes = {name: FakeOpenAI().start() for name in ("a", "b", "c", "other")}
    try:
        yield fakes
    finally:
        for f in fakes.values():
            f.stop()


def decision(model: str = "m") -> RoutingDecision:
    return RoutingDecision(
        category="math",
        confidence=0.9,
        scores={"math": 0.9},
        success={"slm": 0.5},
        complexity=0.5,
        tier="slm",
        reasoning=False,
        model=model,
        truncated=False,
        latency_ms=1.0,
    )


def config(
    servers: dict[str, FakeOpenAI],
    weights: dict[str, float],
    *,
    retries: int = 0,
    health: dict[str, Any] | None = None,
    fallback: bool = True,
    **provider_extra: dict[str, Any],
) -> RouterConfig:
    providers = [
        {"name": n, "base_url": servers[n].base_url, "weight": w, **provider_extra.get(n, {})}
        for n, w in weights.items()
    ]
    models: list[dict[str, Any]] = [{"name": "m", "tier": "slm", "providers": providers, "max_retries": retries}]
    models.append({"name": "big", "tier": "llm", "base_url": servers["other"].base_url, "max_retries": 0})
    return RouterConfig.from_dict(
        {
            "tiers": [
                {"name": "slm", "model": "m", "reference_model": "r1"},
                {"name": "llm", "model": "big", "reference_model": "r2"},
            ],
            "models": models,
            "fallback": ["big"] if fallback else [],
            "dispatch": {
                "backoff_initial_s": 0.01,
                "backoff_max_s": 0.02,
                "time_budget_s": 30,
                "health": health or {},
            },
        }
    )


def dispatcher(cfg: RouterConfig, clock: Clock | None = None, seed: int = 7) -> Dispatcher:
    balancer = Balancer(cfg.models, cfg.dispatch.health, rng=random.Random(seed), clock=clock or Clock())
    return Dispatcher(cfg, balancer=balancer)


def complete(d: Dispatcher, **params: Any):
    return d.complete(MSGS, params, lambda _: decision())


def served(servers: dict[str, FakeOpenAI], name: str) -> int:
    return len(servers[name].requests_for("m"))


def test_weights_are_honoured_over_http(servers: dict[str, FakeOpenAI]) -> None:
    d = dispatcher(config(servers, {"a": 3, "b": 1, "c": 0}))
    n = 200  # 4 standard deviations: 150 ± 24; even weights would give 100
    answered = [complete(d).provider for _ in range(n)]
    counts = {name: served(servers, name) for name in ("a", "b", "c")}
    assert counts == {name: answered.count(name) for name in ("a", "b", "c")}  # the provider reported is the one called
    assert counts["c"] == 0  # standby: never called while the others answer
    sd = math.sqrt(n * 0.75 * 0.25)
    assert abs(counts["a"] - n * 0.75) < 4 * sd, counts
    assert counts["a"] + counts["b"] == n
    d.close()


def test_failover_to_another_provider_before_the_fallback_model(servers: dict[str, FakeOpenAI]) -> None:
    servers["a"].behave("m", fail_status=503)
    d = dispatcher(config(servers, {"a": 1, "b": 0}))  # a takes every first call; b is standby
    out = complete(d)
    assert (out.model, out.provider) == ("m", "b")
    assert [(a.provider, a.try_number, a.ok, a.wait_s) for a in out.attempts] == [
        ("a", 1, False, None),  # failed over at once: no backoff, no retry used
        ("b", 2, True, None),
    ]
    assert servers["other"].requests == []  # the fallback model was never needed
    (step,) = [t for t in out.decision.trace if t.rule == "dispatch.failover"]
    assert step.detail == "m: a failed; b answered"
    assert out.to_dict()["provider"] == "b" and out.to_dict()["attempts"][0]["provider"] == "a"
    d.close()


def test_failover_order_providers_then_retries_then_fallback(servers: dict[str, FakeOpenAI]) -> None:
    for n in ("a", "b"):
        servers[n].behave("m", fail_status=503)
    d = dispatcher(config(servers, {"a": 1, "b": 1}, retries=1))
    out = complete(d)
    assert out.model == "big"
    models = [a.model for a in out.attempts]
    assert models == ["m", "m", "m", "m", "big"]
    rounds = [{a.provider for a in out.attempts[0:2]}, {a.provider for a in out.attempts[2:4]}]
    assert rounds == [{"a", "b"}, {"a", "b"}]  # each round tries every provider once
    waits = [a.wait_s for a in out.attempts[:4]]
    assert (
        waits[0] is None and waits[1] is not None and waits[2] is None and waits[3] is None
    )  # one backoff, between rounds
    assert [a.try_number for a in out.attempts] == [1, 2, 3, 4, 1]
    assert [t.rule for t in out.decision.trace][-1] == "dispatch.fallback"
    d.close()


def test_a_request_error_does_not_fail_over(servers: dict[str, FakeOpenAI]) -> None:
    servers["a"].behave("m", fail_status=400)
    d = dispatcher(config(servers, {"a": 1, "b": 0}, retries=2))
    out = complete(d)
    # a 400 would fail the same way at b: go to the next model, as before providers existed
    assert [(a.model, a.provider) for a in out.attempts] == [
        ("m", "a"),
        ("big", "127.0.0.1:" + str(servers["other"].port)),
    ]
    assert served(servers, "b") == 0
    # and the 400 counts as an answer for a's health
    (a,) = [h for h in d.balancer.snapshot() if h.provider == "a"]
    assert (a.state, a.consecutive_failures) == ("healthy", 0)
    d.close()


def test_a_provider_without_its_key_fails_over(servers: dict[str, FakeOpenAI], monkeypatch) -> None:
    monkeypatch.delenv("SIRP_TEST_MISSING_KEY", raising=False)
    monkeypatch.setenv("SIRP_TEST_B_KEY", "sk-b")
    cfg = config(
        servers,
        {"a": 1, "b": 0},
        a={"api_key_env": "SIRP_TEST_MISSING_KEY"},
        b={"api_key_env": "SIRP_TEST_B_KEY"},
    )
    d = dispatcher(cfg)
    out = complete(d)
    assert out.provider == "b" and out.attempts[0].kind == "config"
    assert "SIRP_TEST_MISSING_KEY" in (out.attempts[0].error or "")
    assert served(servers, "a") == 0
    assert servers["b"].requests_for("m")[0].headers["authorization"] == "Bearer sk-b"
    d.close()


def test_ejection_then_recovery_after_the_cool_down(servers: dict[str, FakeOpenAI]) -> None:
    clock = Clock()
    servers["a"].behave("m", fail_status=503)
    d = dispatcher(config(servers, {"a": 1, "b": 1}, health={"consecutive_failures": 2, "cooldown_s": 60}), clock)
    while served(servers, "a") < 2:  # every request still gets an answer, from b
        assert complete(d).provider == "b"
    (a,) = [h for h in d.balancer.snapshot() if h.provider == "a"]
    assert (a.state, a.ejections, a.probe_in_s) == ("ejected", 1, 60)
    for _ in range(30):
        complete(d)
    assert served(servers, "a") == 2  # ejected: no more traffic
    # a comes back; after the cool-down one request probes it, and it is restored
    servers["a"].behave("m")
    clock.now += 61
    while served(servers, "a") == 2:
        complete(d)
    assert [h.state for h in d.balancer.snapshot() if h.provider == "a"] == ["healthy"]
    before = served(servers, "a")
    for _ in range(40):
        complete(d)
    assert served(servers, "a") > before  # taking its share again
    d.close()


def test_a_failed_probe_ejects_again_for_longer(servers: dict[str, FakeOpenAI]) -> None:
    clock = Clock()
    servers["a"].behave("m", fail_status=503)
    d = dispatcher(
        config(servers, {"a": 1, "b": 1}, health={"consecutive_failures": 1, "cooldown_s": 10, "max_cooldown_s": 100}),
        clock,
    )
    while served(servers, "a") < 1:
        complete(d)
    clock.now += 11
    while served(servers, "a") < 2:  # the probe, which fails: b answers that request
        assert complete(d).provider == "b"
    (a,) = [h for h in d.balancer.snapshot() if h.provider == "a"]
    assert (a.state, a.ejections, a.probe_in_s) == ("ejected", 2, 20)
    d.close()


def test_a_model_whose_providers_are_all_ejected_is_skipped(servers: dict[str, FakeOpenAI]) -> None:
    for n in ("a", "b"):
        servers[n].behave("m", fail_status=503)
    d = dispatcher(config(servers, {"a": 1, "b": 1}, health={"consecutive_failures": 1}))
    first = complete(d)  # a and b fail (each ejected), big answers
    assert [a.model for a in first.attempts] == ["m", "m", "big"]
    second = complete(d)
    assert [a.model for a in second.attempts] == ["big"]  # m skipped without a call
    assert served(servers, "a") + served(servers, "b") == 2
    rules = {t.rule: t.detail for t in second.decision.trace}
    assert rules["dispatch.ejected"] == "m skipped: every provider ejected after failures"
    assert "m failed; big answered" in rules["dispatch.fallback"]
    d.close()


def test_the_last_model_is_tried_even_when_ejected(servers: dict[str, FakeOpenAI]) -> None:
    servers["a"].behave("m", fail_status=503, times=1)
    d = dispatcher(config(servers, {"a": 1}, fallback=False, health={"consecutive_failures": 1}))
    with pytest.raises(AllAttemptsFailedError, match=r"m via a \(try 1, \d+ ms\): HTTP 503"):
        complete(d)
    assert d.balancer.all_ejected("m")
    out = complete(d)  # no other model: a is called anyway (panic), and answers
    assert out.provider == "a"
    assert [h.state for h in d.balancer.snapshot() if h.provider == "a"] == ["healthy"]
    d.close()


def test_a_pin_fails_over_between_providers_too(servers: dict[str, FakeOpenAI]) -> None:
    servers["a"].behave("m", drop=True)
    d = dispatcher(config(servers, {"a": 1, "b": 0}))
    out = d.complete(MSGS, {"model": "m"}, lambda _: decision("big"))
    assert (out.model, out.provider) == ("m", "b")
    assert out.attempts[0].kind == "connection"
    d.close()


def test_stream_fails_over_before_its_first_chunk(servers: dict[str, FakeOpenAI]) -> None:
    servers["a"].behave("m", fail_status=502)
    d = dispatcher(config(servers, {"a": 1, "b": 0}))
    with d.stream(MSGS, {}, lambda _: decision()) as s:
        assert s.provider == "b"
        result = s.until_done()
    assert result.provider == "b" and [a.provider for a in result.attempts] == ["a", "b"]
    assert result.content == "Echo from m: What is 2 + 2?"
    d.close()


def test_a_stream_broken_midway_counts_against_its_provider(servers: dict[str, FakeOpenAI]) -> None:
    servers["a"].behave("m", break_stream_after=2)
    d = dispatcher(config(servers, {"a": 1}, health={"consecutive_failures": 1}))
    s = d.stream(MSGS, {}, lambda _: decision())
    with pytest.raises(UpstreamError, match=r"the stream from 'm' \(a\) broke after"):
        s.until_done()
    assert s.attempts[-1].provider == "a" and s.attempts[-1].kind == "stream_broken"
    assert d.balancer.all_ejected("m")
    d.close()


def test_async_complete_and_stream_fail_over(servers: dict[str, FakeOpenAI]) -> None:
    servers["a"].behave("m", fail_status=503)

    async def main() -> tuple[Any, Any]:
        d = dispatcher(config(servers, {"a": 1, "b": 0}, health={"consecutive_failures": 5}))

        async def route(_: Any) -> RoutingDecision:
            return decision()

        try:
            done = await d.acomplete(MSGS, {}, route)
            stream = await d.astream(MSGS, {}, route)
            streamed = await stream.until_done()
            return done, streamed
        finally:
            await d.aclose()

    done, streamed = asyncio.run(main())
    for out in (done, streamed):
        assert out.provider == "b" and [a.provider for a in out.attempts] == ["a", "b"]
        assert [t.rule for t in out.decision.trace][-1] == "dispatch.failover"
    assert served(servers, "a") == 2 and served(servers, "b") == 2


def test_idle_connections_are_dropped_before_the_servers_keep_alive_timeout(servers: dict[str, FakeOpenAI]) -> None:
    """uvicorn closes an idle connection after 5 s; sirp must not send a request on one that old."""
    import time

    from sirp.providers.client import KEEPALIVE_EXPIRY_S

    assert KEEPALIVE_EXPIRY_S < 5
    d = dispatcher(config(servers, {"a": 1}))
    complete(d)
    complete(d)  # back to back: the same pooled connection
    time.sleep(KEEPALIVE_EXPIRY_S + 0.5)
    complete(d)  # idle past the expiry: a fresh connection
    peers = [r.peer for r in servers["a"].requests_for("m")]
    assert len(peers) == 3 and peers[0] == peers[1] and peers[2] != peers[1]
    d.close()
