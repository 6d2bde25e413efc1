"""A router whose classifier says what the test wants: for testing code that acts on decisions.

The classifier is sirp's :class:`~sirp.backends.mock.MockBackend` with the bundled model's
tokenizer and labels; a :class:`Script` sets the category and each reference model's predicted
success of every prompt, so a test chooses the tier and the reasoning rule's input exactly. The
LangChain and LlamaIndex integration suites build their routers with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.backends.tokenization import TokenizedBatch
from sirp.router import DEFAULT_MODEL_DIR, SemanticRouter

__all__ = ["LARGE_REF", "SMALL_REF", "Script", "scripted_router"]

#: The reference models of the default tiers (SLM and LLM).
SMALL_REF = "Meta-Llama-3_1-8B-Instruct"
LARGE_REF = "Meta-Llama-3_1-70B-Instruct"


@dataclass
class Script:
    """What the scripted classifier says about every prompt: its category and each tier's predicted success."""

    category: str = "math"
    success: dict[str, float] = field(default_factory=lambda: {SMALL_REF: 0.9, LARGE_REF: 0.92})

    def easy(self, category: str = "other") -> Script:
        """The small tier answers, without reasoning."""
        self.category, self.success = category, {SMALL_REF: 0.9, LARGE_REF: 0.92}
        return self

    def hard(self, category: str = "math") -> Script:
        """The large tier answers (predicted gain 0.65), reasoning with high effort (complexity 0.75)."""
        self.category, self.success = category, {SMALL_REF: 0.25, LARGE_REF: 0.9}
        return self


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def scripted_router(script: Script, config: Any = None) -> SemanticRouter:
    """A router on ``config`` whose classifier follows ``script``, read at every call (change it between calls).

    Embeddings still come from the token ids (``MockBackend``), so tool filtering and the
    semantic cache behave as with a real model.
    """
    manifest = ModelFolder.load(DEFAULT_MODEL_DIR).manifest
    base = MockBackend(manifest)

    def handler(batch: TokenizedBatch) -> dict[str, np.ndarray]:
        out = base.run(batch)
        n = len(batch)
        cat = np.zeros((n, len(manifest.categories)), dtype=np.float32)
        cat[:, manifest.categories.index(script.category)] = 12.0
        succ = np.array([[_logit(script.success.get(m, 0.5)) for m in manifest.reference_models]] * n, dtype=np.float32)
        out[manifest.outputs["category"]] = cat
        out[manifest.outputs["success"]] = succ
        return out

    return SemanticRouter(config, backend=MockBackend(manifest, handler))
