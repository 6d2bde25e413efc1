"""examples/llama_index_router.py runs offline (fake server, bundled classifier) and picks engines by category."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "llama_index_router.py"
ENDPOINT_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SIRP_SMALL_BASE_URL", "SIRP_LARGE_BASE_URL")


@pytest.mark.slow
def test_example_selects_the_query_engine_by_category() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ENDPOINT_VARS}
    out = subprocess.run(
        [sys.executable, "-W", "error::ResourceWarning", str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("offline: a fake OpenAI-compatible server writes the answers")
    blocks = {b.splitlines()[0]: b for b in text.split("\n\nQ: ")[1:]}
    integral = blocks["What is the integral of x squared?"]
    assert "selected: sirp: math" in integral and "→ math_notes (route)" in integral
    assert "The integral of x squared is x cubed over three" in integral and "Versailles" not in integral
    treaty = blocks["Which treaty ended World War I?"]
    assert "→ history_notes (route)" in treaty and "Treaty of Versailles" in treaty
    capital = blocks["What is the capital of France?"]
    assert "→ general_notes (default)" in capital and "Paris is the capital of France." in capital
