"""Running the reasoning benchmark: modes through sirp's dispatch, resume after a kill, offline set-up.

The router runs on MockBackend; the models are a fake server on loopback replaying the synthetic
outcomes of ``conftest.write_mmlu``.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from sirp import RouterConfig, SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.bench.mcq import Question
from sirp.bench.reasoning import (
    MODES,
    Offline,
    RunSettings,
    arun,
    fingerprint,
    offline_config,
    params_for,
    replay_map,
    run_benchmark,
)
from sirp.bench.reasoning_results import ResultsLog
from sirp.errors import ConfigError
from sirp.testing.fake_openai import FakeOpenAI
from sirp.testing.recorded import LatencyModel, RecordedResponder, Replay
from tests.unit.bench.conftest import LARGE, SMALL


def config_dict(folder: Path, base_url: str = "http://127.0.0.1:9/v1") -> dict[str, Any]:
    return {
        "classifier": {"model": str(folder)},
        "tiers": [{"name": "slm", "model": "hybrid", "reference_model": SMALL}],
        "models": [{"name": "hybrid", "tier": "slm", "base_url": base_url, "family": "qwen3", "max_retries": 0}],
    }


def router_for(folder: Path, base_url: str) -> SemanticRouter:
    return SemanticRouter(config_dict(folder, base_url), backend=MockBackend(ModelFolder.load(folder).manifest))


def answerable(questions: list[Question]) -> list[Question]:
    return [q for q in questions if LARGE in q.outcomes]


def bench_bodies(server: FakeOpenAI, questions: list[Question]) -> list[dict[str, Any]]:
    """Request bodies that asked a benchmark question (not the warm-up)."""
    prompts = {q.user_message for q in questions}
    return [r.body for r in server.requests_for("hybrid") if r.body["messages"][-1]["content"] in prompts]


def test_each_mode_goes_through_dispatch_and_is_graded(
    mock_folder: Path, questions: list[Question], replay_server: FakeOpenAI
) -> None:
    qs = answerable(questions)
    settings = RunSettings(concurrency=4, progress=False)

    async def main() -> list:
        async with router_for(mock_folder, replay_server.base_url) as router:
            return await arun(router, qs, settings, ResultsLog(None, "run"))

    results = asyncio.run(main())
    assert len(results) == 3 * len(qs) and all(r.ok and r.run == "run" for r in results)
    by_q = {q.id: q for q in qs}
    for r in results:
        q = by_q[r.question_id]
        # the mode's reasoning reached the model; the replay answered as the matching recording
        assert r.reasoning is {"direct": False, "reasoning": True}.get(r.mode, r.reasoning)
        assert r.correct == q.outcomes[LARGE if r.reasoning else SMALL]
        assert (r.reasoning_tokens > 0) == bool(r.reasoning) and r.completion_tokens > r.reasoning_tokens
        assert r.answer is not None and r.prompt_tokens > 0
        assert r.latency_ms is not None and r.ttft_ms is not None and r.routing_ms is not None
        assert r.ttft_ms <= r.latency_ms and r.model == "hybrid" and r.category == q.category
    bodies = bench_bodies(replay_server, qs)
    assert len(bodies) == 3 * len(qs)  # one request per (question, mode): no retries, nothing twice
    thinking = [b["chat_template_kwargs"]["enable_thinking"] for b in bodies]
    routed_on = sum(1 for r in results if r.mode == "routed" and r.reasoning)
    assert thinking.count(True) == len(qs) + routed_on
    assert all(b["temperature"] == 0 and b["stream"] is True for b in bodies)


def test_a_failing_endpoint_is_recorded_not_raised(mock_folder: Path, questions: list[Question]) -> None:
    with FakeOpenAI() as server:
        server.behave("hybrid", fail_status=400)  # not retryable: one attempt each

        async def main() -> list:
            async with router_for(mock_folder, server.base_url) as router:
                return await arun(router, questions[:2], RunSettings(progress=False), ResultsLog(None, "run"))

        results = asyncio.run(main())
    assert len(results) == 6 and all(not r.ok and "400" in (r.error or "") and not r.correct for r in results)


class Gate:
    """Answers ``after`` benchmark requests, then holds every further one until opened."""

    def __init__(self, inner: RecordedResponder, after: int) -> None:
        self.inner, self.after = inner, after
        self.answered = 0
        self.lock = threading.Lock()
        self.opened = threading.Event()

    def __call__(self, body: dict[str, Any]) -> Any:
        out = self.inner(body)
        if out is None:
            return None  # the warm-up
        with self.lock:
            self.answered += 1
            hold = self.answered > self.after
        if hold:
            self.opened.wait(timeout=60)
        return out


def test_killed_run_resumes_without_asking_twice(mock_folder: Path, questions: list[Question], tmp_path: Path) -> None:
    qs = answerable(questions)[:10]
    path = tmp_path / "results.jsonl"
    settings = RunSettings(concurrency=3, progress=False)
    total = 3 * len(qs)
    gate = Gate(RecordedResponder(qs, {"hybrid": Replay(SMALL, LARGE)}, latency=LatencyModel(scale=0.001)), after=7)

    with FakeOpenAI(responder=gate) as server:

        async def killed() -> None:
            async with router_for(mock_folder, server.base_url) as router:
                task = asyncio.ensure_future(arun(router, qs, settings, ResultsLog(path, "run")))
                # wait (bounded) until the requests that may finish have finished and the rest hang
                for _ in range(3000):
                    lines = path.read_text().count("\n") if path.exists() else 0
                    if (lines >= 7 and gate.answered >= 7 + settings.concurrency) or task.done():
                        break
                    await asyncio.sleep(0.01)
                task.cancel()  # the kill: three requests are in flight
                with pytest.raises(asyncio.CancelledError):
                    await task

        asyncio.run(killed())
        gate.opened.set()
        first = path.read_text().splitlines()
        assert len(first) == 7

        asked_before = len(bench_bodies(server, qs))
        server.reset()

        async def resumed() -> list:
            async with router_for(mock_folder, server.base_url) as router:
                with ResultsLog(path, "run") as log:
                    return await arun(router, qs, settings, log)

        results = asyncio.run(resumed())
        asked_after = len(bench_bodies(server, qs))

    assert asked_before == 10  # 7 answered + 3 held when killed
    assert asked_after == total - 7  # the finished ones were not asked again
    keys = [(r.question_id, r.mode) for r in results]
    assert len(keys) == len(set(keys)) == total
    lines = path.read_text().splitlines()
    assert len(lines) == total  # every (question, mode) written once
    assert lines[:7] == first


def test_run_benchmark_offline_end_to_end(mock_folder: Path, data_dir: Path, tmp_path: Path) -> None:
    config = RouterConfig.from_dict(config_dict(mock_folder))
    offline = Offline(replay={"hybrid": (SMALL, LARGE)}, time_scale=0.001)
    kwargs: dict[str, Any] = {
        "data_dir": data_dir,
        "sample": 9,
        "settings": RunSettings(concurrency=4, progress=False),
        "results_path": tmp_path / "r.jsonl",
        "offline": offline,
        "n_boot": 100,
    }
    backend = MockBackend(ModelFolder.load(mock_folder).manifest)
    report = run_benchmark(config, backend=backend, **kwargs)
    assert report["available"] == 23  # question 105 has no recorded answer of the reasoning stand-in
    assert report["sample"] == 9 and report["questions"] == 9 and report["offline"] is True
    assert set(report["modes"]) == set(MODES)
    assert report["modes"]["direct"]["reasoning_tokens_mean"] == 0
    assert report["modes"]["reasoning"]["reasoning_tokens_mean"] > 0
    assert report["replay"] == {"hybrid": {"direct": SMALL, "reasoning": LARGE}}
    assert "not live model calls" in report["note"]
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 27
    # a bigger sample with the same seed only asks the new questions
    again = run_benchmark(config, backend=MockBackend(backend.manifest), **{**kwargs, "sample": 12})
    assert again["questions"] == 12 and len((tmp_path / "r.jsonl").read_text().splitlines()) == 36
    assert again["modes"]["direct"]["n"] == 12
    # another set-up into the same file is refused
    with pytest.raises(ConfigError, match="another benchmark set-up"):
        run_benchmark(
            config, backend=MockBackend(backend.manifest), **{**kwargs, "settings": RunSettings(stream=False)}
        )


def test_params_per_mode() -> None:
    s = RunSettings(temperature=None, max_tokens=512)
    assert params_for("direct", s) == {"cache": "bypass", "reasoning": False, "max_tokens": 512}
    assert params_for("reasoning", s)["reasoning"] is True
    assert "reasoning" not in params_for("routed", RunSettings())
    with pytest.raises(ConfigError, match="unknown or no modes"):
        RunSettings(modes=("direct", "thinking"))
    with pytest.raises(ConfigError, match="concurrency"):
        RunSettings(concurrency=0)


def test_replay_map_defaults_to_the_tier_reference_and_its_sibling() -> None:
    config = RouterConfig.from_dict(
        {
            "tiers": [
                {"name": "slm", "model": "a", "reference_model": "Meta-Llama-3_1-8B-Instruct"},
                {"name": "llm", "model": "b", "reference_model": "Meta-Llama-3_1-70B-Instruct"},
            ],
            "models": [
                {"name": "a", "tier": "slm", "base_url": "http://x/v1"},
                {"name": "b", "tier": "llm", "base_url": "http://y/v1"},
            ],
        }
    )
    # the 70B model has no larger sibling on record: it needs to be told
    with pytest.raises(ConfigError, match="--replay 'b=DIRECT,REASONING'"):
        replay_map(config)
    m = replay_map(config, {"b": ("Meta-Llama-3_1-70B-Instruct", "gemini-1.5-pro-002")})
    assert m["a"] == Replay("Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct")
    assert m["b"] == Replay("Meta-Llama-3_1-70B-Instruct", "gemini-1.5-pro-002")
    with pytest.raises(ConfigError, match="do not list"):
        replay_map(config, {"c": ("x", "y")})


def test_offline_config_points_every_model_at_the_fake_server() -> None:
    config = RouterConfig.from_dict(
        {
            "tiers": [{"name": "slm", "model": "a", "reference_model": SMALL}],
            "models": [
                {
                    "name": "a",
                    "tier": "slm",
                    "api_key_env": "SOME_KEY",
                    "providers": [
                        {"name": "p1", "base_url": "https://one/v1"},
                        {"name": "p2", "base_url": "https://two/v1"},
                    ],
                }
            ],
        }
    )
    out = offline_config(config, "http://127.0.0.1:1234/v1")
    [m] = out.models
    assert m.base_url == "http://127.0.0.1:1234/v1" and m.providers == [] and m.api_key_env is None
    assert [e.base_url for e in m.endpoints()] == ["http://127.0.0.1:1234/v1"]


def test_fingerprint_ignores_where_endpoints_are_but_not_what_decides_answers(mock_folder: Path) -> None:
    s = RunSettings()
    a = RouterConfig.from_dict(config_dict(mock_folder, "http://127.0.0.1:1/v1"))
    b = RouterConfig.from_dict(config_dict(mock_folder, "http://127.0.0.1:2/v1"))
    assert fingerprint(a, split="test", settings=s) == fingerprint(b, split="test", settings=s)
    assert fingerprint(a, split="test", settings=s) != fingerprint(a, split="dev", settings=s)
    assert fingerprint(a, split="test", settings=s) != fingerprint(a, split="test", settings=RunSettings(max_tokens=9))
    stricter = RouterConfig.from_dict({**config_dict(mock_folder), "policy": {"reasoning": {"min_complexity": 0.9}}})
    assert fingerprint(a, split="test", settings=s) != fingerprint(stricter, split="test", settings=s)
    # concurrency and the progress bar change how fast, not what is answered
    assert fingerprint(a, split="test", settings=s) == fingerprint(
        a, split="test", settings=RunSettings(concurrency=32, progress=False)
    )
