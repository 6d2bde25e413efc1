"""A deterministic backend for tests: no model, outputs derived from the token ids.

Like ``httpx.MockTransport``, it lets code above the backend layer be tested without running a
real model. Pass ``handler`` to decide outputs yourself.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sirp.backends.base import Backend
from sirp.backends.model_folder import ModelManifest
from sirp.backends.tokenization import TokenizedBatch

__all__ = ["MockBackend"]

Handler = Callable[[TokenizedBatch], dict[str, np.ndarray]]


class MockBackend(Backend):
    """Outputs of the right names and shapes for ``manifest``, computed from the token ids.

    By default the category is ``sum(ids) mod n_categories`` (logit 8, others 0) and each
    reference model's success logit falls with the number of tokens, so longer prompts look
    harder. ``calls`` counts the batches run.
    """

    def __init__(self, manifest: ModelManifest, handler: Handler | None = None) -> None:
        self.manifest = manifest
        self.handler = handler
        self.providers = ["CPUExecutionProvider"]
        self.calls = 0

    def run(self, batch: TokenizedBatch) -> dict[str, np.ndarray]:
        """Deterministic outputs for ``batch``."""
        self.calls += 1
        if self.handler is not None:
            return self.handler(batch)
        m = self.manifest
        n = len(batch)
        lengths = batch.attention_mask.sum(1)
        sums = (batch.input_ids * batch.attention_mask).sum(1)
        cat = np.zeros((n, len(m.categories)), dtype=np.float32)
        cat[np.arange(n), sums % len(m.categories)] = 8.0
        k = max(len(m.reference_models), 1)
        strength = np.linspace(0.0, 1.5, k, dtype=np.float32)
        succ = (1.0 - lengths[:, None] / 16.0 + strength[None, :]).astype(np.float32)
        dim = m.embedding_dim or 8
        emb = np.zeros((n, dim), dtype=np.float32)
        emb[np.arange(n), sums % dim] = 1.0
        out = m.outputs
        return {
            out["category"]: cat,
            out.get("success", "success_logits"): succ,
            out.get("embedding", "embedding"): emb,
        }
