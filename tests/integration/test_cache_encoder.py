"""A separate cache encoder: the export of a BERT-style sentence encoder, and its use as cache.encoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.cache.encoder import FolderEncoder
from sirp.errors import ModelLoadError
from sirp.router import DEFAULT_MODEL_DIR
from tests.synthetic import make_rows, make_tokenizer


def test_per_token_outputs_are_mean_pooled_over_the_mask() -> None:
    folder = ModelFolder.load(DEFAULT_MODEL_DIR)

    def per_token(batch):
        # token t of every text gets the vector (t+1, 0, ..., 0): the pooled first value is the mean of 1..n
        n, width = batch.input_ids.shape
        out = np.zeros((n, width, 4), dtype=np.float32)
        out[:, :, 0] = np.arange(1, width + 1)
        out[:, :, 1] = 1.0
        return {"embedding": out}

    enc = FolderEncoder(folder, backend=MockBackend(folder.manifest, per_token))
    vectors, truncated = enc.encode(["short", "a somewhat longer text here"])
    lengths = enc.tokenizer.encode(["short", "a somewhat longer text here"]).attention_mask.sum(1)
    for v, n in zip(vectors, lengths, strict=True):
        mean = (n + 1) / 2  # mean of 1..n, padding left out
        expected = np.array([mean, 1.0, 0, 0]) / np.hypot(mean, 1.0)
        assert np.allclose(v, expected, atol=1e-5)
    assert not truncated.any()


def test_a_folder_without_an_embedding_output_is_refused(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_MODEL_DIR, tmp_path / "m")
    manifest = (tmp_path / "m" / "sirp_manifest.json").read_text().replace('"embedding": "embedding"', '"x": "x"')
    (tmp_path / "m" / "sirp_manifest.json").write_text(manifest)
    with pytest.raises(ModelLoadError, match="no 'embedding' output"):
        FolderEncoder(tmp_path / "m", backend=MockBackend(ModelFolder.load(tmp_path / "m").manifest))


def test_the_bundled_model_folder_serves_as_a_separate_encoder(fake_openai) -> None:
    pytest.importorskip("openai")
    from sirp import SemanticRouter

    cfg = {
        "models": [
            {"name": "llama-3.1-8b-instruct", "tier": "slm", "base_url": fake_openai.base_url},
            {"name": "llama-3.1-70b-instruct", "tier": "llm", "base_url": fake_openai.base_url},
        ],
        "cache": {"enabled": True, "encoder": str(DEFAULT_MODEL_DIR)},
        "classifier": {"threads": 1},
    }
    with SemanticRouter(cfg) as router:
        assert router.cache is not None and isinstance(router.cache.encoder, FolderEncoder)
        assert router.complete("Who painted the Mona Lisa?").cache == "miss"
        assert router.complete("who painted the  mona lisa?").cache == "hit"
    assert len([r for r in fake_openai.requests if r.path.endswith("/chat/completions")]) == 1


@pytest.mark.slow
def test_export_sentence_encoder_makes_a_folder_the_cache_can_use(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="the export needs sirp[train]")
    transformers = pytest.importorskip("transformers")
    from sirp.bench.cache import export_sentence_encoder

    src = tmp_path / "tiny-bert"
    make_tokenizer(make_rows(100), src)
    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        vocab_size=400, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64
    )
    transformers.BertModel(cfg).save_pretrained(src)
    out = export_sentence_encoder(src, tmp_path / "encoder", max_length=64)
    enc = FolderEncoder(out, threads=1)
    texts = ["the sky is blue", "what is the height of everest today"]
    batch, _ = enc.encode(texts)
    alone = np.stack([enc.encode([t])[0][0] for t in texts])
    assert batch.shape == (2, 32) and np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert np.allclose(batch, alone, atol=1e-5)  # padding does not change a text's embedding
    # the export is done once: a second call keeps the folder as it is
    stamp = (out / "model.fp32.onnx").stat().st_mtime_ns
    export_sentence_encoder(src, out)
    assert (out / "model.fp32.onnx").stat().st_mtime_ns == stamp
