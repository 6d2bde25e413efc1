"""Conformance tests every backend must pass (ONNX CPU/CUDA/ROCm, int8/fp32, later Candle)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sirp.backends.base import Backend
from sirp.backends.model_folder import ModelManifest
from sirp.backends.tokenization import Tokenizer

__all__ = ["BackendConformanceTests"]

TEXTS = [
    "Why is the sky blue?",
    "Compute the integral of x squared from zero to three.",
    "What did the Treaty of Versailles decide about reparations, and why did it matter later?",
    "hi",
]


class BackendConformanceTests:
    """Subclass and provide the ``backend``, ``tokenizer`` and ``manifest`` fixtures."""

    #: Largest difference allowed between a text run alone and the same text in a padded batch.
    #: fp32 graphs are exact up to float noise. Dynamically quantised (int8) graphs compute one
    #: activation scale per tensor, so batch neighbours shift values slightly: give them a looser
    #: bound; the category they pick must still not change.
    padding_atol: float = 1e-4

    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError("provide a `backend` fixture")

    @pytest.fixture
    def tokenizer(self) -> Tokenizer:
        raise NotImplementedError("provide a `tokenizer` fixture")

    @pytest.fixture
    def manifest(self) -> ModelManifest:
        raise NotImplementedError("provide a `manifest` fixture")

    def test_outputs_named_and_shaped_by_manifest(
        self, backend: Backend, tokenizer: Tokenizer, manifest: ModelManifest
    ) -> None:
        out = backend.run(tokenizer.encode(TEXTS))
        sizes = {
            "category": len(manifest.categories),
            "success": len(manifest.reference_models),
            "embedding": manifest.embedding_dim,
        }
        for head, name in manifest.outputs.items():
            assert name in out, f"backend output lacks {name!r}"
            arr = np.asarray(out[name])
            assert arr.shape[0] == len(TEXTS)
            if sizes.get(head):
                assert arr.shape[1] == sizes[head]
            assert np.isfinite(arr).all()

    def test_deterministic(self, backend: Backend, tokenizer: Tokenizer, manifest: ModelManifest) -> None:
        batch = tokenizer.encode(TEXTS)
        a, b = backend.run(batch), backend.run(batch)
        for name in manifest.outputs.values():
            np.testing.assert_array_equal(a[name], b[name])

    def test_padding_invariant(self, backend: Backend, tokenizer: Tokenizer, manifest: ModelManifest) -> None:
        together = backend.run(tokenizer.encode(TEXTS))
        name = manifest.outputs["category"]
        for i, text in enumerate(TEXTS):
            alone = backend.run(tokenizer.encode([text]))
            np.testing.assert_allclose(alone[name][0], together[name][i], atol=self.padding_atol, rtol=0)
            top2 = np.sort(together[name][i])[-2:]
            if top2[1] - top2[0] > 2 * self.padding_atol:  # a flip inside the tolerance band is allowed
                assert alone[name][0].argmax() == together[name][i].argmax(), f"category of {text!r} changed"

    def test_batch_order_does_not_matter(self, backend: Backend, tokenizer: Tokenizer, manifest: ModelManifest) -> None:
        name = manifest.outputs["category"]
        fwd = backend.run(tokenizer.encode(TEXTS))[name]
        rev = backend.run(tokenizer.encode(TEXTS[::-1]))[name][::-1]
        np.testing.assert_allclose(fwd, rev, atol=self.padding_atol, rtol=0)

    def test_thread_safe(self, backend: Backend, tokenizer: Tokenizer, manifest: ModelManifest) -> None:
        name = manifest.outputs["category"]
        batch = tokenizer.encode(TEXTS)
        expected = backend.run(batch)[name]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: backend.run(batch)[name], range(8)))
        for r in results:
            np.testing.assert_allclose(r, expected, atol=1e-6, rtol=0)

    def test_device_is_named(self, backend: Backend) -> None:
        assert backend.device in {"cpu", "cuda", "rocm"}
        assert backend.providers
