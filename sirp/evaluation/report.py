"""``sirp eval``: score a model folder on held-out routing benchmarks.

Figures (all on splits nothing trained or tuned on):

- category accuracy on the MMLU-Pro *test* split, with per-category accuracy and the confusion
  matrix, and on the 70 everyday questions of the seeds' fixtures;
- success head: ROC AUC of ``1 − success[small]`` for "small model wrong", and the PGR curve
  (large-tier share 10–90%, ranking by the predicted gain ``success[large] − success[small]``)
  with 95% bootstrap intervals and its area (APGR);
- the same PGR curve on the GSM8K *test* split (RouteLLM's Mixtral vs GPT-4 outcomes).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from sirp.evaluation import datasets as ds
from sirp.evaluation.metrics import apgr, pgr_curve, roc_auc
from sirp.signals.classifier import ClassifierSignals, SignalExtractor

__all__ = ["evaluate", "format_report"]


def _signals(extractor: SignalExtractor, texts: Sequence[str], batch_size: int = 32) -> list[ClassifierSignals]:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress bar is a nicety of the eval extra
        rng: Any = range(0, len(texts), batch_size)
    else:
        rng = tqdm(range(0, len(texts), batch_size), desc="eval", unit="batch", leave=False)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[ClassifierSignals | None] = [None] * len(texts)
    for s in rng:
        idx = order[s : s + batch_size]
        for i, sig in zip(idx, extractor.extract([texts[i] for i in idx]), strict=True):
            out[i] = sig
    return [s for s in out if s is not None]


def _category_block(examples: list[ds.Example], sigs: list[ClassifierSignals], labels: list[str]) -> dict[str, Any]:
    gold = [e.category for e in examples]
    pred = [s.category for s in sigs]
    correct = np.array([g == p for g, p in zip(gold, pred, strict=True)])
    per = {}
    index = {c: i for i, c in enumerate(labels)}
    confusion = np.zeros((len(labels), len(labels)), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        if g in index and p in index:
            confusion[index[g], index[p]] += 1
    for c in labels:
        m = np.array([g == c for g in gold])
        if m.any():
            per[c] = round(float(correct[m].mean()), 4)
    return {
        "n": len(gold),
        "accuracy": round(float(correct.mean()), 4),
        "per_category": per,
        "confusion": confusion.tolist(),
        "labels": labels,
    }


def _routing_block(
    sigs: list[ClassifierSignals],
    examples: list[ds.Example],
    small: str,
    large: str,
    small_head: str,
    large_head: str,
    n_boot: int,
) -> dict[str, Any]:
    keep = [i for i, e in enumerate(examples) if small in e.outcomes and large in e.outcomes]
    s_ok = np.array([examples[i].outcomes[small] for i in keep], dtype=float)
    l_ok = np.array([examples[i].outcomes[large] for i in keep], dtype=float)
    p_small = np.array([sigs[i].success[small_head] for i in keep])
    p_large = np.array([sigs[i].success[large_head] for i in keep])
    gain = p_large - p_small
    curve = pgr_curve(gain, s_ok, l_ok, n_boot=n_boot)
    at50 = next(p for p in curve if abs(p.share - 0.5) < 1e-9)
    return {
        "n": len(keep),
        "small": small,
        "large": large,
        "acc_small": round(float(s_ok.mean()), 4),
        "acc_large": round(float(l_ok.mean()), 4),
        "auc_small_wrong": round(roc_auc(1 - s_ok, 1 - p_small), 4),
        "pgr_at_50": {"pgr": round(at50.pgr, 4), "ci95": [round(at50.low, 4), round(at50.high, 4)]},
        "apgr": round(apgr(curve), 4),
        "curve": [{k: round(v, 4) for k, v in asdict(p).items()} for p in curve],
    }


def evaluate(
    extractor: SignalExtractor,
    data_dir: Path,
    *,
    small: str = ds.SLM_REFERENCE,
    large: str = ds.LLM_REFERENCE,
    n_boot: int = 1000,
    limit: int | None = None,
    split: ds.Split = "test",
) -> dict[str, Any]:
    """All figures of ``sirp eval`` for the model behind ``extractor``.

    ``split`` picks the MMLU-Pro and GSM8K split: ``test`` to report, ``dev`` to tune on.
    """
    labels = extractor.categories
    report: dict[str, Any] = {"model": str(extractor.folder.path), "split": split}
    test = ds.mmlu_pro(data_dir, split)[:limit]
    sigs = _signals(extractor, [e.text for e in test])
    report["mmlu_pro"] = {"category": _category_block(test, sigs, labels)}
    heads = set(extractor.reference_models)
    if {small, large} <= heads:
        report["mmlu_pro"]["routing"] = _routing_block(sigs, test, small, large, small, large, n_boot)
    everyday = ds.everyday_queries(data_dir)
    report["everyday"] = _category_block(everyday, _signals(extractor, [e.text for e in everyday]), labels)
    gsm = ds.gsm8k(data_dir, split)[:limit]
    sh: str | None
    lh: str | None
    if {ds.ROUTELLM_WEAK, ds.ROUTELLM_STRONG} <= heads:
        sh, lh = ds.ROUTELLM_WEAK, ds.ROUTELLM_STRONG
    elif {small, large} <= heads:
        sh, lh = small, large
    else:
        sh = lh = None
    if sh is not None and lh is not None:
        gsigs = _signals(extractor, [e.text for e in gsm])
        report["gsm8k"] = {
            "heads": [sh, lh],
            **_routing_block(gsigs, gsm, ds.ROUTELLM_WEAK, ds.ROUTELLM_STRONG, sh, lh, n_boot),
        }
    return report


def format_report(r: dict[str, Any]) -> str:
    """A readable summary of :func:`evaluate`'s report."""
    split = r.get("split", "test")
    lines = [f"model: {r['model']}"]
    cat = r["mmlu_pro"]["category"]
    lines.append(f"MMLU-Pro {split} category accuracy: {cat['accuracy']:.3f} (n={cat['n']})")
    lines.append("  per category: " + ", ".join(f"{k} {v:.2f}" for k, v in cat["per_category"].items()))
    lines.append(f"everyday questions category accuracy: {r['everyday']['accuracy']:.3f} (n={r['everyday']['n']})")
    for key, title in (("mmlu_pro", f"MMLU-Pro {split}"), ("gsm8k", f"GSM8K {split}")):
        block = r.get(key, {})
        block = block.get("routing", block) if key == "mmlu_pro" else block
        if not block or "curve" not in block:
            continue
        p50 = block["pgr_at_50"]
        lines.append(
            f"{title} routing ({block['small']} → {block['large']}, n={block['n']}): "
            f"acc {block['acc_small']:.3f} → {block['acc_large']:.3f}; "
            f"AUC(small wrong) {block['auc_small_wrong']:.3f}; "
            f"PGR@50% {p50['pgr']:.3f} [{p50['ci95'][0]:.3f}, {p50['ci95'][1]:.3f}]; APGR {block['apgr']:.3f}"
        )
        lines.append(
            "  PGR curve: "
            + ", ".join(
                f"{int(p['share'] * 100)}% {p['pgr']:.2f} [{p['low']:.2f},{p['high']:.2f}]" for p in block["curve"]
            )
        )
    return "\n".join(lines)


