"""Tokenising a batch once for every head: pad to the batch's longest, truncate, flag truncation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import tokenizers

from sirp.errors import ModelLoadError

if TYPE_CHECKING:
    from sirp.backends.model_folder import ModelFolder

__all__ = ["TokenizedBatch", "Tokenizer"]


@dataclass(frozen=True)
class TokenizedBatch:
    """A padded batch: ``input_ids`` and ``attention_mask`` are ``(batch, longest)`` int64."""

    input_ids: np.ndarray
    attention_mask: np.ndarray
    truncated: np.ndarray  # (batch,) bool: the text was cut at max_length
    offsets: tuple[np.ndarray, ...] | None = None
    """per text, ``(tokens, 2)`` character offsets of its tokens (``(0, 0)`` for special tokens):
    where a token-level head's output (PII spans) lies in the text"""

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


class Tokenizer:
    """A ``tokenizers`` tokenizer set up for routing: truncation on, padding to the longest."""

    def __init__(
        self, tokenizer: tokenizers.Tokenizer, *, max_length: int = 512, side: Literal["right", "left"] = "right"
    ) -> None:
        self._tok = tokenizer
        self.max_length = max_length
        pad_id = tokenizer.token_to_id("[PAD]")
        if pad_id is None:
            pad_id = tokenizer.token_to_id("<pad>")
        self.pad_id = 0 if pad_id is None else pad_id
        # Keep the text's start ("right": cut the end) or its end ("left": cut the start).
        self._tok.enable_truncation(max_length, direction=side)
        self._tok.no_padding()

    @classmethod
    def from_folder(
        cls, folder: ModelFolder, *, max_length: int | None = None, side: Literal["right", "left"] = "right"
    ) -> Tokenizer:
        """Load the folder's ``tokenizer.json``; ``max_length`` defaults to the manifest's."""
        try:
            tok = tokenizers.Tokenizer.from_file(str(folder.tokenizer_path))
        except Exception as err:  # tokenizers raises plain Exception on a corrupt file
            raise ModelLoadError(
                f"{folder.tokenizer_path} is not a valid tokenizers file ({err}); re-export the model folder"
            ) from err
        limit = folder.manifest.max_length if max_length is None else min(max_length, folder.manifest.max_length)
        return cls(tok, max_length=limit, side=side)

    def encode(self, texts: Sequence[str]) -> TokenizedBatch:
        """Tokenise ``texts`` in one call; pad to the longest in the batch (never to max_length)."""
        encs = self._tok.encode_batch(list(texts))
        width = max((len(e.ids) for e in encs), default=1)
        ids = np.full((len(encs), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encs), width), dtype=np.int64)
        truncated = np.zeros(len(encs), dtype=bool)
        offsets = []
        for i, e in enumerate(encs):
            n = len(e.ids)
            ids[i, :n] = e.ids
            mask[i, :n] = 1
            truncated[i] = bool(e.overflowing)
            off = np.asarray(e.offsets, dtype=np.int64).reshape(-1, 2)
            off[np.asarray(e.special_tokens_mask, dtype=bool)] = 0
            offsets.append(off)
        return TokenizedBatch(input_ids=ids, attention_mask=mask, truncated=truncated, offsets=tuple(offsets))
