"""Routing metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from sirp.evaluation.metrics import apgr, bootstrap_pgr, pgr_at, pgr_curve, roc_auc


def test_auc_known_values() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.integers(0, 10, 200).astype(float)
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (
        len(pos) * len(neg)
    )
    assert roc_auc(y, s) == pytest.approx(pairwise)


def test_pgr_oracle_and_bounds() -> None:
    small = np.array([1, 1, 0, 0, 0, 1, 0, 1], float)
    large = np.array([1, 1, 1, 1, 0, 1, 1, 1], float)
    gain = large - small  # oracle ranks the real gains first
    assert pgr_at(gain, small, large, 0.0) == 0.0
    assert pgr_at(gain, small, large, 1.0) == pytest.approx(1.0)
    # three questions gain; sending 3/8 to the large model recovers the whole gap
    assert pgr_at(gain, small, large, 3 / 8) == pytest.approx(1.0)
    assert pgr_at(-gain, small, large, 3 / 8) == pytest.approx(0.0)


def test_random_ranking_is_about_half() -> None:
    rng = np.random.default_rng(1)
    small = rng.random(4000) < 0.45
    large = rng.random(4000) < 0.63
    assert pgr_at(rng.random(4000), small, large, 0.5) == pytest.approx(0.5, abs=0.08)


def test_bootstrap_interval_contains_estimate() -> None:
    rng = np.random.default_rng(2)
    small = (rng.random(500) < 0.4).astype(float)
    large = (rng.random(500) < 0.7).astype(float)
    score = large - small + rng.normal(0, 1, 500)
    lo, hi = bootstrap_pgr(score, small, large, 0.5, n_boot=200)
    est = pgr_at(score, small, large, 0.5)
    assert lo <= est <= hi
    curve = pgr_curve(score, small, large, n_boot=100)
    assert [round(p.share, 1) for p in curve] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    assert 0.3 < apgr(curve) < 1.0
