"""Dispatch end to end: SemanticRouter (on MockBackend) → official openai client → real HTTP → fake server.

No model runs: the classifier is MockBackend, the endpoints are sirp.testing.fake_openai on
loopback. Everything the client sends is checked as the server received it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from sirp import SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder, ModelManifest
from sirp.errors import AllAttemptsFailedError, ConfigError, InputError, UpstreamError
from sirp.providers import RoutedCompletion, apply_reasoning
from sirp.testing.fake_openai import REASONING_TOKENS, FakeOpenAI
from tests.synthetic import make_rows, make_tokenizer

pytest.importorskip("openai", reason="dispatch needs the sirp[client] extra")

MSGS = [{"role": "user", "content": "What is the integral of x squared?"}]


def make_folder(path: Path, reference_models: list[str]) -> Path:
    # like tests/unit/conftest.py's mock_folder: a model folder whose graph MockBackend never opens
    make_tokenizer(make_rows(200), path)
    (path / "model.int8.onnx").write_bytes(b"not used by MockBackend")
    manifest = ModelManifest(
        categories=["biology", "history", "law", "math"],
        reference_models=reference_models,
        embedding_dim=8,
        max_length=32,
        files={"int8": "model.int8.onnx"},
    )
    (path / MANIFEST_NAME).write_text(manifest.model_dump_json())
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path, ["small-model", "large-model"])


def model(name: str, tier: str, server: FakeOpenAI, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": server.base_url, "timeout_s": 5, "max_retries": 2, **kw}


def config(folder: Path, server: FakeOpenAI, **overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "classifier": {"model": str(folder)},
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": "small-model", "reasoning_budget_tokens": 2048},
            {"name": "llm", "model": "large", "reference_model": "large-model"},
        ],
        # no gain can reach 1.0, so the router always picks the small tier: tests pin the rest
        "policy": {"gain_threshold": 1.0},
        "models": [
            model("small", "slm", server, family="qwen3", price_input_per_m=0.5, price_output_per_m=2.0),
            model("large", "llm", server, family="openai", price_input_per_m=3.0, price_output_per_m=12.0),
            model("backup", "llm", server, family="anthropic"),
        ],
        "fallback": ["large", "backup"],
        "dispatch": {"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "time_budget_s": 20},
    }
    cfg.update(overrides)
    return cfg


def router(folder: Path, cfg: dict[str, Any]) -> SemanticRouter:
    return SemanticRouter(cfg, backend=MockBackend(ModelFolder.load(folder).manifest))


@pytest.fixture
def r(folder: Path, fake_openai: FakeOpenAI):
    with router(folder, config(folder, fake_openai)) as rt:
        yield rt


# -- the request on the wire -------------------------------------------------------------------


@pytest.mark.parametrize("family", ["qwen3", "deepseek", "openai", "gpt-oss", "anthropic", "gemini", "prompt", "none"])
@pytest.mark.parametrize("on", [True, False])
def test_reasoning_syntax_reaches_the_server_exactly(folder: Path, fake_openai: FakeOpenAI, family: str, on: bool):
    cfg = config(folder, fake_openai)
    cfg["models"][0]["family"] = family
    with router(folder, cfg) as rt:
        out = rt.complete(MSGS, reasoning=on, temperature=0.1, max_tokens=64)
    (req,) = fake_openai.requests_for("small")
    d = out.decision
    assert d.reasoning is on
    expected = apply_reasoning(
        {"model": "small", "messages": MSGS, "temperature": 0.1, "max_tokens": 64},
        family,
        on,
        d.reasoning_effort,
        2048,  # the slm tier's reasoning_budget_tokens
    )
    assert req.body == expected
    reasons = family not in ("none",) and (on or family == "gpt-oss")
    assert out.usage is not None
    assert out.usage.reasoning_tokens == (REASONING_TOKENS if reasons else 0)
    assert (out.reasoning_content is not None) is reasons


def test_policy_decides_reasoning_when_not_forced(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    out = r.complete(MSGS)
    body = fake_openai.requests_for("small")[0].body
    assert body["chat_template_kwargs"] == {"enable_thinking": out.decision.reasoning}
    assert not any(t.rule == "reasoning.forced" for t in out.decision.trace)


def test_forced_reasoning_is_traced(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    on = r.complete(MSGS, reasoning=True)
    off = r.complete(MSGS, reasoning=False)
    bodies = [q.body for q in fake_openai.requests_for("small")]
    assert [b["chat_template_kwargs"]["enable_thinking"] for b in bodies] == [True, False]
    assert on.decision.reasoning and on.decision.reasoning_effort in ("low", "medium", "high")
    assert not off.decision.reasoning and off.decision.reasoning_effort is None
    for out in (on, off):
        assert [t.rule for t in out.decision.trace][-1] == "reasoning.forced"


def test_params_and_api_key_reach_the_server(folder: Path, fake_openai: FakeOpenAI, monkeypatch) -> None:
    monkeypatch.setenv("SIRP_TEST_KEY", "sk-test-123")
    cfg = config(folder, fake_openai)
    cfg["models"][0]["api_key_env"] = "SIRP_TEST_KEY"
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    with router(folder, cfg) as rt:
        rt.complete("hello", reasoning=False, tools=tools, seed=7, extra_body={"top_k": 20}, extra_headers={"X-A": "b"})
    (req,) = fake_openai.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test-123"
    assert req.headers["x-a"] == "b"
    assert req.body["messages"] == [{"role": "user", "content": "hello"}]
    assert (req.body["tools"], req.body["seed"], req.body["top_k"]) == (tools, 7, 20)
    assert "sk-test-123" not in json.dumps(cfg)


def test_missing_api_key_env_is_an_attempt_that_names_the_variable(folder: Path, fake_openai: FakeOpenAI, monkeypatch):
    monkeypatch.delenv("SIRP_MISSING_KEY", raising=False)
    cfg = config(folder, fake_openai)
    cfg["models"][0]["api_key_env"] = "SIRP_MISSING_KEY"
    with router(folder, cfg) as rt:
        out = rt.complete(MSGS)
    assert out.model == "large"
    assert "SIRP_MISSING_KEY" in (out.attempts[0].error or "")
    assert fake_openai.requests_for("small") == []


# -- pins --------------------------------------------------------------------------------------


def test_pin_a_model(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    out = r.complete(MSGS, model="large")
    assert out.model == "large" and out.decision.model == "large" and out.decision.tier == "llm"
    assert fake_openai.requests_for("large") and not fake_openai.requests_for("small")
    pin = next(t for t in out.decision.trace if t.rule == "pin.model")
    assert "router chose small" in pin.detail
    assert "reasoning_effort" in fake_openai.requests_for("large")[0].body  # the openai family's syntax


def test_pin_a_tier(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    out = r.complete(MSGS, model="llm")
    assert out.model == "large"
    assert [t.rule for t in out.decision.trace if t.rule.startswith("pin.")] == ["pin.tier", "pin.model"]


def test_auto_routes(r: SemanticRouter) -> None:
    out = r.complete(MSGS, model="auto")
    assert out.model == "small" and not any(t.rule.startswith("pin.") for t in out.decision.trace)


def test_a_pinned_model_does_not_fall_back(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("large", fail_status=500)
    with pytest.raises(AllAttemptsFailedError) as info:
        r.complete(MSGS, model="large")
    assert {a.model for a in info.value.attempts} == {"large"}
    assert len(fake_openai.requests_for("large")) == 3  # first try + max_retries
    assert not fake_openai.requests_for("backup")


def test_unknown_pin_and_bad_params(r: SemanticRouter) -> None:
    with pytest.raises(InputError, match="neither 'auto', a tier, nor a configured model"):
        r.complete(MSGS, model="gpt-9")
    with pytest.raises(InputError, match="stream"):
        r.complete(MSGS, stream=True)
    with pytest.raises(InputError, match="reasoning must be"):
        r.complete(MSGS, reasoning="yes")
    with pytest.raises(InputError, match="pins a tier that is not configured"):
        r.complete(MSGS, model="lrm")


def test_no_models_configured_says_how_to_fix(folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = config(folder, fake_openai)
    del cfg["models"], cfg["fallback"]
    with router(folder, cfg) as rt, pytest.raises(ConfigError, match="add a models: list"):
        rt.complete(MSGS)


# -- retries, backoff, fallback ----------------------------------------------------------------


def test_retries_a_503_then_succeeds(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", fail_status=503, times=2)
    out = r.complete(MSGS)
    assert out.model == "small"
    assert [(a.model, a.try_number, a.ok, a.status_code) for a in out.attempts] == [
        ("small", 1, False, 503),
        ("small", 2, False, 503),
        ("small", 3, True, None),
    ]
    # exponential backoff from the config: 0.01 s, then 0.02 s
    assert [a.wait_s for a in out.attempts[:2]] == [pytest.approx(0.01), pytest.approx(0.02)]
    assert len(fake_openai.requests_for("small")) == 3


def test_429_retry_after_is_honoured(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", fail_status=429, retry_after="1", times=1)
    out = r.complete(MSGS)
    first, second = fake_openai.requests_for("small")
    assert second.at - first.at >= 0.95  # Retry-After: 1, not the 0.01 s backoff
    assert out.attempts[0].status_code == 429 and out.attempts[0].wait_s == 1.0
    assert out.model == "small"


def test_retry_after_beyond_the_budget_falls_back_at_once(folder: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", fail_status=429, retry_after="30")
    cfg = config(folder, fake_openai, dispatch={"time_budget_s": 5})
    with router(folder, cfg) as rt:
        t0 = time.monotonic()
        out = rt.complete(MSGS)
    assert time.monotonic() - t0 < 3
    assert out.model == "large"
    assert out.attempts[0].wait_s is None and len(fake_openai.requests_for("small")) == 1


def test_timeout_falls_back_to_the_next_model(folder: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", delay_s=3)
    cfg = config(folder, fake_openai)
    cfg["models"][0].update(timeout_s=0.3, max_retries=1)
    with router(folder, cfg) as rt:
        out = rt.complete(MSGS)
    assert out.model == "large"
    assert [(a.model, a.kind, a.ok) for a in out.attempts] == [
        ("small", "timeout", False),
        ("small", "timeout", False),
        ("large", None, True),
    ]
    assert all(250 <= a.latency_ms < 2000 for a in out.attempts[:2])
    assert out.decision.model == "small"  # what the router chose ...
    assert out.decision.trace[-1].rule == "dispatch.fallback"  # ... and why another model answered
    # the fallback model gets its own family's reasoning syntax
    assert "reasoning_effort" in fake_openai.requests_for("large")[0].body


def test_all_attempts_failed_lists_every_attempt(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", fail_status=500)
    fake_openai.behave("large", drop=True)
    fake_openai.behave("backup", fail_status=401)
    with pytest.raises(AllAttemptsFailedError) as info:
        r.complete(MSGS)
    err = info.value
    assert [(a.model, a.try_number) for a in err.attempts] == [
        ("small", 1),
        ("small", 2),
        ("small", 3),
        ("large", 1),
        ("large", 2),
        ("large", 3),
        ("backup", 1),  # 401 is not transient: no retry
    ]
    msg = str(err)
    assert "every attempt failed (7 calls to small, large, backup)" in msg
    assert msg.count("HTTP 500: ") == 3 and msg.count("connection failed") == 3 and "HTTP 401: " in msg
    assert err.is_retryable
    assert isinstance(err, UpstreamError)


def test_garbage_answer_is_a_clear_error_and_not_retried(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", garbage=True)
    out = r.complete(MSGS)
    assert out.model == "large"
    assert out.attempts[0].kind == "invalid_response"
    assert "not JSON" in (out.attempts[0].error or "")
    assert len(fake_openai.requests_for("small")) == 1
    with pytest.raises(
        AllAttemptsFailedError,
        match=r"small via 127\.0\.0\.1:\d+ \(try 1, \d+ ms\): answered with something that is not",
    ):
        r.complete(MSGS, model="small")


def test_time_budget_bounds_the_whole_request(folder: Path, fake_openai: FakeOpenAI) -> None:
    for m in ("small", "large", "backup"):
        fake_openai.behave(m, delay_s=3)
    with router(folder, config(folder, fake_openai)) as rt:
        t0 = time.monotonic()
        with pytest.raises(AllAttemptsFailedError, match=r"time budget of 0\.6 s ran out"):
            rt.complete(MSGS, time_budget_s=0.6)
        assert time.monotonic() - t0 < 2


# -- usage, cost, serialisation ----------------------------------------------------------------


def test_usage_and_cost_from_the_models_prices(r: SemanticRouter) -> None:
    out = r.complete(MSGS, reasoning=True)
    u = out.usage
    assert u is not None
    assert u.reasoning_tokens == REASONING_TOKENS
    assert u.prompt_tokens == out.completion.usage.prompt_tokens
    assert u.completion_tokens == out.completion.usage.completion_tokens
    assert out.cost_usd == pytest.approx(u.prompt_tokens * 0.5e-6 + u.completion_tokens * 2.0e-6)
    pinned = r.complete(MSGS, model="large", reasoning=False)
    assert pinned.usage is not None and pinned.usage.reasoning_tokens == 0
    assert pinned.cost_usd == pytest.approx(pinned.usage.prompt_tokens * 3e-6 + pinned.usage.completion_tokens * 12e-6)
    assert out.latency_ms > 0 and out.time_to_first_token_ms is None
    assert out.content == "Echo from small: What is the integral of x squared?"
    json.dumps(out.to_dict())


# -- streaming ---------------------------------------------------------------------------------


def test_stream_sync(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", chunk_delay_s=0.02)
    stream = r.stream(MSGS, reasoning=True)
    assert stream.model == "small" and stream.decision.reasoning
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    out = stream.result
    assert isinstance(out, RoutedCompletion)
    assert text == out.content == "Echo from small: What is the integral of x squared?"
    assert out.reasoning_content == "Let me think this through step by step."
    assert out.usage is not None and out.usage.reasoning_tokens == REASONING_TOKENS
    assert out.cost_usd == pytest.approx(out.usage.prompt_tokens * 0.5e-6 + out.usage.completion_tokens * 2.0e-6)
    assert out.time_to_first_token_ms is not None
    assert 0 < out.time_to_first_token_ms < out.latency_ms
    assert out.latency_ms - out.time_to_first_token_ms >= 5 * 20 * 0.8  # the later chunks came 20 ms apart
    assert out.completion.choices[0].finish_reason == "stop"
    body = fake_openai.requests_for("small")[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["chat_template_kwargs"] == {"enable_thinking": True}


def test_stream_result_needs_the_whole_stream(r: SemanticRouter) -> None:
    with r.stream(MSGS) as stream:
        next(stream)
        with pytest.raises(InputError, match="not finished"):
            _ = stream.result
    assert r.stream(MSGS).until_done().content


def test_stream_retries_and_falls_back_before_the_first_chunk(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", fail_status=503, times=1)
    out = r.stream(MSGS).until_done()
    assert [a.ok for a in out.attempts] == [False, True] and out.model == "small"
    fake_openai.behave("small", drop=True)
    out = r.stream(MSGS).until_done()
    assert out.model == "large" and out.content == "Echo from large: What is the integral of x squared?"


def test_a_stream_broken_midway_raises(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", break_stream_after=3)
    stream = r.stream(MSGS, reasoning=False)
    with pytest.raises(UpstreamError, match="broke after 3 chunks") as info:
        for _ in stream:
            pass
    assert info.value.kind == "stream_broken"
    assert stream.attempts[-1].kind == "stream_broken"
    assert not fake_openai.requests_for("large")  # part of the answer was out: no fallback


def test_a_stream_that_ends_without_finishing_raises(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", end_stream_after=4)
    with pytest.raises(UpstreamError, match="ended without a finish_reason"):
        r.stream(MSGS).until_done()


def test_stream_async(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    async def go() -> tuple[str, RoutedCompletion]:
        try:
            stream = await r.astream(MSGS, reasoning=False)
            text = ""
            async for c in stream:
                if c.choices:
                    text += c.choices[0].delta.content or ""
            return text, stream.result
        finally:
            await r.aclose()

    fake_openai.behave("small", chunk_delay_s=0.01)
    text, out = asyncio.run(go())
    assert text == out.content == "Echo from small: What is the integral of x squared?"
    assert out.usage is not None and out.usage.reasoning_tokens == 0 and out.cost_usd and out.cost_usd > 0
    assert out.time_to_first_token_ms is not None and out.time_to_first_token_ms < out.latency_ms
    assert fake_openai.requests_for("small")[0].headers["x-stainless-async"] != "false"


def test_acomplete_with_retry_and_fallback(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    async def go() -> list[RoutedCompletion]:
        try:
            return list(await asyncio.gather(r.acomplete(MSGS), r.acomplete(MSGS, model="large", reasoning=True)))
        finally:
            await r.aclose()

    fake_openai.behave("small", fail_status=502)
    a, b = asyncio.run(go())
    assert a.model == "large" and [x.model for x in a.attempts] == ["small"] * 3 + ["large"]
    assert b.model == "large" and b.decision.reasoning
    assert b.usage is not None and b.usage.reasoning_tokens == REASONING_TOKENS


def test_models_endpoint_lists_what_was_used(r: SemanticRouter, fake_openai: FakeOpenAI) -> None:
    import openai

    r.complete(MSGS)
    with openai.OpenAI(base_url=fake_openai.base_url, api_key="x", max_retries=0) as client:
        assert "small" in [m.id for m in client.models.list()]


@pytest.mark.parametrize("example", ["two-tier.yaml", "four-tier.yaml", "hybrid-reasoning.yaml"])
def test_example_configs_dispatch(tmp_path: Path, fake_openai: FakeOpenAI, example: str) -> None:
    import yaml

    cfg = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / example).read_text())
    refs = [t["reference_model"] for t in cfg["tiers"]]
    cfg["classifier"] = {"model": str(make_folder(tmp_path, refs))}
    for m in cfg["models"]:  # every endpoint on the fake server, keys not needed
        m.update(base_url=fake_openai.base_url, api_key_env=None)
    question = [{"role": "user", "content": "Solve x^3 - 6x^2 + 11x - 6 = 0."}]
    with router(Path(cfg["classifier"]["model"]), cfg) as rt:
        for on in (True, False):
            out = rt.complete(question, reasoning=on)
            family = next(m["family"] for m in cfg["models"] if m["name"] == out.model)
            budget = next(t.get("reasoning_budget_tokens") for t in cfg["tiers"] if t["model"] == out.model)
            expected = apply_reasoning(
                {"model": out.model, "messages": question}, family, on, out.decision.reasoning_effort, budget
            )
            assert fake_openai.requests_for(out.model)[-1].body == expected


# -- the policy's per-request rules, end to end ---------------------------------------------------


def test_category_system_prompt_and_budget_reach_the_server(folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = config(folder, fake_openai)
    cfg["models"][0]["family"] = "anthropic"
    cfg["categories"] = [
        {"name": c, "system_prompt": f"You answer {c} questions.", "reasoning_budget_tokens": 1500}
        for c in ("biology", "history", "law", "math")
    ]
    with router(folder, cfg) as rt:
        out = rt.complete(MSGS, reasoning=True)
    body = fake_openai.requests_for("small")[0].body
    cat = out.decision.category
    assert body["messages"] == [{"role": "system", "content": f"You answer {cat} questions."}, *MSGS]
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1500}  # below the tier's 2048
    assert out.decision.category_config == cat
    assert "category.system_prompt" in [t.rule for t in out.decision.trace]


def test_pii_request_never_leaves_local_models(folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = config(folder, fake_openai, policy={"gain_threshold": 1.0, "privacy": {"pii_action": "local_only"}})
    cfg["models"][0]["local"] = True
    fake_openai.behave("small", fail_status=503)
    with router(folder, cfg) as rt:
        with pytest.raises(AllAttemptsFailedError) as err:
            rt.complete("My passport number is X1234567, renew it", pii=True)
        assert {a.model for a in err.value.attempts} == {"small"}
        assert fake_openai.requests_for("large") == [] and fake_openai.requests_for("backup") == []
        out = rt.complete("My passport number is X1234567, renew it")  # no PII flag: falls back as usual
    assert out.model == "large"


def test_many_tools_are_cut_to_top_k_on_the_wire(folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = config(folder, fake_openai, policy={"gain_threshold": 1.0, "tools": {"enabled": True, "top_k": 2}})
    tools = [
        {"type": "function", "function": {"name": f"tool_{i}", "description": d, "parameters": {"type": "object"}}}
        for i, d in enumerate(["integral of x", "court appeal", "war treaty", "cell gene", "prime sum", "king"])
    ]
    with router(folder, cfg) as rt:
        out = rt.complete(MSGS, tools=tools)
    sent = fake_openai.requests_for("small")[0].body["tools"]
    assert len(sent) == 2 and all(t in tools for t in sent)
    assert out.decision.trace[-1].rule == "tools.filter"
