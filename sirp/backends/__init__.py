"""Backends: run a routing model on a tokenised batch (ONNX Runtime today).

Nothing above this layer imports onnxruntime or torch; :class:`~sirp.backends.onnx.OnnxBackend`
is imported lazily where a router is built.
"""

from sirp.backends.base import Backend
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder, ModelManifest
from sirp.backends.providers import resolve_providers
from sirp.backends.tokenization import TokenizedBatch, Tokenizer

__all__ = [
    "Backend",
    "MockBackend",
    "ModelFolder",
    "ModelManifest",
    "TokenizedBatch",
    "Tokenizer",
    "resolve_providers",
]
