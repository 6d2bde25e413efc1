"""A separate sentence encoder for cache keys (when ``cache.encoder`` names a model folder).

By default the cache uses the router's own classifier embedding, from the same ONNX pass as
routing, at no extra cost. A separate encoder costs a second pass per request but may tell
paraphrases from different questions better; ``sirp bench cache`` compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from sirp.backends.base import Backend
from sirp.backends.model_folder import ModelFolder
from sirp.backends.tokenization import Tokenizer
from sirp.errors import ModelLoadError

__all__ = ["FolderEncoder", "TextEncoder"]


class TextEncoder(Protocol):
    """Texts in; unit-length embeddings ``(n, dim)`` and whether each text was truncated out."""

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Embed ``texts``."""
        ...


class FolderEncoder:
    """Embeds texts with a sirp model folder whose manifest maps an ``embedding`` output.

    The output may be pooled already (``(batch, dim)``) or per token (``(batch, tokens, dim)``,
    as ``optimum-cli export onnx --task feature-extraction`` writes it): per-token outputs are
    mean-pooled over the attention mask, the way sentence-transformers pools all-MiniLM-L6-v2.
    """

    def __init__(
        self, folder: str | Path | ModelFolder, *, backend: Backend | None = None, threads: int | None = None
    ) -> None:
        self.folder = folder if isinstance(folder, ModelFolder) else ModelFolder.load(folder)
        name = self.folder.manifest.outputs.get("embedding")
        if name is None:
            raise ModelLoadError(
                f"{self.folder.path}: the manifest maps no 'embedding' output, so it cannot serve as cache.encoder "
                "(outputs: {'embedding': '<ONNX output name>'})"
            )
        self._output = name
        self.tokenizer = Tokenizer.from_folder(self.folder)
        if backend is None:
            from sirp.backends.onnx import OnnxBackend

            backend = OnnxBackend(self.folder, threads=threads)
        self.backend = backend

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """See :class:`TextEncoder`."""
        batch = self.tokenizer.encode(texts)
        out = np.asarray(self.backend.run(batch)[self._output], dtype=np.float32)
        if out.ndim == 3:
            mask = batch.attention_mask[..., None].astype(np.float32)
            out = (out * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        vectors: np.ndarray = out / np.clip(norms, 1e-12, None)
        return vectors, np.asarray(batch.truncated, dtype=bool)

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()
