"""Choosing ONNX Runtime execution providers.

``"auto"`` takes CUDA, then ROCm, then CPU from what the installed onnxruntime offers. A provider
asked for by name must be there, or the error says which onnxruntime distribution is installed
and which one to install instead. onnxruntime, onnxruntime-gpu and onnxruntime-rocm all import
as ``onnxruntime``, so the distribution metadata is what tells them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from sirp._imports import installed_distributions
from sirp.errors import ConfigError, ProviderUnavailableError

__all__ = ["PROVIDER_ALIASES", "check_provider_names", "resolve_providers"]

#: Short names accepted in configs and on the command line.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "migraphx": "MIGraphXExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
    "directml": "DmlExecutionProvider",
}
_AUTO_ORDER = ("CUDAExecutionProvider", "ROCMExecutionProvider", "CPUExecutionProvider")
_PACKAGE_FOR = {
    "CUDAExecutionProvider": 'onnxruntime-gpu (pip install "sirp[gpu]")',
    "TensorrtExecutionProvider": "onnxruntime-gpu with TensorRT libraries",
    "ROCMExecutionProvider": "onnxruntime-rocm (AMD's ROCm build of onnxruntime)",
    "MIGraphXExecutionProvider": "onnxruntime-rocm (AMD's ROCm build of onnxruntime)",
    "OpenVINOExecutionProvider": "onnxruntime-openvino",
    "DmlExecutionProvider": "onnxruntime-directml",
    "CoreMLExecutionProvider": "onnxruntime on macOS",
}
_ORT_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-rocm",
    "onnxruntime-openvino",
    "onnxruntime-directml",
)


def _canonical(name: str) -> str:
    full = PROVIDER_ALIASES.get(name.lower(), name)
    known = set(PROVIDER_ALIASES.values())
    if full not in known:
        raise ConfigError(
            f"unknown execution provider {name!r}; use 'auto' or one of: "
            + ", ".join(sorted(PROVIDER_ALIASES))
            + " (or the full ONNX Runtime name, e.g. 'CUDAExecutionProvider')"
        )
    return full


def check_provider_names(requested: str | Sequence[str]) -> None:
    """Fail early (at config load) on a provider name sirp does not know; imports nothing heavy."""
    if isinstance(requested, str):
        if requested.lower() != "auto":
            _canonical(requested)
        return
    for name in requested:
        _canonical(name)


def resolve_providers(requested: str | Sequence[str] = "auto", available: Sequence[str] | None = None) -> list[str]:
    """Return the providers to open a session with, best first; always ending with CPU.

    Args:
        requested: ``"auto"``, one provider name (alias or full name), or a list in order of
            preference.
        available: what onnxruntime offers (default: ``onnxruntime.get_available_providers()``).

    Raises:
        ConfigError: a provider name sirp does not know.
        ProviderUnavailableError: a named provider that the installed onnxruntime lacks.
    """
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    offered = list(available)
    if isinstance(requested, str) and requested.lower() == "auto":
        chosen = [p for p in _AUTO_ORDER if p in offered]
        return chosen or ["CPUExecutionProvider"]
    names = [requested] if isinstance(requested, str) else list(requested)
    if not names:
        raise ConfigError("provider list is empty; use 'auto' or name at least one provider")
    chosen = []
    for name in names:
        full = _canonical(name)
        if full not in offered:
            installed = installed_distributions(*_ORT_DISTRIBUTIONS) or ["no onnxruntime distribution"]
            both = len([d for d in installed if d.startswith("onnxruntime")]) > 1
            raise ProviderUnavailableError(
                f"execution provider {full} was requested but is not available. Installed: "
                f"{', '.join(installed)}; it offers {', '.join(offered) or 'nothing'}. "
                f"To use {full}, install {_PACKAGE_FOR.get(full, 'an onnxruntime build that has it')}"
                + (
                    " (and uninstall the other onnxruntime distributions: they share one import name "
                    "and shadow each other)"
                    if both
                    else " in place of the plain 'onnxruntime' package"
                )
                + ", or use provider='auto' to take the best one available."
            )
        if full not in chosen:
            chosen.append(full)
    if "CPUExecutionProvider" not in chosen and "CPUExecutionProvider" in offered:
        chosen.append("CPUExecutionProvider")  # ORT's fallback for nodes the accelerator lacks
    return chosen
