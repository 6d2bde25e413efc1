"""``sirp bench serve``: a smaller load (300 requests at concurrency 20) through a real ``sirp serve``.

The figures go in docs/benchmarks.md, never in an assertion: here only correctness counts (no
errors, no lost requests, the upstream saw each request exactly once). The checks that decide
"lost" are also fed broken input, so that a check that could never fail would show.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="sirp serve needs the sirp[server] extra")
pytest.importorskip("openai")
pytest.importorskip("uvicorn")

from sirp.bench.serve import _lost, _Outcome, _upstream_check, bench_config, plan_requests
from sirp.cli.main import main
from sirp.config.loader import config_from_dict
from sirp.errors import ConfigError
from sirp.testing.fake_openai import RecordedRequest


@pytest.mark.slow
def test_300_requests_at_concurrency_20_none_lost(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "serve", "--requests", "300", "--concurrency", "20", "--no-progress", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["errors"] == 0, result["errors_by_kind"]
    assert result["lost"] == {"router": 0, "direct": 0}
    # 300 through the router, 300 direct, and the 20 + 20 warm-up requests: each exactly once
    assert result["upstream"] == {"requests": 640, "mismatched": 0, "errored_not_seen": 0}
    assert sum(result["mix"].values()) == 300 and set(result["mix"]) == {"auto", "pinned", "stream"}
    assert result["latency"]["all"]["requests"] == 300
    for row in result["latency"].values():
        assert row["router"]["p50_ms"] > 0 and row["direct"]["p50_ms"] > 0 and row["added"]["p99_ms"] is not None
    assert set(result["router_models"]) <= {"llama-3.1-8b-instruct", "llama-3.1-70b-instruct"}
    assert result["throughput_per_s"]["router"] > 0


def test_the_mix_is_seeded_and_follows_the_shares() -> None:
    models = ["small", "large"]
    plan = plan_requests(1000, models=models, stream_share=0.2, pinned_share=0.3, seed=1)
    assert plan == plan_requests(1000, models=models, stream_share=0.2, pinned_share=0.3, seed=1)
    assert 150 < sum(r.stream for r in plan) < 250
    assert 240 < sum(r.model in models for r in plan) < 360
    assert {r.model for r in plan} == {"auto", *models}
    with pytest.raises(ConfigError, match="stream-share"):
        plan_requests(10, models=models, stream_share=1.5)
    with pytest.raises(ConfigError, match="pinned requests need configured models"):
        plan_requests(10, models=[])


def test_the_served_config_points_every_model_at_the_upstream() -> None:
    config = config_from_dict(
        {
            "tiers": [
                {"name": "slm", "model": "a", "reference_model": "Meta-Llama-3_1-8B-Instruct"},
                {"name": "llm", "model": "b", "reference_model": "Meta-Llama-3_1-70B-Instruct"},
            ],
            "models": [
                {"name": "a", "tier": "slm", "base_url": "https://example.invalid/v1", "api_key_env": "KEY"},
                {
                    "name": "b",
                    "tier": "llm",
                    "providers": [{"base_url": "https://one.invalid/v1"}, {"base_url": "https://two.invalid/v1"}],
                },
            ],
            "cache": {"enabled": True},
            "server": {"auto_model": "router", "access": {"require_identity": True}},
        }
    )
    served = config_from_dict(bench_config(config, "http://127.0.0.1:9/v1", 8123))
    assert {m.base_url for m in served.models} == {"http://127.0.0.1:9/v1"}
    assert all(not m.providers and m.api_key_env is None and m.max_retries == 0 for m in served.models)
    assert not served.cache.enabled and not served.server.access.require_identity
    assert (served.server.auto_model, served.server.port) == ("router", 8123)
    # no models: one per tier, named as the tier's model
    bare = config_from_dict(bench_config(config_from_dict({}), "http://127.0.0.1:9/v1", 8123))
    assert [(m.name, m.tier) for m in bare.models] == [(t.model, t.name) for t in bare.tiers]


def test_lost_counts_answers_without_their_id_and_ids_back_twice() -> None:
    good = [_Outcome("r-1", id_ok=True), _Outcome("r-2", id_ok=True)]
    assert _lost(good) == 0
    assert _lost([*good, _Outcome("r-3", id_ok=False)]) == 1  # an answer that is not its own
    assert _lost([*good, _Outcome("r-2", id_ok=True)]) == 2  # one id answered twice
    assert _lost([*good, _Outcome("r-3", error="APITimeoutError")]) == 0  # an error, counted as one


def _log(*texts: str) -> list[Any]:
    return [
        RecordedRequest(
            "POST", "/v1/chat/completions", {}, {"model": "m", "messages": [{"role": "user", "content": t}]}
        )
        for t in texts
    ]


def test_the_upstream_log_must_hold_each_id_once_and_nothing_else() -> None:
    expected = {"r-ab-1", "d-ab-1"}
    assert _upstream_check(_log("[r-ab-1] q", "[d-ab-1] q", "[w-ab-9] q"), expected)["mismatched"] == 0
    assert _upstream_check(_log("[r-ab-1] q", "[r-ab-1] q", "[d-ab-1] q"), expected)["mismatched"] == 1  # a retry
    assert _upstream_check(_log("[r-ab-1] q"), expected)["mismatched"] == 1  # one never arrived
    # ... unless it failed on the way (an error, counted once, as such)
    assert _upstream_check(_log("[r-ab-1] q"), expected, frozenset({"d-ab-1"})) == {
        "requests": 1,
        "mismatched": 0,
        "errored_not_seen": 1,
    }
    assert _upstream_check(_log("[r-ab-1] q", "[d-ab-1] q", "no tag"), expected)["mismatched"] == 1
    assert _upstream_check(_log("[r-ab-1] q", "[d-ab-1] q", "[r-ab-7] q"), expected)["mismatched"] == 1
