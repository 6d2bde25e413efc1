"""Tokenising: pad to the batch's longest, truncate at max_length, flag truncation."""

from __future__ import annotations

from pathlib import Path

from sirp.backends.model_folder import ModelFolder
from sirp.backends.tokenization import Tokenizer


def test_pads_to_longest_not_max_length(mock_folder: Path) -> None:
    tok = Tokenizer.from_folder(ModelFolder.load(mock_folder))
    b = tok.encode(["cell", "the gene of the cell"])
    assert b.input_ids.shape[1] == int(b.attention_mask.sum(1).max())
    assert b.input_ids.shape[1] < tok.max_length
    assert not b.truncated.any()


def test_truncates_and_flags(mock_folder: Path) -> None:
    tok = Tokenizer.from_folder(ModelFolder.load(mock_folder), max_length=8)
    b = tok.encode(["cell " * 50, "cell"])
    assert b.input_ids.shape[1] == 8
    assert b.truncated.tolist() == [True, False]


def test_max_length_capped_by_manifest(mock_folder: Path) -> None:
    assert Tokenizer.from_folder(ModelFolder.load(mock_folder), max_length=4096).max_length == 32
