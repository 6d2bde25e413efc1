"""``sirp extproc``: run sirp as Envoy's external processor (``pip install "sirp[envoy]"``).

``--envoy-config`` prints instead an Envoy bootstrap for the config's models (YAML) and exits.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

__all__ = ["add_parser", "run"]


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
