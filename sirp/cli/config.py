"""``sirp config``: the router config's JSON Schema (for editors), and checking a config file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]


def add_parser(sub: Any) -> None:
    """Register ``config schema`` and ``config check``."""
    p = sub.add_parser("config", help="router config: JSON Schema for editors, validation")
    actions = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")

    s = actions.add_parser(
        "schema",
        help="print the JSON Schema of the router config",
        description="The JSON Schema of RouterConfig: point your editor's YAML language server at it "
        "(e.g. '# yaml-language-server: $schema=sirp-config.schema.json' at the top of a config).",
    )
    s.add_argument("-o", "--output", type=Path, help="write it to this file instead of stdout")
    s.set_defaults(func=schema)

    c = actions.add_parser("check", help="validate router config files and summarise them")
    c.add_argument("paths", nargs="+", type=Path, help="YAML files")
    c.set_defaults(func=check)


def schema(args: argparse.Namespace) -> int:
    """Print (or write) ``RouterConfig.model_json_schema()``."""
    from sirp.config.schema import RouterConfig

    text = json.dumps(RouterConfig.model_json_schema(), indent=2) + "\n"
    if args.output is None:
        print(text, end="")
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


def check(args: argparse.Namespace) -> int:
    """Load each file (errors name the file and field path) and print one summary line per file."""
    from sirp.config.loader import config_from_yaml

    for path in args.paths:
        c = config_from_yaml(path)
        tiers = ", ".join(f"{t.name}={t.model}" for t in c.tiers)
        n = len(c.models)
        models = f"{n} model{'' if n == 1 else 's'}" + (f", fallback {' → '.join(c.fallback)}" if c.fallback else "")
        print(f"{path}: ok ({tiers}; {models})")
    return 0
