"""Turning the classifier's head outputs into signals: category distribution, success per model,
PII spans and jailbreak score (when the model has those heads).

:class:`SignalExtractor` owns the tokenizer and the backend: texts in, one
:class:`ClassifierSignals` per text out, from one batched pass that serves every head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sirp.backends.base import Backend
from sirp.backends.model_folder import ModelFolder
from sirp.backends.tokenization import Tokenizer
from sirp.guards.pii import PiiSpan, decode_spans

__all__ = ["ClassifierSignals", "SignalExtractor", "softmax"]


def softmax(x: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = x - x.max(axis=-1, keepdims=True)
    e: np.ndarray = np.exp(z)
    out: np.ndarray = e / e.sum(axis=-1, keepdims=True)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-x))
    return out


@dataclass(frozen=True)
class ClassifierSignals:
    """What the classifier says about one text."""

    scores: dict[str, float]
    """probability of each category"""
    success: dict[str, float]
    """probability that each reference model answers correctly"""
    embedding: np.ndarray | None
    truncated: bool
    pii_detected: bool | None = None
    """whether the text carries personal data; None = not checked (the model has no PII head:
    callers say so with ``pii=``)"""
    pii_spans: tuple[PiiSpan, ...] = ()
    """where the personal data is: character spans of the text, with their entity type"""
    jailbreak: float | None = None
    """calibrated probability that the text is a jailbreak or prompt-injection attempt; None =
    the model has no jailbreak head"""

    @property
    def category(self) -> str:
        """The most likely category."""
        return max(self.scores, key=self.scores.__getitem__)

    @property
    def confidence(self) -> float:
        """Probability of the most likely category."""
        return self.scores[self.category]

    @property
    def entropy(self) -> float:
        """Normalised entropy of the category distribution (0: certain, 1: uniform)."""
        p = np.array(list(self.scores.values()), dtype=np.float64)
        if len(p) < 2:
            return 0.0
        h = -(p * np.log(np.clip(p, 1e-12, 1.0))).sum()
        return float(h / math.log(len(p)))


class SignalExtractor:
    """Tokenise once, run every head in one pass, read the heads back per text."""

    def __init__(self, folder: ModelFolder, backend: Backend, tokenizer: Tokenizer) -> None:
        self.folder = folder
        self.backend = backend
        self.tokenizer = tokenizer
        m = folder.manifest
        self.categories = list(m.categories)
        self.reference_models = list(m.reference_models)
        self._out = m.outputs
        self.pii_labels = list(m.pii_labels)
        #: the manifest's calibrated attack threshold (None: the model has no jailbreak head)
        self.jailbreak_threshold = m.jailbreak_threshold
        # A class-prior correction fitted on held-out data (`sirp calibrate`); zeros when absent.
        self._bias = np.array([m.category_bias.get(c, 0.0) for c in self.categories], dtype=np.float64)

    def extract(self, texts: Sequence[str]) -> list[ClassifierSignals]:
        """Signals for each text, in order (one backend call for the whole list)."""
        if not texts:
            return []
        batch = self.tokenizer.encode(texts)
        out = self.backend.run(batch)
        probs = softmax(np.asarray(out[self._out["category"]], dtype=np.float64) + self._bias)
        succ_name = self._out.get("success")
        succ = _sigmoid(np.asarray(out[succ_name], dtype=np.float64)) if succ_name in out else None
        emb_name = self._out.get("embedding")
        emb = out.get(emb_name) if emb_name else None
        pii_name, jb_name = self._out.get("pii"), self._out.get("jailbreak")
        pii = out.get(pii_name) if pii_name else None
        jb = _sigmoid(np.asarray(out[jb_name], dtype=np.float64).reshape(-1)) if jb_name and jb_name in out else None
        result = []
        for i in range(len(texts)):
            spans: tuple[PiiSpan, ...] = ()
            if pii is not None and batch.offsets is not None:
                spans = tuple(decode_spans(pii[i], batch.offsets[i], self.pii_labels, texts[i]))
            result.append(
                ClassifierSignals(
                    scores={c: float(p) for c, p in zip(self.categories, probs[i], strict=True)},
                    success=(
                        {m: float(p) for m, p in zip(self.reference_models, succ[i], strict=True)}
                        if succ is not None and self.reference_models
                        else {}
                    ),
                    embedding=None if emb is None else np.asarray(emb[i]),
                    truncated=bool(batch.truncated[i]),
                    pii_detected=None if pii is None else bool(spans),
                    pii_spans=spans,
                    jailbreak=None if jb is None else float(jb[i]),
                )
            )
        return result
