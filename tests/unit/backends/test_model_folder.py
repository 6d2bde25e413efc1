"""Loading a model folder fails early with a message that says what is wrong."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder
from sirp.errors import ModelLoadError


def test_loads(mock_folder: Path) -> None:
    f = ModelFolder.load(mock_folder)
    assert f.manifest.categories == ["biology", "history", "law", "math"]
    assert f.onnx_path().name == "model.int8.onnx"


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        ModelFolder.load(tmp_path / "nope")


def test_path_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ModelLoadError, match="is a file"):
        ModelFolder.load(tmp_path / "f")


def test_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a sirp model folder"):
        ModelFolder.load(tmp_path)


def test_corrupt_manifest(mock_folder: Path) -> None:
    (mock_folder / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        ModelFolder.load(mock_folder)


def test_manifest_field_error_names_field(mock_folder: Path) -> None:
    m = json.loads((mock_folder / MANIFEST_NAME).read_text())
    m["categories"] = []
    (mock_folder / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(ModelLoadError, match="field 'categories'"):
        ModelFolder.load(mock_folder)


def test_future_format_version(mock_folder: Path) -> None:
    m = json.loads((mock_folder / MANIFEST_NAME).read_text())
    m["format_version"] = 99
    (mock_folder / MANIFEST_NAME).write_text(json.dumps(m))
    with pytest.raises(ModelLoadError, match="format_version 99 is not supported"):
        ModelFolder.load(mock_folder)


@pytest.mark.parametrize("name", ["tokenizer.json", "model.int8.onnx"])
def test_missing_file(mock_folder: Path, name: str) -> None:
    (mock_folder / name).unlink()
    with pytest.raises(ModelLoadError, match=f"'{name}', which is missing"):
        ModelFolder.load(mock_folder)


def test_empty_file(mock_folder: Path) -> None:
    (mock_folder / "model.int8.onnx").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="is empty"):
        ModelFolder.load(mock_folder)


def test_missing_precision(mock_folder: Path) -> None:
    with pytest.raises(ModelLoadError, match="has no fp32 model"):
        ModelFolder.load(mock_folder).onnx_path("fp32")


def test_corrupt_tokenizer(mock_folder: Path) -> None:
    from sirp.backends.tokenization import Tokenizer

    (mock_folder / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="not a valid tokenizers file"):
        Tokenizer.from_folder(ModelFolder.load(mock_folder))


def test_corrupt_onnx(mock_folder: Path) -> None:
    from sirp.backends.onnx import OnnxBackend

    with pytest.raises(ModelLoadError, match="could not load"):
        OnnxBackend(ModelFolder.load(mock_folder))


def test_copy_is_independent(mock_folder: Path, tmp_path: Path) -> None:
    dst = tmp_path / "copy"
    shutil.copytree(mock_folder, dst)
    assert ModelFolder.load(dst).path == dst
