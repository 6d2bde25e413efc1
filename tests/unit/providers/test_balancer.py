"""The balancer on its own: weighted choice, ejection, cool-down, half-open probe, recovery (a fake clock)."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from sirp.config.providers import HealthConfig
from sirp.config.schema import ModelConfig, RouterConfig
from sirp.errors import ConfigError, UpstreamError
from sirp.providers.balancer import Balancer, is_provider_fault


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def model(*weights: float, name: str = "m") -> ModelConfig:
    return ModelConfig(
        name=name,
        tier="slm",
        providers=[{"name": f"p{i}", "base_url": f"http://h{i}:8000/v1", "weight": w} for i, w in enumerate(weights)],
    )


def balancer(*models: ModelConfig, clock: Clock | None = None, **health: object) -> Balancer:
    return Balancer(models, HealthConfig(**health), rng=random.Random(1234), clock=clock or Clock())


def state(b: Balancer, provider: str) -> str:
    return next(h.state for h in b.snapshot() if h.provider == provider)


def test_weights_are_honoured_statistically() -> None:
    b = balancer(model(6, 3, 1))
    n = 6000
    counts = Counter(p.label for p in (b.pick("m") for _ in range(n)) if p is not None)
    for name, share in (("p0", 0.6), ("p1", 0.3), ("p2", 0.1)):
        sd = math.sqrt(n * share * (1 - share))
        assert abs(counts[name] - n * share) < 4 * sd, (name, counts)


def test_the_same_seed_gives_the_same_picks() -> None:
    def run() -> list[str]:
        b = balancer(model(1, 1, 1))
        return [p.label for p in (b.pick("m") for _ in range(50)) if p is not None]

    first, second = run(), run()
    assert first == second and len(first) == 50 and set(first) == {"p0", "p1", "p2"}


def test_weight_zero_is_standby_and_exclusion_is_respected() -> None:
    b = balancer(model(1, 0))
    assert {b.pick("m").label for _ in range(200)} == {"p0"}  # type: ignore[union-attr]
    assert b.pick("m", exclude={"p0"}).label == "p1"  # type: ignore[union-attr]
    assert b.pick("m", exclude={"p0", "p1"}) is None


def test_consecutive_failures_eject_and_a_success_resets_the_count() -> None:
    clock = Clock()
    b = balancer(model(1, 1), clock=clock, consecutive_failures=3)
    for _ in range(2):
        b.record_failure("m", "p0")
    b.record_success("m", "p0")  # the run of failures is broken
    b.record_failure("m", "p0")
    b.record_failure("m", "p0")
    assert state(b, "p0") == "healthy"
    b.record_failure("m", "p0")
    assert state(b, "p0") == "ejected"
    assert {b.pick("m").label for _ in range(100)} == {"p1"}  # type: ignore[union-attr]
    assert b.available("m") == ["p1"]


def test_error_rate_ejects_once_enough_calls_are_seen() -> None:
    b = balancer(model(1, 1), consecutive_failures=100, error_rate=0.5, window=10, min_calls=6)
    for ok in (True, False, True, False, True):  # 2 of 5 failed, and too few calls to judge anyway
        b.record_success("m", "p0") if ok else b.record_failure("m", "p0")
    assert state(b, "p0") == "healthy"
    b.record_failure("m", "p0")  # 3 of 6 = 0.5
    assert state(b, "p0") == "ejected"


def test_cool_down_then_one_probe_then_recovery() -> None:
    clock = Clock()
    b = balancer(model(1, 1), clock=clock, consecutive_failures=1, cooldown_s=30)
    b.record_failure("m", "p0")
    (p0,) = (h for h in b.snapshot() if h.provider == "p0")
    assert p0.state == "ejected" and p0.probe_in_s == 30 and p0.ejections == 1
    clock.now += 29.9
    assert b.available("m") == ["p1"]
    clock.now += 0.2
    assert state(b, "p0") == "half_open"
    probe = b.pick("m", exclude={"p1"})
    assert probe is not None and probe.label == "p0"
    # while the probe is in flight, nobody else is sent there
    assert state(b, "p0") == "ejected"
    assert {b.pick("m").label for _ in range(50)} == {"p1"}  # type: ignore[union-attr]
    b.record_success("m", "p0")
    (p0,) = (h for h in b.snapshot() if h.provider == "p0")
    assert (p0.state, p0.ejections, p0.probe_in_s, p0.window_calls) == ("healthy", 0, None, 1)


def test_a_failed_probe_doubles_the_cool_down_up_to_the_cap() -> None:
    clock = Clock()
    b = balancer(model(1), clock=clock, consecutive_failures=1, cooldown_s=10, max_cooldown_s=25)
    b.record_failure("m", "p0")
    seen = []
    for _ in range(3):
        clock.now += 1000
        assert b.pick("m") is not None  # the probe
        b.record_failure("m", "p0")
        seen.append(next(h.probe_in_s for h in b.snapshot()))
    assert seen == [20, 25, 25]


def test_release_frees_the_probe_slot_without_changing_health() -> None:
    clock = Clock()
    b = balancer(model(1, 1), clock=clock, consecutive_failures=1, cooldown_s=5)
    b.record_failure("m", "p0")
    clock.now += 6
    assert b.pick("m", exclude={"p1"}).label == "p0"  # type: ignore[union-attr]
    assert b.available("m", exclude={"p1"}) == []
    b.release("m", "p0")
    assert b.available("m", exclude={"p1"}) == ["p0"]
    assert state(b, "p0") == "half_open"


def test_panic_picks_an_ejected_provider_only_when_asked() -> None:
    b = balancer(model(1, 1), consecutive_failures=1)
    b.record_failure("m", "p0")
    b.record_failure("m", "p1")
    assert b.all_ejected("m")
    assert b.pick("m") is None
    assert b.pick("m", panic=True) is not None
    # a failure during panic (not a probe) leaves the cool-down as it was
    before = [h.probe_in_s for h in b.snapshot()]
    b.record_failure("m", "p0")
    assert [h.probe_in_s for h in b.snapshot()] == before
    # a success during panic restores the provider
    b.record_success("m", "p1")
    assert state(b, "p1") == "healthy"


def test_health_disabled_never_ejects() -> None:
    b = balancer(model(1, 1), enabled=False, consecutive_failures=1)
    for _ in range(10):
        b.record_failure("m", "p0")
    assert state(b, "p0") == "healthy"
    assert sorted(b.available("m")) == ["p0", "p1"]
    assert next(h.calls for h in b.snapshot() if h.provider == "p0") == 10


def test_models_are_tracked_apart_and_unknown_models_are_named() -> None:
    b = balancer(model(1, name="a"), model(1, name="b"), consecutive_failures=1)
    b.record_failure("a", "p0")
    assert b.all_ejected("a") and not b.all_ejected("b")
    with pytest.raises(KeyError, match="'c' is not a configured model"):
        b.pick("c")


def test_a_base_url_model_is_one_provider_named_after_its_host() -> None:
    m = ModelConfig(name="m", tier="slm", base_url="http://vllm.internal:8000/v1", api_key_env="K", timeout_s=7)
    b = Balancer([m])
    (p,) = b.providers("m")
    assert (p.label, p.base_url, p.api_key_env, p.timeout_s, p.weight) == (
        "vllm.internal:8000",
        "http://vllm.internal:8000/v1",
        "K",
        7,
        1.0,
    )


@pytest.mark.parametrize(
    ("kind", "status", "fault"),
    [
        ("connection", None, True),
        ("timeout", None, True),
        ("invalid_response", None, True),
        ("config", None, True),
        ("status", 500, True),
        ("status", 503, True),
        ("status", 429, True),
        ("status", 401, True),
        ("status", 404, True),
        ("status", 400, False),
        ("status", 413, False),
        ("status", 422, False),
        ("status", None, False),
    ],
)
def test_which_failures_are_the_providers_fault(kind: str, status: int | None, fault: bool) -> None:
    assert is_provider_fault(UpstreamError("x", kind=kind, status_code=status)) is fault


def provider_config(**model: object) -> dict:
    return {
        "tiers": [{"name": "slm", "model": "m", "reference_model": "r"}],
        "models": [{"name": "m", "tier": "slm", **model}],
    }


def test_provider_config_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"models\.0\.base_url: is required: give the model's base_url, or a provid"):
        RouterConfig.from_dict(provider_config())
    with pytest.raises(ConfigError, match=r"models\.0\.providers: give base_url or providers, not both"):
        RouterConfig.from_dict(provider_config(base_url="http://a/v1", providers=[{"base_url": "http://b/v1"}]))
    with pytest.raises(ConfigError, match=r"models\.0\.providers\.1\.name: 'a:1' names two providers of 'm'"):
        RouterConfig.from_dict(provider_config(providers=[{"base_url": "http://a:1/v1"}, {"base_url": "http://a:1/x"}]))
    with pytest.raises(ConfigError, match=r"models\.0\.providers\.0\.weight: Input should be greater than or equal"):
        RouterConfig.from_dict(provider_config(providers=[{"base_url": "http://a/v1", "weight": -1}]))
    with pytest.raises(ConfigError, match=r"models\.0\.providers\.0\.base_url: Value error, base_url must start"):
        RouterConfig.from_dict(provider_config(providers=[{"base_url": "a:8000"}]))
    with pytest.raises(ConfigError, match=r"models\.0\.providers\.0\.api_key_env: api_key_env must be the NAME") as e:
        RouterConfig.from_dict(provider_config(providers=[{"base_url": "http://a/v1", "api_key_env": "sk-secret"}]))
    assert "sk-secret" not in str(e.value)
    with pytest.raises(ConfigError, match=r"dispatch\.health\.max_cooldown_s: is shorter than cooldown_s"):
        RouterConfig.from_dict({"dispatch": {"health": {"cooldown_s": 60, "max_cooldown_s": 30}}})


def test_providers_inherit_the_models_key_and_timeout() -> None:
    cfg = RouterConfig.from_dict(
        provider_config(
            api_key_env="MODEL_KEY",
            timeout_s=9,
            providers=[
                {"name": "a", "base_url": "http://a/v1/"},
                {"name": "b", "base_url": "http://b/v1", "api_key_env": "B_KEY", "timeout_s": 2, "weight": 0},
            ],
        )
    )
    a, b = cfg.models[0].endpoints()
    assert (a.base_url, a.api_key_env, a.timeout_s, a.weight) == ("http://a/v1", "MODEL_KEY", 9, 1.0)
    assert (b.api_key_env, b.timeout_s, b.weight) == ("B_KEY", 2, 0.0)


def test_docs_describe_every_provider_and_health_field() -> None:
    from pathlib import Path

    from sirp.config.providers import ProviderEndpoint

    text = (Path(__file__).resolve().parents[3] / "docs" / "dispatch.md").read_text(encoding="utf-8")
    assert [f for f in ProviderEndpoint.model_fields if f"| `{f}` |" not in text] == []
    assert [f for f in HealthConfig.model_fields if f"| `health.{f}` |" not in text] == []
