"""The whole pipeline on a tiny ModernBERT made here: train → export → quantise → route.

The fixtures (tests/conftest.py) train a 2-layer ModernBERT on a few hundred synthetic rows,
export it with Optimum, quantise it to int8 and verify both graphs against PyTorch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sirp import SemanticRouter
from sirp.backends.model_folder import ModelFolder, ModelManifest
from sirp.backends.onnx import OnnxBackend
from sirp.backends.tokenization import Tokenizer
from sirp.errors import ProviderUnavailableError, TrainingError
from sirp.testing import BackendConformanceTests

pytestmark = pytest.mark.slow

TIERS = [
    {"name": "slm", "model": "small", "reference_model": "small-model"},
    {"name": "llm", "model": "large", "reference_model": "large-model"},
]


def test_training_learned_the_categories(tiny_run: Path) -> None:
    history = json.loads((tiny_run / "history.json").read_text())["history"]
    best = max(h["category_accuracy"] for h in history)
    assert best >= 0.9, history  # 4 separable categories: chance is 0.25
    assert max(h["success_auc"] for h in history) > 0.6


def test_export_verified_and_manifest_complete(tiny_model: Path) -> None:
    m = ModelFolder.load(tiny_model).manifest
    assert set(m.files) == {"fp32", "int8"}
    assert m.categories == ["biology", "history", "law", "math"]
    assert m.reference_models == ["large-model", "small-model"]
    v = m.training["export_verification"]
    assert v["fp32_max_abs_diff"] <= 1e-4
    assert v["int8_argmax_agreement"] >= 0.99
    assert (tiny_model / "model.int8.onnx").stat().st_size < (tiny_model / "model.onnx").stat().st_size


class TestOnnxFp32(BackendConformanceTests):
    precision = "fp32"
    padding_atol = 1e-4

    @pytest.fixture
    def manifest(self, tiny_model: Path) -> ModelManifest:
        return ModelFolder.load(tiny_model).manifest

    @pytest.fixture
    def backend(self, tiny_model: Path) -> OnnxBackend:
        return OnnxBackend(tiny_model, precision=self.precision, provider="cpu", threads=1)  # type: ignore[arg-type]

    @pytest.fixture
    def tokenizer(self, tiny_model: Path) -> Tokenizer:
        return Tokenizer.from_folder(ModelFolder.load(tiny_model))


class TestOnnxInt8(TestOnnxFp32):
    precision = "int8"

    def test_padding_invariant(self, backend: OnnxBackend, tokenizer: Tokenizer, manifest: ModelManifest) -> None:
        """int8 replaces the value-level check with the decision-level one.

        Dynamic quantisation uses one activation scale per tensor, so padding shifts the values
        of a hidden-size-32 model by up to ~1 logit (the bundled model's bound is checked in
        test_bundled_model.py). What must hold is that the category rarely changes.
        """
        from tests.synthetic import make_rows

        texts = [r.text for r in make_rows(64, seed=7)]
        name = manifest.outputs["category"]
        together = backend.run(tokenizer.encode(texts))[name].argmax(1)
        alone = np.array([backend.run(tokenizer.encode([t]))[name][0].argmax() for t in texts])
        assert (together == alone).mean() >= 0.9


def test_onnx_matches_pytorch_past_padding(tiny_run: Path, tiny_model: Path) -> None:
    torch = pytest.importorskip("torch")
    from sirp.training.modeling import ModernBertForRouting

    net = ModernBertForRouting.from_pretrained(tiny_run / "best", attn_implementation="sdpa").eval()
    tok = Tokenizer.from_folder(ModelFolder.load(tiny_model))
    texts = ["cell", "the court heard the appeal of the contract then compare then combine finally"]
    batch = tok.encode(texts)
    with torch.inference_mode():
        ref = net(input_ids=torch.from_numpy(batch.input_ids), attention_mask=torch.from_numpy(batch.attention_mask))
    got = OnnxBackend(tiny_model, precision="fp32").run(batch)
    for name in ("category_logits", "success_logits", "embedding"):
        np.testing.assert_allclose(got[name], getattr(ref, name).numpy(), atol=1e-4, rtol=0)


def test_router_on_tiny_model(tiny_model: Path) -> None:
    r = SemanticRouter({"classifier": {"model": str(tiny_model), "threads": 1}, "tiers": TIERS})
    d = r.route("what is the derivative of the matrix equation?")
    assert d.category == "math"
    easy = r.route("explain the cell protein?")
    hard = r.route("explain the cell protein then compare then combine then next then finally compute after that?")
    assert easy.category == "biology"
    assert hard.complexity > easy.complexity
    assert r.backend.device == "cpu"


def test_unavailable_provider_is_explained(tiny_model: Path) -> None:
    with pytest.raises(ProviderUnavailableError, match="onnxruntime-gpu"):
        SemanticRouter({"classifier": {"model": str(tiny_model), "provider": "cuda"}, "tiers": TIERS})


def test_graph_shape_mismatch_is_caught(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    from sirp.errors import ModelLoadError

    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    m = json.loads((bad / "sirp_manifest.json").read_text())
    m["categories"] = [*m["categories"], "extra"]
    (bad / "sirp_manifest.json").write_text(json.dumps(m))
    with pytest.raises(ModelLoadError, match=r"different models|values per row"):
        OnnxBackend(bad)


def test_resume_continues_from_checkpoint(synthetic_data: dict[str, Path], tmp_path: Path) -> None:
    from sirp.training.trainer import ModelSize, TrainConfig, train

    small = ModelSize(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    cfg = TrainConfig(
        train=synthetic_data["train"],
        output=tmp_path / "run",
        tokenizer=synthetic_data["tokenizer"],
        model=small,
        epochs=1,
        batch_size=32,
        checkpoint_every=4,
        max_steps=4,
        threads=1,
    )
    train(cfg)
    assert json.loads((tmp_path / "run" / "history.json").read_text())["steps"] == 4
    train(cfg.model_copy(update={"max_steps": 8}))
    assert json.loads((tmp_path / "run" / "history.json").read_text())["steps"] == 8


def test_training_data_errors_name_the_line(tmp_path: Path) -> None:
    from sirp.training.data import read_rows

    p = tmp_path / "bad.jsonl"
    p.write_text('{"text": "ok", "category": "a"}\n{"text": "x", "catgory": "b"}\n')
    with pytest.raises(TrainingError, match=r"bad.jsonl:2: field 'catgory'"):
        read_rows(p)
    p.write_text("{not json\n")
    with pytest.raises(TrainingError, match=r"bad.jsonl:1: not valid JSON"):
        read_rows(p)
