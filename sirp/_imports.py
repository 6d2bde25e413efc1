"""Import guard for optional dependencies.

One helper, used at the point of use, so that a missing extra always raises the same
:class:`~sirp.errors.MissingDependencyError` with the exact ``pip install`` line.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

from sirp.errors import MissingDependencyError

__all__ = ["installed_distributions", "require"]


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install.

    Args:
        module: dotted module name, e.g. ``"onnxruntime"``.
        extra: the sirp extra that provides it, e.g. ``"train"``.
        purpose: what the caller wanted to do, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise MissingDependencyError(
            f"{purpose} needs the Python package {module!r}, which is not installed "
            f'({err}). Install it with: pip install "sirp[{extra}]"'
        ) from err


def installed_distributions(*names: str) -> list[str]:
    """Return those of the given distribution names that are installed, as ``name==version``.

    onnxruntime, onnxruntime-gpu and onnxruntime-rocm all import as ``onnxruntime``; only the
    distribution metadata tells which one is there.
    """
    found = []
    for name in names:
        try:
            found.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
