"""Lint, format and types are part of the suite: a failure here fails CI like any test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_ruff_lint() -> None:
    assert shutil.which("ruff") or (Path(sys.executable).parent / "ruff").exists()
    p = run(sys.executable, "-m", "ruff", "check", "sirp", "tests", "scripts", "examples", "integrations")
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.slow
def test_ruff_format() -> None:
    p = run(sys.executable, "-m", "ruff", "format", "--check", "sirp", "tests", "scripts", "examples", "integrations")
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.slow
def test_mypy_strict_on_sirp() -> None:
    p = run(sys.executable, "-m", "mypy")
    assert p.returncode == 0, p.stdout + p.stderr
