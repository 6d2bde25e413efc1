"""``sirp extproc``: run sirp as Envoy's external processor (``pip install "sirp[envoy]"``).

``--envoy-config`` prints instead an Envoy bootstrap for the config's models (YAML) and exits.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["add_bench_parser", "add_parser", "run"]


def add_parser(sub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``extproc``."""
    p = sub.add_parser(
        "extproc",
        help="run sirp as Envoy's external processor (gRPC ext_proc)",
        description="Serve envoy.service.ext_proc.v3.ExternalProcessor and the gRPC health service: Envoy sends "
        "each OpenAI request, sirp answers with the chosen model, its reasoning parameters and the destination "
        "header. Options override the config's server.extproc section.",
    )
    add_router_options(p)
    p.add_argument("--host", help="address to listen on (default: server.extproc.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="gRPC port (default: server.extproc.port, 50051)")
    p.add_argument("--metrics-port", type=int, help="Prometheus /metrics port (default: server.extproc.metrics_port)")
    p.add_argument(
        "--envoy-config",
        action="store_true",
        help="print an Envoy bootstrap (YAML) for the config's models and this service, then exit",
    )
    p.add_argument("--listen-port", type=int, default=8080, help="with --envoy-config: Envoy's client port")
    p.add_argument(
        "--extproc-address", default="127.0.0.1", help="with --envoy-config: where Envoy reaches this service"
    )
    p.add_argument(
        "--log-level", choices=["critical", "error", "warning", "info", "debug"], default="info", help="log level"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config; print the Envoy bootstrap, or serve until interrupted."""
    from sirp.cli.route import load_config
    from sirp.config.loader import config_from_dict

    config = load_config(args)
    names = {"host": "host", "port": "port", "metrics_port": "metrics_port"}
    overrides = {field: v for arg, field in names.items() if (v := getattr(args, arg, None)) is not None}
    if overrides:
        merged = config.model_dump(mode="json")
        merged["server"]["extproc"].update(overrides)
        config = config_from_dict(merged, source="command-line options")
    if args.envoy_config:
        import yaml

        from sirp.extproc.bootstrap import ENVOY_VERSION, envoy_bootstrap

        bootstrap = envoy_bootstrap(config, listen_port=args.listen_port, extproc_address=args.extproc_address)
        print(f"# Envoy v{ENVOY_VERSION} bootstrap in front of sirp extproc, made by `sirp extproc --envoy-config`")
        print(f"# from {args.config or 'the default config'}; edit that config and run the command again.")
        print(yaml.safe_dump(bootstrap, sort_keys=False, width=120), end="")
        return 0
    import asyncio

    from sirp._imports import require

    require("grpc", extra="envoy", purpose="sirp extproc")
    from sirp.extproc import serve

    # The command is an application: it may set up logging (a library never does).
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    asyncio.run(serve(config))
    return 0


def add_bench_parser(bsub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``sirp bench extproc`` (called by :mod:`sirp.cli.bench`)."""
    p = bsub.add_parser(
        "extproc",
        help="latency sirp adds through Envoy's ext_proc (p50/p99 per concurrency), beside the same decisions "
        "in-process",
        description="Starts `sirp extproc` in a subprocess and sends it requests over gRPC on loopback as Envoy "
        "does (headers, then the body), beside SemanticRouter.aroute and the ext_proc pipeline in this process, "
        "at each concurrency. Without models in the config, one per tier is made up (never called).",
    )
    add_router_options(p)
    p.add_argument("--requests", type=int, default=256, help="requests per concurrency level and way")
    p.add_argument("--concurrency", default="1,16,64", help="comma-separated concurrency levels")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    import json

    from sirp._imports import require
    from sirp.cli.route import load_config

    require("grpc", extra="envoy", purpose="sirp bench extproc")
    from sirp.extproc.bench import format_table, run_benchmark

    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    result = run_benchmark(load_config(args), concurrency=levels, requests=args.requests)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0
