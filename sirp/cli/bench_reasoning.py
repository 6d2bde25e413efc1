"""``sirp bench reasoning``: MMLU-Pro answered directly, with reasoning, and as sirp routes it."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(bsub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``bench reasoning`` under the ``bench`` command's benchmarks."""
    p = bsub.add_parser(
        "reasoning",
        help="MMLU-Pro answered directly, always reasoning, and routed: accuracy, latency, TTFT, tokens",
        description="Sends MMLU-Pro questions through sirp's dispatch once per mode (direct: reasoning forced off; "
        "reasoning: forced on; routed: the router decides) to the config's models, reads the answer letter and "
        "reports accuracy (95%% bootstrap CI), mean and p95 latency, mean time to first token and mean "
        "prompt/completion/reasoning tokens per mode and per category. --offline replays recorded MMLU-Pro "
        "outcomes from a fake server on loopback with a synthetic latency model instead of calling the endpoints.",
    )
    add_router_options(p)
    p.add_argument("--data-dir", type=Path, help="benchmark data folder (default: $SIRP_DATA_DIR or ../shared/data)")
    p.add_argument("--split", choices=["test", "dev"], default="test", help="dev to tune on, test to report")
    p.add_argument("--sample", type=int, help="ask N questions of the split, in a seeded order (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seeds the sample, the bootstrap and the offline replay")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight at once")
    p.add_argument("--modes", default="direct,reasoning,routed", help="comma-separated: direct, reasoning, routed")
    p.add_argument(
        "--results", type=Path, help="JSONL of finished requests, resumed on restart (default: OUT/results.jsonl)"
    )
    p.add_argument("--out", type=Path, help="folder for report.json, reasoning.md and the PNG plots")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    p.add_argument("--no-stream", action="store_true", help="plain completions (no time to first token)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature sent with each request")
    p.add_argument("--max-tokens", type=int, help="max_tokens sent with each request (default: the server's)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    off = p.add_argument_group("offline replay (no model calls)")
    off.add_argument(
        "--offline", action="store_true", help="answer from recorded outcomes on a local fake server (see docs)"
    )
    off.add_argument(
        "--replay",
        action="append",
        default=[],
        metavar="MODEL=DIRECT,REASONING",
        help="recorded models answering for MODEL directly and when reasoning (default: its tier's "
        "reference_model and that model's larger sibling)",
    )
    off.add_argument(
        "--time-scale", type=float, default=1.0, help="synthetic waits × this (1 = real time; 0.01 for a quick look)"
    )
    p.set_defaults(func=run)


def _replays(specs: list[str]) -> dict[str, tuple[str, str]]:
    from sirp.errors import ConfigError

    out: dict[str, tuple[str, str]] = {}
    for spec in specs:
        name, _, pair = spec.partition("=")
        direct, _, reasoning = pair.partition(",")
        if not name or not direct or not reasoning:
            raise ConfigError(f"--replay {spec!r}: write MODEL=DIRECT,REASONING (recorded model names)")
        out[name.strip()] = (direct.strip(), reasoning.strip())
    return out


def run(args: argparse.Namespace) -> int:
    """Run or resume the benchmark, print the tables (or JSON), write the report files."""
    from sirp.bench.reasoning import Offline, RunSettings, run_benchmark
    from sirp.bench.reasoning_report import format_table, write_plots
    from sirp.cli.route import load_config
    from sirp.errors import ConfigError
    from sirp.evaluation import datasets as ds

    if not args.config:
        raise ConfigError("bench reasoning needs --config: a router config whose models: say what to call")
    if args.time_scale <= 0:
        raise ConfigError(f"--time-scale must be above 0, got {args.time_scale}")
    config = load_config(args)
    settings = RunSettings(
        modes=tuple(m.strip() for m in args.modes.split(",") if m.strip()),
        concurrency=args.concurrency,
        stream=not args.no_stream,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        progress=not args.no_progress,
    )
    offline = Offline(_replays(args.replay), time_scale=args.time_scale, seed=args.seed) if args.offline else None
    if args.replay and not args.offline:
        raise ConfigError("--replay only applies with --offline")
    results = args.results or (args.out / "results.jsonl" if args.out else None)
    report = run_benchmark(
        config,
        data_dir=ds.find_data_dir(args.data_dir),
        split=args.split,
        sample=args.sample,
        seed=args.seed,
        settings=settings,
        results_path=results,
        offline=offline,
        n_boot=args.bootstrap,
    )
    report["results_file"] = str(results) if results else None
    table = format_table(report)
    print(json.dumps(report, indent=2) if args.json else table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
        (args.out / "reasoning.md").write_text(table + "\n", encoding="utf-8")
        written = [args.out / "report.json", args.out / "reasoning.md", *write_plots(report, args.out)]
        if not args.json:
            print("\nwrote " + ", ".join(str(p) for p in written))
    return 0
