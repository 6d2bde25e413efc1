"""The ``sirp`` command line: ``route``, ``serve``, ``extproc``, ``train``, ``export``, ``eval``, ``calibrate``,
``bench``, ``config``.

Every sirp error is printed as one ``error: ...`` line on stderr with exit status 2 — no
traceback; the message says what to do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sirp._version import __version__
from sirp.errors import SirpError

__all__ = ["main"]


def _add_router_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="router config YAML (default: built-in defaults)")
    p.add_argument("--model", help="model folder (default: the bundled model)")
    p.add_argument("--provider", help="execution provider: auto, cpu, cuda, rocm")
    p.add_argument("--threads", type=int, help="classifier threads")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sirp`` command."""
    from sirp.cli import bench, calibrate, evaluate, extproc, route, serve, train
    from sirp.cli import config as config_cmd

    parser = argparse.ArgumentParser(prog="sirp", description="Semantic inference routing for LLM requests.")
    parser.add_argument("--version", action="version", version=f"sirp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("route", help="route prompts and print the decisions")
    p.add_argument("text", nargs="*", help="prompts to route (default: read one per line from stdin)")
    p.add_argument("--json", action="store_true", help="print one JSON object per prompt")
    _add_router_options(p)
    p.set_defaults(func=route.run)

    serve.add_parser(sub, _add_router_options)
    extproc.add_parser(sub, _add_router_options)
    train.add_parsers(sub)
    evaluate.add_parser(sub, _add_router_options)
    calibrate.add_parser(sub, _add_router_options)
    bench.add_parser(sub, _add_router_options)
    config_cmd.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sirp`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SirpError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
