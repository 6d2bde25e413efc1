"""examples/langchain_routing.py runs offline (fake OpenAI server, bundled classifier) and shows the routing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "langchain_routing.py"
ENDPOINT_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SIRP_SMALL_BASE_URL", "SIRP_LARGE_BASE_URL")


@pytest.mark.slow
def test_example_routes_and_switches_reasoning_per_category() -> None:
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
    assert text.startswith("offline: a fake OpenAI-compatible server plays both models")
    blocks = {b.splitlines()[0]: b for b in text.split("\n\nQ: ")[1:]}
    integral = blocks["What is the integral of x squared?"]
    assert "math" in integral and "reasoning on (high)" in integral and "sent: reasoning_effort=high" in integral
    assert "A: Echo from large-model: What is the integral of x squared?" in integral
    solve = blocks["Solve 2x + 3 = 7."]
    assert "tier slm" in solve and "sent: chat_template_kwargs={'enable_thinking': True}" in solve
    treaty = blocks["Which treaty ended World War I?"]
    assert "history" in treaty and "reasoning off" in treaty
    assert "reasoning_effort=minimal" in treaty or "'enable_thinking': False" in treaty
    assert "system prompt sent: 'Show each step.'" in text
