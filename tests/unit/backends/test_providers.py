"""Execution provider choice and its errors."""

from __future__ import annotations

import pytest

from sirp.backends.providers import resolve_providers
from sirp.errors import ConfigError, ProviderUnavailableError

CPU = ["CPUExecutionProvider"]
GPU = ["CUDAExecutionProvider", "CPUExecutionProvider"]
ROCM = ["ROCMExecutionProvider", "CPUExecutionProvider"]


def test_auto_prefers_cuda_then_rocm_then_cpu() -> None:
    assert resolve_providers("auto", GPU) == GPU
    assert resolve_providers("auto", ROCM) == ROCM
    assert resolve_providers("auto", CPU) == CPU
    assert resolve_providers("auto", ["TensorrtExecutionProvider", *GPU]) == GPU


def test_alias_and_cpu_fallback_appended() -> None:
    assert resolve_providers("cuda", GPU) == GPU
    assert resolve_providers(["cuda"], GPU) == GPU
    assert resolve_providers("cpu", GPU) == CPU


def test_unavailable_names_the_package_to_install() -> None:
    with pytest.raises(ProviderUnavailableError) as e:
        resolve_providers("cuda", CPU)
    msg = str(e.value)
    assert "CUDAExecutionProvider" in msg
    assert "onnxruntime-gpu" in msg
    assert "onnxruntime==" in msg  # the installed distribution and its version


def test_rocm_unavailable() -> None:
    with pytest.raises(ProviderUnavailableError, match="onnxruntime-rocm"):
        resolve_providers("rocm", CPU)


def test_unknown_provider() -> None:
    with pytest.raises(ConfigError, match="unknown execution provider 'tpu'"):
        resolve_providers("tpu", CPU)


def test_empty_list() -> None:
    with pytest.raises(ConfigError, match="empty"):
        resolve_providers([], CPU)


def test_real_onnxruntime_offers_cpu() -> None:
    assert "CPUExecutionProvider" in resolve_providers("auto")
