"""The one exception hierarchy of sirp.

Every error sirp raises on purpose derives from :class:`SirpError`. Where a caller would
naturally catch a builtin, the sirp error mixes it in, so ``except ValueError`` keeps working::

    SirpError
    ├── ConfigError (ValueError)              bad configuration: field path and reason
    ├── InputError (ValueError)               a prompt sirp cannot route
    │   └── PromptTypeError (TypeError)       a prompt of the wrong type
    ├── ModelLoadError                        model folder missing, incomplete or mismatched
    ├── BackendError (RuntimeError)           the classifier backend failed
    │   └── ProviderUnavailableError          an execution provider that is not installed
    ├── MissingDependencyError (ImportError)  an optional extra that is not installed
    └── TrainingError                         training, export or verification failed

Messages say what happened, why, and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "ModelLoadError",
    "PromptTypeError",
    "ProviderUnavailableError",
    "SirpError",
    "TrainingError",
]


class SirpError(Exception):
    """Root of every error sirp raises on purpose."""


class ConfigError(SirpError, ValueError):
    """A configuration value is invalid; the message names the field path and the reason."""


class InputError(SirpError, ValueError):
    """A prompt cannot be routed (empty, not valid text, no user turn, ...)."""


class PromptTypeError(InputError, TypeError):
    """A prompt has the wrong type (neither a string nor a list of chat messages)."""


class ModelLoadError(SirpError):
    """A model folder is missing, incomplete, corrupt or does not match its manifest."""


class BackendError(SirpError, RuntimeError):
    """The classifier backend failed to run a batch."""


class ProviderUnavailableError(BackendError):
    """An explicitly requested ONNX Runtime execution provider is not available here."""


class MissingDependencyError(SirpError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` line."""


class TrainingError(SirpError):
    """Training, export, quantisation or their verification failed."""
