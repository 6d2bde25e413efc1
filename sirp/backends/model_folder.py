"""The sirp model folder: ONNX graphs, ``tokenizer.json`` and a small manifest.

A model folder looks like this::

    my-router/
      sirp_manifest.json   labels of each head, reference models, max length, format version,
                           how it was trained
      model.onnx           fp32 graph (optional if model.int8.onnx is there)
      model.int8.onnx      int8 graph (dynamic quantisation, signed weights)
      tokenizer.json       a Hugging Face ``tokenizers`` file

:meth:`ModelFolder.load` checks all of it up front so that a broken folder fails at load with a
message naming the file and what to do, never at the first request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sirp.errors import ModelLoadError

__all__ = ["FORMAT_VERSION", "MANIFEST_NAME", "ModelFolder", "ModelManifest", "Precision"]

MANIFEST_NAME = "sirp_manifest.json"
FORMAT_VERSION = 1
Precision = Literal["int8", "fp32"]


class ModelManifest(BaseModel):
    """What a model folder holds and how its outputs are to be read."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = FORMAT_VERSION
    architecture: str = "modernbert"
    categories: list[str] = Field(min_length=1, description="labels of the category head, in output order")
    reference_models: list[str] = Field(default_factory=list, description="models of the success head, in output order")
    embedding_dim: int | None = Field(default=None, gt=0)
    max_length: int = Field(default=512, gt=1, description="the most tokens the model was built for")
    files: dict[Precision, str] = Field(description="ONNX file of each precision, relative to the folder")
    tokenizer: str = "tokenizer.json"
    inputs: list[str] = Field(default_factory=lambda: ["input_ids", "attention_mask"])
    outputs: dict[str, str] = Field(
        default_factory=lambda: {
            "category": "category_logits",
            "success": "success_logits",
            "embedding": "embedding",
        },
        description="head name → ONNX output name (optional guard heads: pii, jailbreak)",
    )
    pii_labels: list[str] = Field(
        default_factory=list,
        description="BIO tags of the PII head (its pii output), in output order, 'O' first; empty without the head",
    )
    jailbreak_threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="calibrated probability from which the jailbreak head calls a text an attack "
        "(chosen on held-out data at a target false-positive rate); null without the head",
    )
    training: dict[str, Any] = Field(default_factory=dict, description="how the model was made (free-form)")
    category_bias: dict[str, float] = Field(
        default_factory=dict,
        description="added to the category logits before the softmax (class-prior calibration made by "
        "`sirp calibrate`); a missing label means 0",
    )
    calibration: dict[str, Any] = Field(
        default_factory=dict, description="how category_bias was fitted: data, sizes, accuracy before/after"
    )

    @model_validator(mode="after")
    def _check(self) -> ModelManifest:
        if self.format_version != FORMAT_VERSION:
            raise ValueError(
                f"format_version {self.format_version} is not supported by this sirp (expects "
                f"{FORMAT_VERSION}); re-export the model with this version's `sirp export`"
            )
        if not self.files:
            raise ValueError("files must name at least one ONNX file (int8 or fp32)")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError("categories contains duplicate labels")
        unknown = sorted(set(self.category_bias) - set(self.categories))
        if unknown:
            raise ValueError(f"category_bias names labels that are not categories: {unknown}")
        if "pii" in self.outputs and (not self.pii_labels or self.pii_labels[0] != "O"):
            raise ValueError("the model has a pii output, so pii_labels must list its BIO tags, 'O' first")
        bad = [t for t in self.pii_labels[1:] if not t.startswith(("B-", "I-"))]
        if bad:
            raise ValueError(f"pii_labels must be 'O' and B-/I- tags, got {bad[:3]}")
        return self


class ModelFolder:
    """A validated model folder on disk."""

    def __init__(self, path: Path, manifest: ModelManifest) -> None:
        self.path = path
        self.manifest = manifest

    @classmethod
    def load(cls, path: str | Path) -> ModelFolder:
        """Read and check a model folder; raise :class:`ModelLoadError` naming what is wrong."""
        folder = Path(path)
        if not folder.exists():
            raise ModelLoadError(
                f"model folder {str(folder)!r} does not exist; pass the path of a folder made by "
                "`sirp export` (or omit it to use the bundled default model)"
            )
        if not folder.is_dir():
            raise ModelLoadError(
                f"model path {str(folder)!r} is a file, not a folder; pass the folder that holds {MANIFEST_NAME}"
            )
        mpath = folder / MANIFEST_NAME
        if not mpath.is_file():
            raise ModelLoadError(
                f"{str(folder)!r} has no {MANIFEST_NAME}; it is not a sirp model folder. "
                "Make one with `sirp export --checkpoint <trained checkpoint> --output <folder>`"
            )
        try:
            raw = json.loads(mpath.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ModelLoadError(f"{mpath} is not valid JSON ({err}); the folder is corrupt, re-export it") from err
        try:
            manifest = ModelManifest.model_validate(raw)
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "<manifest>"
            raise ModelLoadError(f"{mpath}: field {loc!r}: {first['msg']}") from err
        for what, name in [("tokenizer", manifest.tokenizer), *((f"{p} model", f) for p, f in manifest.files.items())]:
            f = folder / name
            if not f.is_file():
                raise ModelLoadError(f"{str(folder)!r}: the manifest names {what} file {name!r}, which is missing")
            if f.stat().st_size == 0:
                raise ModelLoadError(f"{str(folder)!r}: {what} file {name!r} is empty; re-export the model")
        return cls(folder, manifest)

    def onnx_path(self, precision: Precision | Literal["auto"] = "auto") -> Path:
        """Path of the ONNX graph of ``precision`` (``auto``: int8 when present, else fp32)."""
        files = self.manifest.files
        if precision == "auto":
            precision = "int8" if "int8" in files else "fp32"
        if precision not in files:
            raise ModelLoadError(
                f"{str(self.path)!r} has no {precision} model (it has: {', '.join(sorted(files))}); "
                f"ask for one of those or re-export with `sirp export`"
            )
        return self.path / files[precision]

    @property
    def tokenizer_path(self) -> Path:
        """Path of the ``tokenizer.json`` file."""
        return self.path / self.manifest.tokenizer

    def write_manifest(self) -> None:
        """Write the manifest back (used by export)."""
        (self.path / MANIFEST_NAME).write_text(self.manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
