"""The results file that makes a benchmark run resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sirp.bench.reasoning_results import Result, ResultsLog
from sirp.errors import ConfigError


def result(qid: int, mode: str = "direct", *, error: str | None = None, run: str = "r1", **kw: object) -> Result:
    return Result(question_id=qid, mode=mode, category="math", expected="A", error=error, run=run, **kw)  # type: ignore[arg-type]


def test_results_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "results.jsonl"
    with ResultsLog(path, "r1") as log:
        assert log.load() == {}
        log.append(result(1, answer="A", correct=True, latency_ms=12.5, reasoning_tokens=40))
        log.append(result(1, "routed"))
    lines = path.read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["latency_ms"] == 12.5
    done = ResultsLog(path, "r1").load()
    assert set(done) == {(1, "direct"), (1, "routed")}
    assert done[(1, "direct")] == result(1, answer="A", correct=True, latency_ms=12.5, reasoning_tokens=40)


def test_another_set_up_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with ResultsLog(path, "r1") as log:
        log.append(result(1))
    with pytest.raises(ConfigError, match="another benchmark set-up"):
        ResultsLog(path, "r2").load()


def test_failures_are_asked_again_but_never_replace_an_answer(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with ResultsLog(path, "r1") as log:
        log.append(result(1, error="503"))  # failed, then answered on a restart
        log.append(result(1, answer="B"))
        log.append(result(2, answer="C"))  # answered, then (somehow) a failure after it
        log.append(result(2, error="timeout"))
        log.append(result(3, error="503"))  # only failed
    log2 = ResultsLog(path, "r1")
    done = log2.load()
    assert set(done) == {(1, "direct"), (2, "direct")}
    assert done[(1, "direct")].answer == "B" and done[(2, "direct")].answer == "C"
    assert not log2.results[(3, "direct")].ok  # kept for the report until asked again


def test_a_line_cut_off_by_a_kill_is_skipped_and_the_next_starts_fresh(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with ResultsLog(path, "r1") as log:
        log.append(result(1))
    with path.open("a") as fh:
        fh.write(result(2).to_json()[:30])  # killed mid-write: no newline
    log = ResultsLog(path, "r1")
    assert set(log.load()) == {(1, "direct")} and log.skipped_lines == 1
    log.append(result(3))
    log.close()
    log = ResultsLog(path, "r1")
    assert set(log.load()) == {(1, "direct"), (3, "direct")}
    assert log.skipped_lines == 1  # only the cut line; the new record did not glue onto it


def test_without_a_path_results_stay_in_memory() -> None:
    log = ResultsLog(None, "r1")
    assert log.load() == {}
    log.append(result(1))
    log.close()
    assert list(log.results) == [(1, "direct")]


def test_unknown_fields_from_a_newer_version_are_ignored() -> None:
    data = json.loads(result(4).to_json()) | {"added_later": 1}
    assert Result.from_dict(data) == result(4)