def write_plots(r: dict[str, Any], out_dir: Path) -> list[Path]:
    """PGR curves with intervals and the confusion matrix, as PNG files."""
    from sirp._imports import require

    plt = require("matplotlib.pyplot", extra="eval", purpose="Plotting the evaluation")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(6, 4.5))
    split = r.get("split", "test")
    for key, label in (("mmlu_pro", f"MMLU-Pro {split}"), ("gsm8k", f"GSM8K {split}")):
        block = r.get(key, {})
        block = block.get("routing", block) if key == "mmlu_pro" else block
        if not block or "curve" not in block:
            continue
        xs = [p["share"] for p in block["curve"]]
        ax.plot(xs, [p["pgr"] for p in block["curve"]], marker="o", label=f"{label} (APGR {block['apgr']:.3f})")
        ax.fill_between(xs, [p["low"] for p in block["curve"]], [p["high"] for p in block["curve"]], alpha=0.2)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="random")
    ax.set_xlabel("share of requests sent to the large model")
    ax.set_ylabel("performance gap recovered")
    ax.set_title("sirp routing: PGR by large-tier share (95% bootstrap)")
    ax.legend()
    fig.tight_layout()
    p = out_dir / "pgr_curve.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    written.append(p)

    cat = r["mmlu_pro"]["category"]
    m = np.array(cat["confusion"], dtype=float)
    m = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(cat["labels"])), cat["labels"], rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(cat["labels"])), cat["labels"], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"MMLU-Pro {split} categories (accuracy {cat['accuracy']:.3f})")
    fig.tight_layout()
    p = out_dir / "confusion.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    written.append(p)
    return written


def save(r: dict[str, Any], path: Path) -> None:
    """Write the report as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(r, indent=2), encoding="utf-8")
