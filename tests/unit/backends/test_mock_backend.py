"""MockBackend passes the backend conformance suite (so the suite itself is exercised)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder, ModelManifest
from sirp.backends.tokenization import Tokenizer
from sirp.testing import BackendConformanceTests


class TestMockBackend(BackendConformanceTests):
    @pytest.fixture
    def manifest(self, mock_folder: Path) -> ModelManifest:
        return ModelFolder.load(mock_folder).manifest

    @pytest.fixture
    def backend(self, manifest: ModelManifest) -> MockBackend:
        return MockBackend(manifest)

    @pytest.fixture
    def tokenizer(self, mock_folder: Path) -> Tokenizer:
        return Tokenizer.from_folder(ModelFolder.load(mock_folder))
