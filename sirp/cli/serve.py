"""``sirp serve``: run the OpenAI-compatible router server on uvicorn (``pip install "sirp[server]"``)."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(sub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``serve``."""
    p = sub.add_parser(
        "serve",
        help="run the OpenAI-compatible router server",
        description="Serve /v1/chat/completions, /v1/responses, /v1/models, /v1/classify, /metrics, /health and "
        "/ready; model 'auto' routes. Options override the config's server: section.",
    )
    add_router_options(p)
    p.add_argument("--host", help="address to listen on (default: server.host, 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default: server.port, 8000)")
    p.add_argument("--workers", type=int, help="worker processes, each with its own classifier (default: 1)")
    p.add_argument(
        "--log-level", choices=["critical", "error", "warning", "info", "debug"], default="info", help="log level"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the config, build the app, serve until interrupted."""
    from sirp._imports import require
    from sirp.cli.route import load_config
    from sirp.config.loader import config_from_dict

    uvicorn = require("uvicorn", extra="server", purpose="sirp serve")
    config = load_config(args)
    overrides = {k: v for k in ("host", "port", "workers") if (v := getattr(args, k, None)) is not None}
    if overrides:
        merged = config.model_dump(mode="json")
        merged["server"].update(overrides)
        config = config_from_dict(merged, source="command-line options")
    server = config.server
    # The command is an application: it may set up logging (a library never does).
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    common: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "log_level": args.log_level,
        # the peer address must stay the socket's: trusting X-Forwarded-For is the access layer's decision
        "proxy_headers": False,
        "server_header": False,
    }
    if server.workers == 1:
        from sirp.server import create_app

        uvicorn.run(create_app(config), **common)
    else:
        from sirp.server.app import CONFIG_ENV

        # each worker process builds its own app from the same, already validated, config
        os.environ[CONFIG_ENV] = config.model_dump_json()
        uvicorn.run("sirp.server.app:app_from_env", factory=True, workers=server.workers, **common)
    return 0
