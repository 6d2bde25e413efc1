"""Routing metrics: ROC AUC, the PGR curve and bootstrap intervals (numpy only).

PGR (performance gap recovered) of a router that sends a share of requests to the large tier::

    PGR = (acc_router − acc_small) / (acc_large − acc_small)

Requests are ranked by a score (for sirp: the predicted gain of the large tier); the top
``share`` go to the large model, the rest to the small one, and each is graded by what that model
actually answered (recorded outcomes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["PGRPoint", "bootstrap_pgr", "pgr_at", "pgr_curve", "roc_auc"]


def roc_auc(labels: Sequence[float] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """ROC AUC by the rank-sum formula, with ties given half credit."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _pgr(score: np.ndarray, small: np.ndarray, large: np.ndarray, share: float) -> float:
    n = len(score)
    k = round(share * n)
    # Stable sort on -score: ties keep input order, so the result is deterministic.
    to_large = np.zeros(n, dtype=bool)
    to_large[np.argsort(-score, kind="mergesort")[:k]] = True
    acc = np.where(to_large, large, small).mean()
    gap = large.mean() - small.mean()
    return float((acc - small.mean()) / gap) if gap != 0 else float("nan")


def pgr_at(
    score: Sequence[float] | np.ndarray,
    small_correct: Sequence[bool] | np.ndarray,
    large_correct: Sequence[bool] | np.ndarray,
    share: float,
) -> float:
    """PGR when the ``share`` of requests with the highest ``score`` go to the large model."""
    return _pgr(np.asarray(score, float), np.asarray(small_correct, float), np.asarray(large_correct, float), share)


@dataclass(frozen=True)
class PGRPoint:
    """PGR at one large-tier share with its 95% bootstrap interval."""

    share: float
    pgr: float
    low: float
    high: float


def bootstrap_pgr(
    score: np.ndarray, small: np.ndarray, large: np.ndarray, share: float, *, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95% percentile bootstrap interval of PGR at ``share`` (questions resampled)."""
    rng = np.random.default_rng(seed)
    score, small, large = (np.asarray(a, float) for a in (score, small, large))
    n = len(score)
    vals = []
    for _ in range(n_boot):
        i = rng.integers(0, n, n)
        v = _pgr(score[i], small[i], large[i], share)
        if not np.isnan(v):
            vals.append(v)
    lo, hi = np.percentile(vals, [2.5, 97.5])
    return float(lo), float(hi)


def pgr_curve(
    score: Sequence[float] | np.ndarray,
    small_correct: Sequence[bool] | np.ndarray,
    large_correct: Sequence[bool] | np.ndarray,
    shares: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> list[PGRPoint]:
    """PGR at each share, with bootstrap intervals."""
    s, a, b = (np.asarray(x, float) for x in (score, small_correct, large_correct))
    points = []
    for share in shares:
        lo, hi = bootstrap_pgr(s, a, b, share, n_boot=n_boot, seed=seed)
        points.append(PGRPoint(share=share, pgr=_pgr(s, a, b, share), low=lo, high=hi))
    return points


def apgr(points: Sequence[PGRPoint]) -> float:
    """Area under the PGR curve over the shares given (trapezoid, 0 and 1 added as 0 and 1)."""
    xs = [0.0, *(p.share for p in points), 1.0]
    ys = [0.0, *(p.pgr for p in points), 1.0]
    # Trapezoid rule written out: numpy renamed trapz → trapezoid across the versions we support.
    return float(sum((xs[i + 1] - xs[i]) * (ys[i + 1] + ys[i]) / 2 for i in range(len(xs) - 1)))
