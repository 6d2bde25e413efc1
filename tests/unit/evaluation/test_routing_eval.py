"""``sirp eval routing`` on small synthetic outcomes (MockBackend router), and once on the real data if present."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sirp import InputError, SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.config import PolicyConfig
from sirp.config.schema import RouterConfig
from sirp.decision import RoutingDecision
from sirp.evaluation.datasets import Example
from sirp.evaluation.routing import (
    TOKENS_PER_WORD,
    _tier_index,
    evaluate_routing,
    format_table,
    score_choices,
    sweep_values,
    tier_outcomes,
    write_frontier,
)

WORDS = ["cell", "gene", "court", "war", "king", "sum", "prime", "matrix", "treaty", "tort"]


def synthetic(n: int = 80, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
        out.append(
            Example(
                id=f"q{i}",
                text=text,
                category=None,
                outcomes={"small-model": rng.random() < 0.5, "large-model": rng.random() < 0.8},
                words={"small-model": rng.randint(20, 60), "large-model": rng.randint(40, 120)},
            )
        )
    return out


def priced(mock_config: dict, **policy: Any) -> dict:
    mock_config["models"] = [
        {"name": "small", "tier": "slm", "base_url": "http://127.0.0.1:9/v1", "price_output_per_m": 0.2},
        {"name": "large", "tier": "llm", "base_url": "http://127.0.0.1:9/v1", "price_output_per_m": 10.0},
    ]
    if policy:
        mock_config["policy"] = policy
    return mock_config


def build(folder: Path, config: dict) -> SemanticRouter:
    return SemanticRouter(config, backend=MockBackend(ModelFolder.load(folder).manifest))


def test_score_choices_counts_accuracy_words_cost_and_shares(mock_config: dict) -> None:
    examples = [
        Example(
            "a", "x", None, {"small-model": True, "large-model": True}, words={"small-model": 10, "large-model": 30}
        ),
        Example(
            "b", "y", None, {"small-model": False, "large-model": True}, words={"small-model": 20, "large-model": 40}
        ),
        Example("c", "z", None, {"large-model": True}),  # no small answer recorded: skipped
    ]
    o = tier_outcomes(RouterConfig.from_dict(priced(mock_config)), examples)
    assert o.skipped == 1 and o.correct.tolist() == [[True, True], [False, True]]
    row = score_choices("mix", np.array([0, 1]), o)
    assert row["accuracy"] == 1.0 and row["mean_words"] == 25.0
    expected = (10 * 0.2 + 40 * 10.0) * TOKENS_PER_WORD / 1e6
    assert row["cost_usd"] == pytest.approx(expected)
    assert row["cost_per_1k_usd"] == pytest.approx(expected / 2 * 1000)
    assert row["share"] == {"slm": 0.5, "llm": 0.5}


def test_unknown_reference_model_is_a_clear_error(mock_config: dict) -> None:
    examples = [Example("a", "x", None, {"other": True})]
    with pytest.raises(InputError, match=r"no answers of small-model, large-model .* they hold: other"):
        tier_outcomes(RouterConfig.from_dict(mock_config), examples)


def test_a_decision_for_an_unconfigured_tier_cannot_be_scored() -> None:
    d = RoutingDecision(
        category="math",
        confidence=1,
        scores={"math": 1.0},
        success={},
        complexity=0,
        tier="lrm",
        reasoning=False,
        model="big",
        truncated=False,
        latency_ms=0,
    )
    with pytest.raises(InputError, match="no tier lrm is configured"):
        _tier_index(d, ["slm", "llm"])


def test_report_compares_router_baselines_and_oracle(mock_folder: Path, mock_config: dict) -> None:
    examples = synthetic()
    with build(mock_folder, priced(mock_config, gain_threshold=0.3)) as router:
        report = evaluate_routing(router, examples)
    rows = {r["policy"]: r for r in report["rows"]}
    assert list(rows) == [
        "sirp router",
        "always slm (small)",
        "always llm (large)",
        "random mix (same shares)",
        "oracle (cheapest correct)",
    ]
    small = np.mean([e.outcomes["small-model"] for e in examples])
    large = np.mean([e.outcomes["large-model"] for e in examples])
    either = np.mean([e.outcomes["small-model"] or e.outcomes["large-model"] for e in examples])
    assert rows["always slm (small)"]["accuracy"] == pytest.approx(small)
    assert rows["always llm (large)"]["accuracy"] == pytest.approx(large)
    assert rows["oracle (cheapest correct)"]["accuracy"] == pytest.approx(either)
    assert rows["always slm (small)"]["pgr"] == pytest.approx(0) and rows["always llm (large)"]["pgr"] == pytest.approx(
        1
    )
    # the oracle takes the small model whenever it was right: never dearer than always-large
    assert rows["oracle (cheapest correct)"]["cost_usd"] <= rows["always llm (large)"]["cost_usd"]
    r = rows["sirp router"]
    assert sum(r["share"].values()) == pytest.approx(1)
    mix = rows["random mix (same shares)"]
    assert mix["accuracy"] == pytest.approx(r["share"]["slm"] * small + r["share"]["llm"] * large)
    assert report["n"] == len(examples) and report["skipped"] == 0 and report["priced"]


def test_sweep_spans_always_small_to_always_large(mock_folder: Path, mock_config: dict) -> None:
    with build(mock_folder, priced(mock_config)) as router:
        report = evaluate_routing(router, synthetic(40))
    sweep = report["sweep"]
    default = PolicyConfig().gain_threshold
    assert sweep["varies"] == "gain_threshold" and sweep["current"] == default
    curve = sweep["curve"]
    assert [p["value"] for p in curve] == sorted(p["value"] for p in curve)
    assert default in [p["value"] for p in curve]
    rows = {r["policy"]: r for r in report["rows"]}
    # the lowest threshold escalates everything, the highest nothing (MockBackend: large always gains a bit)
    assert curve[0]["share"]["llm"] == 1.0 and curve[0]["accuracy"] == rows["always llm (large)"]["accuracy"]
    assert curve[-1]["share"]["slm"] == 1.0 and curve[-1]["accuracy"] == rows["always slm (small)"]["accuracy"]
    shares = [p["share"]["llm"] for p in curve]
    assert shares == sorted(shares, reverse=True)
    # the configured point lies on the curve
    at = next(p for p in curve if p["value"] == default)
    assert at["accuracy"] == rows["sirp router"]["accuracy"]


def test_complexity_rule_sweeps_a_cut_point_shift(mock_folder: Path, mock_config: dict) -> None:
    cfg = priced(mock_config, tier_rule="complexity", complexity_cutpoints={"llm": 0.5})
    assert sweep_values(RouterConfig.from_dict(cfg))[0] == "cut-point shift"
    with build(mock_folder, cfg) as router:
        report = evaluate_routing(router, synthetic(30))
    assert report["tier_rule"] == "complexity" and report["sweep"]["current"] == 0.0
    curve = report["sweep"]["curve"]
    assert curve[0]["share"]["llm"] == 1.0 and curve[-1]["share"]["slm"] == 1.0


def test_table_and_frontier(mock_folder: Path, mock_config: dict, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    with build(mock_folder, priced(mock_config)) as router:
        report = evaluate_routing(router, synthetic(30), split="dev")
    table = format_table(report)
    assert "| policy | accuracy | PGR | mean words | cost / 1k questions (USD) | tier shares |" in table
    assert "| sirp router |" in table and "| oracle (cheapest correct) |" in table and "MMLU-Pro dev" in table
    assert "slm = small (as small-model)" in table
    png = write_frontier(report, tmp_path / "plots" / "frontier.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_without_prices_the_table_says_so_and_the_plot_uses_words(mock_router: SemanticRouter, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    report = evaluate_routing(mock_router, synthetic(20))
    assert not report["priced"] and "configure models: with prices" in format_table(report)
    assert write_frontier(report, tmp_path / "f.png").is_file()


def test_cli_registers_the_routing_suite() -> None:
    from sirp.cli import eval_routing, evaluate
    from sirp.cli.main import build_parser

    args = build_parser().parse_args(["eval", "routing", "--config", "x.yaml", "--limit", "5", "--out", "o"])
    assert args.func is eval_routing.run and args.config == "x.yaml" and args.limit == 5
    assert build_parser().parse_args(["eval", "--limit", "3"]).func is evaluate.run


def test_on_the_recorded_mmlu_pro_outcomes(shared_data: Path, mock_folder: Path, tmp_path: Path) -> None:
    """The real outcomes file, routed by MockBackend: only the plumbing is checked, not the router's quality."""
    import json

    from sirp.backends.model_folder import MANIFEST_NAME, ModelManifest
    from sirp.evaluation.datasets import mmlu_pro

    refs = ["Meta-Llama-3_1-8B-Instruct", "Meta-Llama-3_1-70B-Instruct"]
    manifest = json.loads((mock_folder / MANIFEST_NAME).read_text())
    manifest["reference_models"] = refs
    (mock_folder / MANIFEST_NAME).write_text(ModelManifest(**manifest).model_dump_json())
    cfg = {
        "classifier": {"model": str(mock_folder)},
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": refs[0]},
            {"name": "llm", "model": "large", "reference_model": refs[1]},
        ],
    }
    examples = mmlu_pro(shared_data, "test")[:200]
    assert all(set(e.words) == set(e.outcomes) for e in examples)
    with build(mock_folder, priced(cfg)) as router:
        report = evaluate_routing(router, examples)
    rows = {r["policy"]: r for r in report["rows"]}
    assert report["n"] == 200
    assert rows["always llm (large)"]["accuracy"] > rows["always slm (small)"]["accuracy"]
    assert rows["oracle (cheapest correct)"]["accuracy"] >= rows["always llm (large)"]["accuracy"]
    assert 20 < rows["always slm (small)"]["mean_words"] < 1000


