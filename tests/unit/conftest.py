"""Unit fixtures: a model folder whose graph is never opened, and a router on MockBackend."""

from __future__ import annotations

from pathlib import Path

import pytest

from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder, ModelManifest
from tests.synthetic import make_rows, make_tokenizer

CATS = ["biology", "history", "law", "math"]


@pytest.fixture
def mock_folder(tmp_path: Path) -> Path:
    make_tokenizer(make_rows(200), tmp_path)
    (tmp_path / "model.int8.onnx").write_bytes(b"not used by MockBackend")
    manifest = ModelManifest(
        categories=CATS,
        reference_models=["small-model", "large-model"],
        embedding_dim=8,
        max_length=32,
        files={"int8": "model.int8.onnx"},
    )
    (tmp_path / MANIFEST_NAME).write_text(manifest.model_dump_json())
    return tmp_path


@pytest.fixture
def mock_config(mock_folder: Path) -> dict:
    return {
        "classifier": {"model": str(mock_folder)},
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": "small-model"},
            {"name": "llm", "model": "large", "reference_model": "large-model"},
        ],
    }


@pytest.fixture
def mock_router(mock_folder: Path, mock_config: dict):
    from sirp import SemanticRouter

    folder = ModelFolder.load(mock_folder)
    return SemanticRouter(mock_config, backend=MockBackend(folder.manifest))
