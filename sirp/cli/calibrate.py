"""``sirp calibrate``: fit the category head's class priors on held-out data, write them to the manifest."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sirp.errors import InputError

__all__ = ["add_parser"]


def add_parser(sub: Any, add_router_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register ``calibrate``."""
    p = sub.add_parser(
        "calibrate",
        help="fit a per-category logit bias on dev sets that look like your traffic",
        description="Fits one bias per category (convex cross-entropy fit, each --dev set weighted equally) "
        "and writes it into the model folder's manifest (category_bias). Use held-out data only: "
        "the sets you calibrate on are no longer fair test sets.",
    )
    add_router_options(p)
    p.add_argument(
        "--dev", type=Path, action="append", required=True, help="JSONL with text + category; repeat for more sets"
    )
    p.add_argument("--output", type=Path, help="write a calibrated copy of the model folder here")
    p.add_argument("--in-place", action="store_true", help="update the model folder's own manifest")
    p.add_argument("--l2", type=float, default=1e-3, help="pull of the bias toward zero")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fit the bias, print accuracy before/after per set, and write the manifest."""
    from sirp.cli.route import load_router
    from sirp.evaluation.calibration import CalibrationSet, fit_category_bias
    from sirp.training.data import read_rows

    if bool(args.output) == bool(args.in_place):
        raise InputError("say where the result goes: --output <new folder> or --in-place")
    router = load_router(args)
    with router:
        folder = router.extractor.folder
        labels = list(folder.manifest.categories)
        old = np.array([folder.manifest.category_bias.get(c, 0.0) for c in labels])
        sets = []
        for path in args.dev:
            rows = [r for r in read_rows(path) if r.category is not None]
            unknown = sorted({str(r.category) for r in rows} - set(labels))
            if unknown:
                raise InputError(f"{path}: categories {unknown} are not labels of this model ({', '.join(labels)})")
            if not rows:
                raise InputError(f"{path} has no rows with a category")
            texts = [r.text for r in rows]
            step = router.config.classifier.batch_size  # one pass over a whole set would pad it all to 512
            signals = [s for i in range(0, len(texts), step) for s in router.extractor.extract(texts[i : i + step])]
            # Scores already carry the current bias: remove it so the new fit starts from the raw head.
            logp = np.log(np.clip([[s.scores[c] for c in labels] for s in signals], 1e-12, 1.0)) - old
            y = np.array([labels.index(str(r.category)) for r in rows])
            sets.append(CalibrationSet(name=str(path), log_probs=logp, labels=y))
    bias = fit_category_bias(sets, l2=args.l2)
    report = {
        "sets": [
            {"path": s.name, "n": len(s.labels), "accuracy_before": s.accuracy(old), "accuracy_after": s.accuracy(bias)}
            for s in sets
        ],
        "l2": args.l2,
    }
    for r in report["sets"]:
        print(f"{r['path']}: n={r['n']}  accuracy {r['accuracy_before']:.3f} -> {r['accuracy_after']:.3f}")
    print("bias: " + ", ".join(f"{c} {b:+.2f}" for c, b in zip(labels, bias, strict=True)))

    target = Path(args.output) if args.output else folder.path
    if args.output:
        if target.exists():
            raise InputError(f"{target} exists; pick a new folder for --output")
        shutil.copytree(folder.path, target)
    manifest_path = target / "sirp_manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["category_bias"] = {c: round(float(b), 4) for c, b in zip(labels, bias, strict=True)}
    manifest["calibration"] = report
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {manifest_path}")
    return 0
