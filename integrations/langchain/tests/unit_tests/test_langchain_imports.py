"""The public names of langchain_sirp (pinned, like langchain-openai's test_imports)."""

from __future__ import annotations

import langchain_sirp
import pytest

EXPECTED = ["DECISION_KEY", "ChatSemanticRouter", "SemanticRouterRunnable", "routing_decision"]


def test_all_imports() -> None:
    assert sorted(langchain_sirp.__all__) == sorted(EXPECTED)
    for name in EXPECTED:
        assert getattr(langchain_sirp, name) is not None


@pytest.mark.slow
def test_importing_does_not_load_the_classifier_runtime() -> None:
    import subprocess
    import sys

    code = "import sys, langchain_sirp; print('onnxruntime' in sys.modules, 'langchain_openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "False"]
