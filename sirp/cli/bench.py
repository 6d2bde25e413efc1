"""``sirp bench latency``: classifier latency and throughput, variants side by side."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``bench`` and its ``latency`` benchmark."""
    p = sub.add_parser("bench", help="benchmarks")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    lat = bsub.add_parser(
        "latency",
        help="one-query latency (p50/p99) and batch throughput: router, ONNX int8, ONNX fp32, PyTorch fp32",
    )
    lat.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    lat.add_argument("--config", type=Path, help="router config YAML for the router variant (tiers, policy)")
    lat.add_argument("--checkpoint", type=Path, help="PyTorch checkpoint of the same model (for pytorch-fp32)")
    lat.add_argument("--threads", type=int, default=2)
    lat.add_argument("--repeats", type=int, default=5, help="passes over the prompt set")
    lat.add_argument("--batch-size", type=int, default=32)
    lat.add_argument("--variants", default="router,onnx-int8,onnx-fp32,pytorch-fp32")
    lat.add_argument("--json", action="store_true", help="print the results as JSON")
    lat.set_defaults(func=_latency)


def _latency(args: argparse.Namespace) -> int:
    from sirp.bench.latency import VARIANTS, format_table, run_benchmark
    from sirp.errors import ConfigError
    from sirp.router import DEFAULT_MODEL_DIR

    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ConfigError(f"unknown benchmark variants {unknown}; choose from {', '.join(VARIANTS)}")
    results = run_benchmark(
        args.model or DEFAULT_MODEL_DIR,
        checkpoint=args.checkpoint,
        variants=variants,
        threads=args.threads,
        repeats=args.repeats,
        batch_size=args.batch_size,
        config=args.config,
    )
    print(json.dumps(results, indent=2) if args.json else format_table(results))
    return 0
