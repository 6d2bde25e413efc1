"""``sirp eval routing``: a config's policy on MMLU-Pro's recorded answers: accuracy, words, cost, frontier."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``eval routing`` under the ``eval`` command's suites."""
    p = sub.add_parser(
        "routing",
        help="score a config's routing policy on recorded answers: accuracy, words, cost, frontier",
        description="Routes every MMLU-Pro question of a split with the config's policy, looks up what the "
        "chosen tier's reference model actually answered (mmlu-pro/outcomes.jsonl), and compares accuracy, "
        "words and estimated cost (words × 1.3 tokens × price_output_per_m) with every tier alone, a random "
        "mix and the oracle. Prints a Markdown table; --out also writes report.json, routing.md and "
        "frontier.png (gain_threshold swept).",
    )
    add_router_options(p)
    p.add_argument("--data-dir", type=Path, help="benchmark data folder (default: $SIRP_DATA_DIR or ../shared/data)")
    p.add_argument("--split", choices=["test", "dev"], default="test", help="dev to tune on, test to report")
    p.add_argument("--limit", type=int, help="only the first N questions of the split (quick checks)")
    p.add_argument("--out", type=Path, help="folder for report.json, routing.md and frontier.png")
    p.add_argument("--json", action="store_true", help="print the full report as JSON instead of the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate the config's policy and print the table."""
    from sirp.cli.route import load_router
    from sirp.errors import InputError
    from sirp.evaluation import datasets as ds
    from sirp.evaluation.routing import evaluate_routing, format_table, write_frontier

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    data_dir = ds.find_data_dir(args.data_dir)
    examples = ds.mmlu_pro(data_dir, args.split)[: args.limit]
    with load_router(args) as router:
        report = evaluate_routing(router, examples, split=args.split)
    table = format_table(report)
    print(json.dumps(report, indent=2) if args.json else table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        (args.out / "routing.md").write_text(table + "\n", encoding="utf-8")
        print(f"wrote {args.out / 'report.json'}, {args.out / 'routing.md'}")
        print(f"wrote {write_frontier(report, args.out / 'frontier.png')}")
    return 0
