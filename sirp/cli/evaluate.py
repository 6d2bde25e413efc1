"""``sirp eval``: accuracy, AUC and PGR curves of a model folder on held-out benchmarks.

``sirp eval routing`` (:mod:`sirp.cli.eval_routing`) scores a config's routing policy instead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``eval``."""
    p = sub.add_parser(
        "eval",
        help="score a model folder: category accuracy, success AUC, PGR curves with intervals",
        description="Scores on the MMLU-Pro test split, the seeds' everyday questions and the GSM8K test split.",
    )
    add_router_options(p)
    p.add_argument("--data-dir", type=Path, help="benchmark data folder (default: $SIRP_DATA_DIR or ../shared/data)")
    p.add_argument("--precision", choices=["auto", "int8", "fp32"], default="auto")
    p.add_argument("--out", type=Path, help="folder for report.json and PNG plots")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--split", choices=["test", "dev"], default="test", help="dev to tune on, test to report")
    p.add_argument("--limit", type=int, help="score only the first N rows of each set (quick checks)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=run)
    # `sirp eval` alone keeps scoring the model folder; a suite name picks another evaluation.
    suites = p.add_subparsers(dest="eval_suite", metavar="SUITE", required=False)
    from sirp.cli import eval_routing

    eval_routing.add_parser(suites, add_router_options)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print the report."""
    from sirp.cli.route import load_router
    from sirp.evaluation import datasets as ds
    from sirp.evaluation.report import evaluate, format_report, save, write_plots

    data_dir = ds.find_data_dir(args.data_dir)
    router = load_router(args)
    with router:
        report = evaluate(router.extractor, data_dir, n_boot=args.bootstrap, limit=args.limit, split=args.split)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    if args.out:
        save(report, args.out / "report.json")
        for p in write_plots(report, args.out):
            print(f"wrote {p}")
    return 0
