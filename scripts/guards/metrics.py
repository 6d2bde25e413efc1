"""Scores for the guard heads: span precision/recall/F1 per entity, ROC AUC, TPR at a given FPR."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["roc_auc", "span_prf", "tpr_at_fpr"]


def _spans(items: Sequence[Any]) -> list[tuple[str, int, int]]:
    out = []
    for s in items:
        if isinstance(s, dict):
            out.append((s.get("label") or s["entity"], int(s["start"]), int(s["end"])))
        else:
            out.append((s.entity, int(s.start), int(s.end)))
    return out


def span_prf(
    gold_rows: Sequence[dict[str, Any]],
    predictions: Sequence[Sequence[Any]],
    *,
    entities: Sequence[str] | None = None,
    strict: bool = False,
) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 per entity and overall (micro).

    A prediction is right when a gold span of the same entity overlaps it (``strict``: has the
    same boundaries); each gold span is matched at most once. Gold spans whose label is not in
    ``entities`` (e.g. ORGANIZATION in presidio's data) are "don't care": a prediction that
    overlaps one is neither right nor wrong. Predictions of entities outside ``entities`` are
    dropped (a system is scored on the types it is compared on).
    """
    ents = list(entities) if entities is not None else None
    tp: dict[str, int] = defaultdict(int)
    fp: dict[str, int] = defaultdict(int)
    fn: dict[str, int] = defaultdict(int)
    for row, pred in zip(gold_rows, predictions, strict=True):
        gold = _spans(row["spans"])
        care = [g for g in gold if ents is None or g[0] in ents]
        dont = [g for g in gold if ents is not None and g[0] not in ents]
        used = [False] * len(care)
        for ent, s, e in _spans(pred):
            if ents is not None and ent not in ents:
                continue
            hit = None
            for j, (ge, gs, gend) in enumerate(care):
                if used[j] or ge != ent:
                    continue
                if (strict and (gs, gend) == (s, e)) or (not strict and s < gend and e > gs):
                    hit = j
                    break
            if hit is not None:
                used[hit] = True
                tp[ent] += 1
            elif any(s < de and e > ds for _, ds, de in dont):
                continue
            else:
                fp[ent] += 1
        for j, (ge, _, _) in enumerate(care):
            if not used[j]:
                fn[ge] += 1
    out: dict[str, dict[str, float]] = {}
    names = sorted(set(tp) | set(fp) | set(fn)) if ents is None else ents
    for ent in [*names, "micro"]:
        if ent == "micro":
            t, f_p, f_n = sum(tp.values()), sum(fp.values()), sum(fn.values())
        else:
            t, f_p, f_n = tp[ent], fp[ent], fn[ent]
        p = t / (t + f_p) if t + f_p else 0.0
        r = t / (t + f_n) if t + f_n else 0.0
        out[ent] = {
            "precision": p,
            "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0,
            "support": float(t + f_n),
            "predicted": float(t + f_p),
        }
    return out


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count half), without scikit-learn."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order), dtype=np.float64)
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tpr_at_fpr(y: np.ndarray, score: np.ndarray, fpr: float) -> float:
    """True-positive rate at the strictest threshold whose false-positive rate is at most ``fpr``."""
    y = np.asarray(y).astype(bool)
    s = np.asarray(score, dtype=np.float64)
    neg = np.sort(s[~y])[::-1]
    k = int(np.floor(fpr * len(neg)))  # benign texts allowed above the threshold
    threshold = neg[k] if k < len(neg) else -np.inf
    return float((s[y] > threshold).mean())
