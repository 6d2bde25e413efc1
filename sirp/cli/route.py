"""``sirp route``: route prompts and print the decisions."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sirp.errors import InputError

__all__ = ["load_config", "load_router", "run"]


def load_router(args: argparse.Namespace) -> Any:
    """Build a SemanticRouter from the common router options of a subcommand."""
    from sirp.router import SemanticRouter

    return SemanticRouter(load_config(args))


def load_config(args: argparse.Namespace) -> Any:
    """The RouterConfig of the common router options: ``--config``, then ``--model/--provider/--threads``."""
    from sirp.config.loader import config_from_dict, config_from_yaml

    config = config_from_yaml(args.config) if getattr(args, "config", None) else config_from_dict({})
    classifier: dict[str, Any] = {}
    if getattr(args, "model", None):
        classifier["model"] = args.model
    if getattr(args, "provider", None):
        classifier["provider"] = args.provider
    if getattr(args, "threads", None):
        classifier["threads"] = args.threads
    if getattr(args, "precision", None) not in (None, "auto"):
        classifier["precision"] = args.precision
    if classifier:
        merged = config.model_dump()
        merged["classifier"].update(classifier)
        config = config_from_dict(merged, source="command-line options")
    return config


def run(args: argparse.Namespace) -> int:
    """Route each prompt given (or each stdin line) and print its decision."""
    texts = list(args.text)
    if not texts:
        if sys.stdin is None or sys.stdin.isatty():
            raise InputError("no prompt given; pass prompts as arguments or pipe one per line on stdin")
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not texts:
            raise InputError("stdin held no prompt; pass prompts as arguments or pipe one per line")
    with load_router(args) as router:
        decisions = router.route_batch(texts)
    for text, d in zip(texts, decisions, strict=True):
        if args.json:
            print(d.model_dump_json())
        else:
            print(f"{text}\n  → {d}")
    return 0
