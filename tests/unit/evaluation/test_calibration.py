"""Class-prior calibration: the fitted bias undoes a prior shift and is applied by the extractor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder
from sirp.errors import ModelLoadError
from sirp.evaluation.calibration import CalibrationSet, fit_category_bias
from sirp.signals.classifier import softmax


def _shifted_set(seed: int, n: int = 600, k: int = 4, shift: float = 2.0) -> CalibrationSet:
    """Labels drawn uniformly, logits informative but pushed toward label 0 by ``shift``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += 1.5
    logits[:, 0] += shift
    return CalibrationSet("shifted", np.log(softmax(logits)), y)


def test_fit_undoes_a_prior_shift() -> None:
    train, held_out = _shifted_set(0), _shifted_set(1)
    bias = fit_category_bias([train])
    # The fit pulls label 0 down by about the shift it carried, and generalises to fresh rows.
    assert bias[0] < -1.0
    assert held_out.accuracy(bias) > held_out.accuracy(np.zeros(4)) + 0.1
    assert abs(bias.mean()) < 1e-9


def test_sets_count_equally_whatever_their_size() -> None:
    big = _shifted_set(0, n=3000, shift=0.0)  # already calibrated: wants no bias
    small = _shifted_set(1, n=100, shift=3.0)  # strongly shifted
    bias = fit_category_bias([big, small])
    assert bias[0] < -0.5  # the small set still moves the fit


def test_fit_needs_a_set() -> None:
    with pytest.raises(ValueError, match="at least one set"):
        fit_category_bias([])


def test_extractor_applies_the_manifest_bias(mock_folder: Path) -> None:
    from sirp.backends.tokenization import Tokenizer
    from sirp.signals.classifier import SignalExtractor

    def extractor() -> SignalExtractor:
        folder = ModelFolder.load(mock_folder)
        return SignalExtractor(folder, MockBackend(folder.manifest), Tokenizer.from_folder(folder))

    texts = ["a question about history", "another one about law", "and math"]
    before = extractor().extract(texts)
    manifest = json.loads((mock_folder / MANIFEST_NAME).read_text())
    manifest["category_bias"] = {"biology": 50.0}
    (mock_folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    after = extractor().extract(texts)
    assert [s.category for s in after] == ["biology"] * 3
    assert [s.category for s in before] != ["biology"] * 3


def test_manifest_rejects_bias_for_unknown_labels(mock_folder: Path) -> None:
    manifest = json.loads((mock_folder / MANIFEST_NAME).read_text())
    manifest["category_bias"] = {"astrology": 1.0}
    (mock_folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelLoadError, match="astrology"):
        ModelFolder.load(mock_folder)
