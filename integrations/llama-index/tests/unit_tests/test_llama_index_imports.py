"""The public names of llama_index.llms.sirp (pinned), and a namespace package like llama-index's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import llama_index.llms.sirp as pkg
import pytest

EXPECTED = ["DECISION_KEY", "SemanticCategorySelector", "SemanticRouterLLM", "routing_decision"]


def test_all_imports() -> None:
    assert sorted(pkg.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert getattr(pkg, name) is not None


def test_namespace_package_has_no_top_level_init() -> None:
    root = Path(pkg.__file__).resolve().parents[2]  # .../llama_index
    assert not (root / "__init__.py").exists() and not (root / "llms" / "__init__.py").exists()


@pytest.mark.slow
def test_importing_does_not_load_the_classifier_runtime() -> None:
    code = "import sys, llama_index.llms.sirp; print('onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
