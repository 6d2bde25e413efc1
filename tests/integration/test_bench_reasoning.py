"""``sirp bench reasoning --offline`` end to end: the bundled classifier routes real MMLU-Pro questions,
sirp's dispatch sends them over HTTP to the fake server replaying the recorded outcomes, and the
command writes its table, JSON and plots; a second run resumes and asks nothing again.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sirp.bench.mcq import load_questions, sample_questions
from sirp.cli.main import main

pytestmark = [pytest.mark.slow, pytest.mark.data]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "bench-reasoning.yaml"
DIRECT, REASONING = "Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct"
N = 30
#: A sample on which the two recordings differ (seed 0's 30 questions happen to tie, 21 vs 21).
SEED = 4


def bench(*args: str) -> list[str]:
    return [
        "bench", "reasoning", "--config", str(EXAMPLE), "--offline", "--sample", str(N), "--concurrency", "4",
        "--time-scale", "0.001", "--bootstrap", "200", "--seed", str(SEED), "--no-progress", *args,
    ]  # fmt: skip


def test_offline_bench_end_to_end(shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main([*bench("--data-dir", str(shared_data), "--out", str(out), "--json")]) == 0
    report = json.loads(capsys.readouterr().out)

    # the files
    assert json.loads((out / "report.json").read_text())["modes"] == report["modes"]
    table = (out / "reasoning.md").read_text()
    for png in ("reasoning_tradeoff.png", "reasoning_categories.png"):
        data = (out / png).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    keys = {(r["question_id"], r["mode"]) for r in lines}
    assert len(lines) == len(keys) == 3 * N and all(r["error"] is None for r in lines)

    # the same questions, from the data: what the recordings say each mode must score
    questions = [q for q in load_questions(shared_data, "test") if {DIRECT, REASONING} <= set(q.outcomes)]
    asked = sample_questions(questions, N, seed=SEED)
    assert {q.id for q in asked} == {k[0] for k in keys}
    expect_direct = sum(q.outcomes[DIRECT] for q in asked) / N
    expect_reasoning = sum(q.outcomes[REASONING] for q in asked) / N
    direct, reasoning, routed = (report["modes"][m] for m in ("direct", "reasoning", "routed"))
    assert direct["accuracy"] == pytest.approx(expect_direct)
    assert reasoning["accuracy"] == pytest.approx(expect_reasoning)
    # the stand-in is right more often than the direct model on these questions, and so is reasoning mode
    assert expect_reasoning > expect_direct and reasoning["accuracy"] > direct["accuracy"]
    # reasoning costs tokens: the stand-in's recorded answer length, and none when direct
    assert direct["reasoning_tokens_mean"] == 0 and direct["reasoning_share"] == 0
    assert reasoning["reasoning_tokens_mean"] == pytest.approx(
        sum(math.ceil(q.words[REASONING] * 1.3) for q in asked) / N
    )
    assert reasoning["completion_tokens_mean"] > 10 * direct["completion_tokens_mean"]
    # the router reasons on some questions, not all: it lands between the two on tokens
    assert 0 < routed["reasoning_share"] < 1
    assert direct["completion_tokens_mean"] < routed["completion_tokens_mean"] < reasoning["completion_tokens_mean"]
    for s in (direct, reasoning, routed):
        assert s["n"] == N and s["errors"] == 0 and s["unanswered"] == 0
        assert s["accuracy_low"] <= s["accuracy"] <= s["accuracy_high"]
        assert s["ttft_mean_ms"] is not None and s["latency_p95_ms"] >= s["latency_mean_ms"] * 0.5
    assert sum(c["direct"]["n"] for c in report["categories"].values()) == N
    assert "| routed vs reasoning |" in table and "not live model calls" in table

    # run again: everything is in the results file, nothing is asked again, the table prints
    assert main([*bench("--data-dir", str(shared_data), "--out", str(out))]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"MMLU-Pro test: {N} questions") and "| direct | 30 |" in printed
    assert len((out / "results.jsonl").read_text().splitlines()) == 3 * N


def test_offline_needs_recorded_models_for_every_model(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "router.yaml"
    config.write_text(
        "tiers:\n  - {name: slm, model: big, reference_model: Meta-Llama-3_1-70B-Instruct}\n"
        "models:\n  - {name: big, tier: slm, base_url: 'http://localhost:8000/v1', family: qwen3}\n"
    )
    args = ["bench", "reasoning", "--config", str(config), "--offline", "--data-dir", str(shared_data)]
    assert main([*args, "--sample", "2"]) == 2
    assert "--replay 'big=DIRECT,REASONING'" in capsys.readouterr().err
    assert main([*args, "--sample", "0"]) == 2
    assert "--sample must be at least 1" in capsys.readouterr().err
