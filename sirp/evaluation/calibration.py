"""Class-prior calibration of the category head: one bias per label, fitted on held-out data.

A classifier trained on exam questions carries the exam's class priors ("other" absorbs
trivia; "law" wins whenever the word appears). A per-label logit bias fitted on a development
set that looks like real traffic moves those priors without touching the network. The fit
minimises the mean cross-entropy of the true label — convex in the bias, so gradient descent
finds the one optimum — averaged over the given sets with equal weight (a small everyday set
counts as much as a large exam set), plus a small L2 pull toward zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sirp.signals.classifier import softmax

__all__ = ["CalibrationSet", "fit_category_bias"]


@dataclass(frozen=True)
class CalibrationSet:
    """Log-probabilities of one dev set under the current model, and its true label indices."""

    name: str
    log_probs: np.ndarray
    """shape (n, n_labels)"""
    labels: np.ndarray
    """shape (n,), integer label index"""

    def accuracy(self, bias: np.ndarray) -> float:
        """Share of rows whose argmax after adding ``bias`` is the true label."""
        return float(((self.log_probs + bias).argmax(axis=1) == self.labels).mean())


def fit_category_bias(
    sets: Sequence[CalibrationSet], *, l2: float = 1e-3, steps: int = 2000, lr: float = 0.5
) -> np.ndarray:
    """The bias vector that minimises the set-averaged cross-entropy (+ ``l2``·‖b‖²)."""
    if not sets:
        raise ValueError("fit_category_bias needs at least one set")
    k = sets[0].log_probs.shape[1]
    bias = np.zeros(k)
    for _ in range(steps):
        grad = 2 * l2 * bias
        for s in sets:
            p = softmax(s.log_probs + bias)
            onehot = np.zeros_like(p)
            onehot[np.arange(len(s.labels)), s.labels] = 1.0
            grad += (p - onehot).mean(axis=0) / len(sets)
        bias -= lr * grad
        bias -= bias.mean()  # softmax ignores a shared shift; keep the vector centred and readable
    return bias
