"""ONNX Runtime backend (CPU, CUDA or ROCm execution provider).

The runtime talks to ``onnxruntime.InferenceSession`` directly. Optimum is what *makes* the
graphs (``sirp export``), but its ``ORTModel`` classes import torch and transformers, which a
router in production does not need; provider validation follows optimum-onnx's own rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from sirp._imports import require
from sirp.backends.base import Backend
from sirp.backends.model_folder import ModelFolder, Precision
from sirp.backends.providers import resolve_providers
from sirp.backends.tokenization import TokenizedBatch
from sirp.errors import BackendError, ConfigError, ModelLoadError

__all__ = ["GraphOptimization", "OnnxBackend"]

GraphOptimization = Literal["disable", "basic", "extended", "all"]


class OnnxBackend(Backend):
    """Runs a sirp model folder's ONNX graph with ONNX Runtime.

    Args:
        folder: a loaded :class:`ModelFolder` (or a path to one).
        precision: ``"int8"``, ``"fp32"`` or ``"auto"`` (int8 when the folder has it).
        provider: ``"auto"`` (CUDA → ROCm → CPU), a provider name, or a preference list.
        threads: intra-op threads (``None``: ONNX Runtime's default, one per core).
        graph_optimization: ONNX Runtime graph optimisation level.
    """

    def __init__(
        self,
        folder: ModelFolder | str,
        *,
        precision: Precision | Literal["auto"] = "auto",
        provider: str | Sequence[str] = "auto",
        threads: int | None = None,
        graph_optimization: GraphOptimization = "all",
    ) -> None:
        ort = require("onnxruntime", extra="gpu", purpose="Running the ONNX classifier")
        self.folder = folder if isinstance(folder, ModelFolder) else ModelFolder.load(folder)
        self.providers = resolve_providers(provider, ort.get_available_providers())
        self.precision = precision
        path = self.folder.onnx_path(precision)
        opts = ort.SessionOptions()
        levels = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        if graph_optimization not in levels:
            raise ConfigError(f"graph_optimization must be one of {', '.join(levels)}, got {graph_optimization!r}")
        opts.graph_optimization_level = levels[graph_optimization]
        if threads is not None:
            if threads < 1:
                raise ConfigError(f"threads must be ≥ 1 (or None for ONNX Runtime's default), got {threads}")
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self._session: Any = ort.InferenceSession(str(path), sess_options=opts, providers=self.providers)
        except Exception as err:  # onnxruntime raises its own exception types for bad graphs
            raise ModelLoadError(
                f"ONNX Runtime could not load {path} ({type(err).__name__}: {str(err)[:300]}); the file is "
                "corrupt or not an ONNX model — re-export it with `sirp export`"
            ) from err
        self.providers = list(self._session.get_providers())
        self._check_graph()

    def _check_graph(self) -> None:
        m = self.folder.manifest
        inputs = {i.name for i in self._session.get_inputs()}
        missing = [n for n in m.inputs if n not in inputs]
        if missing:
            raise ModelLoadError(
                f"{self.folder.path}: the ONNX graph lacks the inputs {missing} named in the manifest "
                f"(it has {sorted(inputs)})"
            )
        outputs = {o.name: o.shape for o in self._session.get_outputs()}
        sizes = {
            "category": len(m.categories),
            "success": len(m.reference_models),
            "embedding": m.embedding_dim,
            "pii": len(m.pii_labels),
        }
        for head, name in m.outputs.items():
            if name not in outputs:
                raise ModelLoadError(
                    f"{self.folder.path}: the manifest maps head {head!r} to output {name!r}, which the "
                    f"ONNX graph lacks (it has {sorted(outputs)})"
                )
            dim = outputs[name][-1] if outputs[name] else None
            want = sizes.get(head)
            if isinstance(dim, int) and want and dim != want:
                raise ModelLoadError(
                    f"{self.folder.path}: output {name!r} has {dim} values per row but the manifest lists "
                    f"{want} for head {head!r}; the manifest and the graph come from different models"
                )
        self._inputs = list(m.inputs)
        self._outputs = list(m.outputs.values())

    def run(self, batch: TokenizedBatch) -> dict[str, np.ndarray]:
        """Run one padded batch through the graph."""
        feeds = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        try:
            values = self._session.run(self._outputs, {k: feeds[k] for k in self._inputs})
        except Exception as err:
            raise BackendError(f"ONNX Runtime failed on a batch of {len(batch)} ({type(err).__name__}: {err})") from err
        return dict(zip(self._outputs, values, strict=True))

    def close(self) -> None:
        """Drop the session (ONNX Runtime frees its memory when the last reference goes)."""
        self._session = None
