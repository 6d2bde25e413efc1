"""Aggregation, intervals, comparisons, table and plots of the reasoning benchmark."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sirp.bench.reasoning_report import bootstrap_mean, format_table, summarize, write_plots
from sirp.bench.reasoning_results import Result


def r(qid: int, mode: str, correct: bool, *, cat: str = "math", latency: float = 100.0, **kw: object) -> Result:
    return Result(
        question_id=qid,
        mode=mode,
        category=cat,
        expected="A",
        answer="A" if correct else "B",
        correct=correct,
        latency_ms=latency,
        **kw,  # type: ignore[arg-type]
    )


def test_bootstrap_interval_brackets_the_mean_and_narrows_with_data() -> None:
    rng = np.random.default_rng(0)
    small = rng.random(50) < 0.6
    large = rng.random(5000) < 0.6
    lo, hi = bootstrap_mean(small, seed=1)
    assert lo < small.mean() < hi
    assert bootstrap_mean(small, seed=1) == (lo, hi)  # seeded
    lo2, hi2 = bootstrap_mean(large, seed=1)
    assert lo2 < 0.6 < hi2 and hi2 - lo2 < (hi - lo) / 5
    assert bootstrap_mean([1.0, 1.0, 1.0]) == (1.0, 1.0)
    assert all(np.isnan(v) for v in bootstrap_mean([]))


def test_bootstrap_in_blocks_matches_the_coverage_of_one_pass() -> None:
    # 3000 values × 1000 resamples goes through several blocks; the interval must stay sane
    x = (np.arange(3000) % 4 == 0).astype(float)
    lo, hi = bootstrap_mean(x, n_boot=1000)
    se = np.sqrt(0.25 * 0.75 / 3000)
    assert lo == pytest.approx(0.25 - 1.96 * se, abs=0.004) and hi == pytest.approx(0.25 + 1.96 * se, abs=0.004)


def test_per_mode_figures() -> None:
    results = [
        r(1, "direct", True, latency=100, ttft_ms=10, prompt_tokens=50, completion_tokens=5, routing_ms=2),
        r(2, "direct", False, latency=300, ttft_ms=30, prompt_tokens=70, completion_tokens=7, routing_ms=4),
        Result(question_id=3, mode="direct", category="law", expected="C", error="503 after retries"),
        r(1, "reasoning", True, latency=1000, completion_tokens=105, reasoning_tokens=100, reasoning=True),
        r(2, "reasoning", True, latency=3000, completion_tokens=305, reasoning_tokens=300, reasoning=True),
        r(3, "reasoning", False, cat="law", latency=2000, completion_tokens=205, reasoning_tokens=200, reasoning=True),
    ]
    report = summarize(results, ["direct", "reasoning"], n_boot=200, meta={"title": "t"})
    d, s = report["modes"]["direct"], report["modes"]["reasoning"]
    assert report["title"] == "t" and report["questions"] == 3
    # a failed request counts as wrong, and is left out of latency and token means
    assert d["n"] == 3 and d["errors"] == 1 and d["accuracy"] == pytest.approx(1 / 3)
    assert d["latency_mean_ms"] == 200 and d["ttft_mean_ms"] == 20 and d["routing_mean_ms"] == 3
    assert d["prompt_tokens_mean"] == 60 and d["completion_tokens_mean"] == 6 and d["reasoning_tokens_mean"] == 0
    assert d["latency_p95_ms"] == pytest.approx(np.percentile([100, 300], 95))
    assert s["accuracy"] == pytest.approx(2 / 3) and s["reasoning_tokens_mean"] == 200 and s["reasoning_share"] == 1
    assert s["accuracy_low"] <= s["accuracy"] <= s["accuracy_high"]
    assert s["ttft_mean_ms"] is None  # not streamed: no time to first token
    # per category: law has the failed direct request and the wrong reasoning one
    law = report["categories"]["law"]
    assert law["direct"]["n"] == 1 and law["direct"]["errors"] == 1 and law["reasoning"]["accuracy"] == 0
    assert report["categories"]["math"]["reasoning"]["accuracy"] == 1


def test_comparisons_are_paired_over_common_questions() -> None:
    results = []
    for q in range(40):
        results.append(r(q, "direct", q % 2 == 0, latency=100, completion_tokens=10))
        results.append(r(q, "reasoning", q % 4 != 3, latency=1000, completion_tokens=200))
        results.append(r(q, "routed", q % 4 != 3 if q < 20 else q % 2 == 0, latency=500, completion_tokens=100))
    results.append(r(99, "direct", True))  # asked in one mode only: not in the comparisons
    report = summarize(results, ["direct", "reasoning", "routed"], n_boot=300)
    by = {(c["mode"], c["against"]): c for c in report["comparisons"]}
    assert list(by) == [("routed", "reasoning"), ("routed", "direct"), ("reasoning", "direct")]
    rd = by[("reasoning", "direct")]
    assert rd["n"] == 40 and rd["accuracy_delta"] == pytest.approx(0.75 - 0.5)
    assert rd["accuracy_delta_low"] < 0.25 < rd["accuracy_delta_high"]
    assert rd["latency_change"] == pytest.approx(9.0) and rd["completion_tokens_change"] == pytest.approx(19.0)
    rr = by[("routed", "reasoning")]
    assert rr["latency_change"] == pytest.approx(-0.5) and rr["completion_tokens_change"] == pytest.approx(-0.5)
    assert rr["accuracy_delta"] == pytest.approx((0.5 - 0.75) / 2)


def test_table_and_plots(tmp_path: Path) -> None:
    results = [
        r(q, m, (q + i) % 3 != 0, cat=["math", "law"][q % 2])
        for q in range(12)
        for i, m in enumerate(["direct", "reasoning", "routed"])
    ]
    report = summarize(results, ["direct", "reasoning", "routed"], n_boot=100, meta={"title": "My run", "note": "N.B."})
    table = format_table(report)
    lines = table.splitlines()
    assert lines[0] == "My run" and lines[-1] == "N.B."
    assert sum(1 for line in lines if line.startswith(("| direct |", "| reasoning |", "| routed |"))) == 3
    assert "| routed vs reasoning | 12 |" in table
    assert any(line.startswith("| law | 6 |") for line in lines) and any(
        line.startswith("| math | 6 |") for line in lines
    )
    paths = write_plots(report, tmp_path / "plots")
    assert [p.name for p in paths] == ["reasoning_tradeoff.png", "reasoning_categories.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 10_000


def test_report_is_strict_json_without_intervals_or_results(tmp_path: Path) -> None:
    import json

    results = [r(1, "direct", True), r(2, "direct", False)]
    report = summarize(results, ["direct", "routed"], n_boot=0)  # routed: nothing ran yet
    text = json.dumps(report, allow_nan=False)  # no NaN anywhere
    assert json.loads(text)["modes"]["direct"]["accuracy_low"] is None
    assert report["modes"]["routed"]["n"] == 0 and report["modes"]["routed"]["accuracy"] is None
    assert "| routed | 0 | – [–, –] |" in format_table(report)
    assert [p.name for p in write_plots(report, tmp_path)] == ["reasoning_tradeoff.png", "reasoning_categories.png"]