def write_mmlu_pro(folder: Path, examples: list[Example]) -> Path:
    """A data folder laid out like ../shared/data/mmlu-pro, holding ``examples`` as its test split."""
    import json

    d = folder / "mmlu-pro"
    d.mkdir(parents=True)
    with (d / "questions.jsonl").open("w") as q, (d / "outcomes.jsonl").open("w") as o:
        for i, e in enumerate(examples):
            q.write(json.dumps({"question_id": i, "question": e.text, "category": "math", "split": "test"}) + "\n")
            row = {m: {"correct": ok, "words": e.words[m]} for m, ok in e.outcomes.items()}
            o.write(json.dumps({"question_id": i, **row}) + "\n")
    return folder


def test_cli_prints_the_table_and_writes_the_files(
    mock_folder: Path, mock_config: dict, tmp_path: Path, monkeypatch, capsys
) -> None:
    pytest.importorskip("matplotlib")
    from sirp.cli import route
    from sirp.cli.main import main

    data = write_mmlu_pro(tmp_path / "data", synthetic(25))
    monkeypatch.setattr(route, "load_router", lambda args: build(mock_folder, priced(mock_config)))
    out = tmp_path / "out"
    assert main(["eval", "routing", "--data-dir", str(data), "--limit", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Routing on MMLU-Pro test (n=20)" in printed and "| sirp router |" in printed
    assert {p.name for p in out.iterdir()} == {"report.json", "routing.md", "frontier.png"}
    assert (out / "routing.md").read_text().startswith("Routing on MMLU-Pro test")
    assert main(["eval", "routing", "--data-dir", str(data), "--limit", "0"]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
