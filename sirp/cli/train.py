"""``sirp train`` and ``sirp export`` (need the ``sirp[train]`` extra)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sirp._imports import require

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    """Register ``train`` and ``export``."""
    p = sub.add_parser(
        "train",
        help="fine-tune a ModernBERT routing model on your labelled queries and outcomes",
        description="Train a category head and a success head (see sirp.training.data for the JSONL format). "
        "Resumes from <output>/checkpoint when it exists.",
    )
    p.add_argument("--train", type=Path, required=True, help="training JSONL")
    p.add_argument("--dev", type=Path, help="dev JSONL (checkpoint choice)")
    p.add_argument("--output", type=Path, required=True, help="run folder (checkpoints, best/, last/)")
    p.add_argument("--init", type=Path, help="local ModernBERT checkpoint folder to fine-tune (e.g. ModernBERT-base)")
    p.add_argument("--tokenizer", type=Path, help="tokenizer.json or its folder, for a fresh model")
    p.add_argument("--hidden-size", type=int, default=384)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--intermediate-size", type=int, default=768)
    p.add_argument("--teacher", type=Path, help="local sentence-encoder folder to distil from")
    p.add_argument("--teacher-cache", type=Path, help="where teacher embeddings are cached")
    p.add_argument("--distill", type=Path, help="unlabelled JSONL texts (taught by the teacher only)")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--max-length", type=int, default=128, help="training truncation length")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--max-steps", type=int, help="stop after this many steps (the LR schedule still spans --epochs)")
    for name, default, what in (
        ("category", 1.0, "category cross-entropy"),
        ("success", 1.0, "masked success binary cross-entropy"),
        ("distill", 1.0, "cosine distillation to the teacher embedding"),
        ("teacher-head", 0.5, "category head trained on teacher embeddings"),
        ("soft", 0.5, "teacher-head category distribution on unlabelled rows"),
    ):
        p.add_argument(f"--w-{name}", type=float, default=default, help=f"loss weight: {what} (default {default})")
    p.set_defaults(func=_train)

    e = sub.add_parser(
        "export",
        help="export a trained checkpoint to a model folder (ONNX fp32 + int8), verified",
    )
    e.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint folder (<run>/best)")
    e.add_argument("--output", type=Path, required=True, help="model folder to write")
    e.add_argument("--verify", type=Path, help="JSONL whose 'text' fields verify the export (e.g. dev)")
    e.add_argument("--max-length", type=int, default=512)
    e.add_argument("--no-quantize", action="store_true", help="write fp32 only")
    e.add_argument("--atol", type=float, default=1e-4)
    e.add_argument("--min-agreement", type=float, default=0.99)
    e.set_defaults(func=_export)


def _train(args: argparse.Namespace) -> int:
    require("torch", extra="train", purpose="sirp train")
    from sirp.training.trainer import ModelSize, TrainConfig, train

    cfg = TrainConfig(
        train=args.train,
        dev=args.dev,
        output=args.output,
        init=args.init,
        tokenizer=args.tokenizer,
        model=ModelSize(
            hidden_size=args.hidden_size,
            num_hidden_layers=args.layers,
            num_attention_heads=args.heads,
            intermediate_size=args.intermediate_size,
        ),
        teacher=args.teacher,
        teacher_cache=args.teacher_cache,
        distill=args.distill,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        max_length=args.max_length,
        seed=args.seed,
        threads=args.threads,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
        max_steps=args.max_steps,
        w_category=args.w_category,
        w_success=args.w_success,
        w_distill=args.w_distill,
        w_teacher_head=args.w_teacher_head,
        w_soft=args.w_soft,
    )
    best = train(cfg)
    print(f"best checkpoint: {best}")
    return 0


def _export(args: argparse.Namespace) -> int:
    require("torch", extra="train", purpose="sirp export")
    from sirp.training.data import read_rows
    from sirp.training.export import export

    texts = [r.text for r in read_rows(args.verify)] if args.verify else []
    report = export(
        args.checkpoint,
        args.output,
        verify_texts=texts,
        max_length=args.max_length,
        quantize=not args.no_quantize,
        atol=args.atol,
        min_agreement=args.min_agreement,
    )
    print(json.dumps(report, indent=2))
    return 0
