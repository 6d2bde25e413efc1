"""The parts of dispatch that need no server: usage and cost, Retry-After, backoff schedule, lazy import."""

from __future__ import annotations

import email.utils
import subprocess
import sys
import time

import pytest

from sirp.config.schema import DispatchConfig, ModelConfig, RouterConfig
from sirp.decision import RoutingDecision
from sirp.errors import AllAttemptsFailedError, ConfigError, MissingDependencyError, UpstreamError
from sirp.providers.balancer import Balancer
from sirp.providers.client import Dispatcher
from sirp.providers.result import Attempt
from sirp.providers.schedule import Schedule
from sirp.providers.upstream import parse_retry_after, to_upstream_error
from sirp.providers.usage import Usage


def mc(name: str = "m", retries: int = 2) -> ModelConfig:
    return ModelConfig(
        name=name, tier="slm", base_url="http://h/v1", max_retries=retries, price_input_per_m=2, price_output_per_m=8
    )


def test_usage_from_dict_and_object_and_cost() -> None:
    u = Usage.from_openai(
        {"prompt_tokens": 1000, "completion_tokens": 500, "completion_tokens_details": {"reasoning_tokens": 300}}
    )
    assert u == Usage(1000, 500, 300) and u.total_tokens == 1500
    assert u.cost_usd(mc()) == pytest.approx(1000 * 2e-6 + 500 * 8e-6)

    class Details:
        reasoning_tokens = None

    class Obj:
        prompt_tokens = 3
        completion_tokens = 4
        completion_tokens_details = Details()

    assert Usage.from_openai(Obj()) == Usage(3, 4, 0)
    assert Usage.from_openai(None) is None
    assert Usage.from_openai({}) == Usage()
    assert u.to_dict() == {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "reasoning_tokens": 300,
        "total_tokens": 1500,
    }


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.5"}) == 0.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < (parse_retry_after({"retry-after": when}) or 0) <= 30
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None
    assert parse_retry_after({"retry-after": "-3"}) == 0.0


def test_unknown_exceptions_are_not_upstream_errors() -> None:
    pytest.importorskip("openai")
    assert to_upstream_error(KeyError("x"), "m") is None
    e = UpstreamError("x", model="m")
    assert to_upstream_error(e, "m") is e


def transient(retry_after: float | None = None) -> UpstreamError:
    return UpstreamError("HTTP 503: down", model="m", status_code=503, retry_after=retry_after, is_retryable=True)


def schedule(chain: list[ModelConfig], cfg: DispatchConfig | None = None, budget_s: float = 60) -> Schedule:
    return Schedule(chain, cfg or DispatchConfig(), budget_s, Balancer(chain))


def test_schedule_backs_off_exponentially_then_falls_back() -> None:
    cfg = DispatchConfig(backoff_initial_s=0.1, backoff_multiplier=3, backoff_max_s=0.5)
    a, b = mc("a", retries=3), mc("b", retries=0)
    s = schedule([a, b], cfg)
    waits = []
    for _ in range(4):
        step = s.next(None)
        assert step is not None and step.model is a
        waits.append(s.failed(step, transient(), 1.0))
    assert waits == [pytest.approx(0.1), pytest.approx(0.3), pytest.approx(0.5), 0.0]  # capped, then move on
    step = s.next(None)
    assert step is not None and (step.model, step.try_number, step.provider_name) == (b, 1, "h")
    assert s.failed(step, transient(), 1.0) == 0.0
    assert s.next(None) is None
    err = s.error()
    assert isinstance(err, AllAttemptsFailedError) and len(err.attempts) == 5 and err.is_retryable
    assert "every attempt failed (5 calls to a, b)" in str(err)


def test_schedule_honours_retry_after_and_does_not_retry_permanent_errors() -> None:
    s = schedule([mc("a"), mc("b")])
    step = s.next(None)
    assert step is not None
    assert s.failed(step, transient(retry_after=2.5), 1.0) == 2.5
    step = s.next(None)
    assert step is not None
    assert s.failed(step, UpstreamError("HTTP 400: bad", model="a", status_code=400), 1.0) == 0.0
    step = s.next(None)
    assert step is not None and step.model.name == "b"


def test_schedule_caps_attempt_timeouts_by_the_budget() -> None:
    s = schedule([mc("a")], budget_s=0.2)
    step = s.next(None)
    assert step is not None and step.timeout_s <= 0.2  # the model's own timeout is 60 s
    assert s.failed(step, transient(retry_after=5), 1.0) == 0.0  # no time to wait that long
    assert s.next(None) is None


def test_attempt_str() -> None:
    assert str(Attempt("m", 2, 12.3)) == "m (try 2, 12 ms): ok"
    assert str(Attempt("m", 1, 3, provider="gpu-a")) == "m via gpu-a (try 1, 3 ms): ok"
    assert (
        str(Attempt("m", 1, 5, error="HTTP 503: x", wait_s=0.5)) == "m (try 1, 5 ms): HTTP 503: x; retried after 0.50 s"
    )


def test_openai_is_not_imported_until_a_model_is_called() -> None:
    code = (
        "import sys, sirp, sirp.router, sirp.providers, sirp.testing.fake_openai; sirp.SemanticRouter; "
        "print('openai' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def decision(model: str = "m") -> RoutingDecision:
    return RoutingDecision(
        category="math",
        confidence=0.9,
        scores={"math": 0.9, "law": 0.1},
        success={"slm": 0.5},
        complexity=0.5,
        tier="slm",
        reasoning=True,
        reasoning_effort="high",
        model=model,
        truncated=False,
        latency_ms=1.0,
    )


def dispatcher() -> Dispatcher:
    return Dispatcher(
        RouterConfig.from_dict(
            {
                "tiers": [{"name": "slm", "model": "m", "reference_model": "r", "reasoning_budget_tokens": 3000}],
                "models": [{"name": "m", "tier": "slm", "base_url": "http://127.0.0.1:9/v1", "family": "anthropic"}],
            }
        )
    )


def test_payload_and_plan_without_a_server() -> None:
    d = dispatcher()
    req = d.request(
        "hi", {"model": "auto", "temperature": 0, "extra_body": {"top_k": 5}, "reasoning": False}, stream=True
    )
    planned, chain = d.plan(decision(), req)
    assert [m.name for m in chain] == ["m"]
    assert planned.reasoning is False and planned.reasoning_effort is None
    assert d.payload(chain[0], planned, req, stream=True) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "top_k": 5,
        "thinking": {"type": "disabled"},
        "stream_options": {"include_usage": True},
    }
    on, _ = d.plan(decision(), d.request("hi", {}, stream=False))
    assert d.payload(chain[0], on, req, stream=False)["thinking"] == {"type": "enabled", "budget_tokens": 3000}


def test_no_models_fails_before_routing() -> None:
    d = Dispatcher(RouterConfig())
    with pytest.raises(ConfigError, match="add a models: list"):
        d.complete("hi", {}, route=lambda m: pytest.fail("routed without endpoints"))


def test_missing_openai_says_which_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openai", None)  # makes `import openai` fail
    with pytest.raises(MissingDependencyError, match=r'pip install "sirp\[client\]"'):
        dispatcher().complete("hi", {}, route=lambda m: decision())
