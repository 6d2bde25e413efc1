"""sirp bench cache, on small made-up data: pairs, scoring, threshold choice, latency, table and plot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sirp.bench.cache import format_table, measure_latency, pick_everyday, pick_threshold, score_everyday, score_pairs
from sirp.bench.cache_pairs import EVERYDAY_PAIRS, NEGATIVE_KINDS, POSITIVE_KINDS, build_pairs, half
from sirp.cache.memory import MemoryStore

QUESTIONS = [
    ("1", "What is the capital of France? Answer in one word.", "other"),
    ("2", "How many moons does Jupiter have, according to Galileo in 1610?", "physics"),
    ("3", "Which of the following is a prime number between 10 and 20 that is odd?", "math"),
    ("4", "Calculate the sum of 12 and 30, which is approximately what value?", "math"),
    ("5", "What is the derivative of x squared with respect to x in calculus?", "math"),
]


def test_pairs_are_deterministic_and_labelled() -> None:
    pairs = build_pairs(QUESTIONS)
    assert pairs == build_pairs(QUESTIONS)
    kinds = {p.kind for p in pairs}
    assert {"casing", "template", "reword", "truncate", "reorder"} <= kinds
    assert {"same-category", "lexical-neighbour", "number", "negation"} <= kinds
    for p in pairs:
        assert p.same == (p.kind in POSITIVE_KINDS) and (p.kind in NEGATIVE_KINDS) != p.same
        assert p.cached != p.incoming
    number = next(p for p in pairs if p.kind == "number" and p.question_id == "4")
    assert number.cached != number.incoming and "30" in number.cached
    # same-category negatives stay in the category
    by_id = {q[0]: q for q in QUESTIONS}
    for p in pairs:
        if p.kind == "same-category":
            assert any(q[1] == p.incoming and q[2] == by_id[p.question_id][2] for q in QUESTIONS)
    assert {half(q[0]) for q in QUESTIONS} <= {"tune", "report"}


def test_scoring_and_threshold_choice() -> None:
    pairs = build_pairs(QUESTIONS)
    # positives at 0.95, negatives at 0.85: any threshold in (0.85, 0.95] separates them
    sims = np.array([0.95 if p.same else 0.85 for p in pairs])
    thresholds = [0.80, 0.85, 0.90, 0.95, 0.99]
    scored = score_pairs(pairs, sims, thresholds, guard=False)
    assert scored["hit_rate"] == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert scored["false_hit_rate"] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert pick_threshold(scored) == 0.90
    # the guards stop near-duplicates whatever their similarity
    guarded = score_pairs(pairs, np.full(len(pairs), 0.99), thresholds, guard=True)
    assert guarded["by_kind"]["number"]["rate"][0] == 0.0 and guarded["by_kind"]["negation"]["rate"][0] == 0.0
    assert guarded["by_kind"]["casing"]["rate"][0] == 1.0


def test_everyday_scoring_counts_only_pairs_the_guards_let_through() -> None:
    sims = np.array([0.97 if same else 0.93 for _, _, same in EVERYDAY_PAIRS])
    ev = score_everyday(sims, [0.90, 0.95, 0.99])
    assert ev["hits"] == [15, 15, 0] and ev["n_positive"] == 15 and ev["n_negative"] == 15
    # every look-alike the guards let through hits at 0.90; none at 0.95
    assert ev["false_hits"][0] == sum(p["guards_pass"] and not p["same"] for p in ev["pairs"]) > 1
    assert ev["false_hits"][1:] == [0, 0]
    assert pick_everyday(ev) == 0.95


def test_latency_measurement_on_the_memory_store() -> None:
    r = measure_latency(lambda n: MemoryStore(n), 300, dim=16, queries=20)
    assert r["entries"] == 300 and r["queries"] == 20 and r["hits"] == 10
    assert r["p99_ms"] >= r["p50_ms"] > 0


def test_table_and_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from sirp.bench.cache import plot_thresholds

    pairs = build_pairs(QUESTIONS)
    sims = np.array([0.95 if p.same else 0.85 for p in pairs])
    t = [0.80, 0.90, 0.95]
    q = {}
    for label, guard in (("plain", False), ("guards", True)):
        s = score_pairs(pairs, sims, t, guard=guard)
        q[label] = {"tune": s, "report": s, "picked": 0.9, "at_picked": {**_at(s, 0.9)}}
    q["encode_ms_batch1"] = {"p50_ms": 1.0, "p99_ms": 2.0}
    q["everyday"] = score_everyday(np.full(len(EVERYDAY_PAIRS), 0.95), t)
    q["guards"]["everyday_at_picked"] = {"hits": 3, "false_hits": 1}
    result = {
        "data": {"split": "made-up", "questions": 5, "pairs": len(pairs), "texts": 10},
        "quality": {"router": q},
        "latency": [{"backend": "memory", "entries": 10, "p50_ms": 0.1, "p99_ms": 0.2, "put_p50_ms": 0.01}],
    }
    table = format_table(result)
    assert "| router | guards | 0.90 | 1.000 | 0.0000 | 3/15 | 1/15 |" in table and "| memory | 10 |" in table
    assert "| router | plain | 0.90 | 1.000 | 0.0000 | — | — |" in table
    png = plot_thresholds(result, tmp_path / "cache.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def _at(scored, threshold):
    from sirp.bench.cache import _at as at

    return at(scored, threshold)


def test_the_cli_lists_the_cache_benchmark() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "sirp.cli.main", "bench", "cache", "--help"], capture_output=True, text=True, timeout=60
    )
    assert p.returncode == 0 and "--encoders" in p.stdout and "--sizes" in p.stdout


def test_import_sirp_and_the_memory_cache_do_not_import_redis() -> None:
    code = (
        "import sys, sirp, sirp.router, sirp.cache\n"
        "from sirp.cache import SemanticCache\n"
        "SemanticCache()\n"
        "assert 'redis' not in sys.modules, 'redis imported'\n"
        "assert 'onnxruntime' not in sys.modules\n"
        "sirp.cache.RedisStore  # the class resolves lazily; redis loads only when a store is made\n"
        "assert 'redis' not in sys.modules\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_embedding_cache_is_per_model(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    from sirp.bench.cache import embed_cached

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    work = tmp_path / "work"
    first = embed_cached("router", model, ["what is a cell?", "why is the sky blue?"], work)
    again = embed_cached("router", model, ["what is a cell?"], work)
    assert len(list(work.glob("emb-router-*.npz"))) == 1
    assert np.array_equal(first["what is a cell?"], again["what is a cell?"])
    # a retrained model (any file changed) gets its own vectors, never the old model's
    (model / "sirp_manifest.json").write_text((model / "sirp_manifest.json").read_text() + "\n")
    embed_cached("router", model, ["what is a cell?"], work)
    assert len(list(work.glob("emb-router-*.npz"))) == 2
