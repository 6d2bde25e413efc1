"""Every example config in examples/ loads, and names reference models the bundled classifier predicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sirp import RouterConfig

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
MANIFEST = ROOT / "sirp" / "default_model" / "sirp_manifest.json"

#: Reference models of the bundled classifier's success head.
BUNDLED_REFERENCE_MODELS = {
    "Meta-Llama-3_1-8B-Instruct",
    "Meta-Llama-3_1-70B-Instruct",
    "Qwen1.5-7B-Chat",
    "Mixtral-8x7B-Instruct-v0.1",
    "gemini-1.5-flash-002",
    "gemini-1.5-pro-002",
    "DeepSeek-Coder-V2",
    "jamba-1.5-large",
}


def reference_models() -> set[str]:
    if MANIFEST.is_file():  # the bundled model, once built, is the authority
        return set(json.loads(MANIFEST.read_text())["reference_models"])
    return BUNDLED_REFERENCE_MODELS


def test_the_dispatch_examples_are_there() -> None:
    assert {"two-tier.yaml", "four-tier.yaml", "hybrid-reasoning.yaml"} <= {p.name for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_config_loads(path: Path) -> None:
    config = RouterConfig.from_yaml(path)
    known = reference_models()
    for t in config.tiers:
        assert t.reference_model in known, f"{path.name}: {t.reference_model} is not predicted by the bundled model"
    for m in config.models:
        assert m.api_key_env is None or m.api_key_env.isupper()


def test_example_shapes() -> None:
    two = RouterConfig.from_yaml(ROOT / "examples" / "two-tier.yaml")
    four = RouterConfig.from_yaml(ROOT / "examples" / "four-tier.yaml")
    hybrid = RouterConfig.from_yaml(ROOT / "examples" / "hybrid-reasoning.yaml")
    assert [t.name for t in two.tiers] == ["slm", "llm"]
    assert [t.name for t in four.tiers] == ["slm", "srm", "llm", "lrm"]
    assert len({m.family for m in four.models}) == len(four.models)  # one family each
    assert [t.name for t in hybrid.tiers] == ["slm"] and [m.family for m in hybrid.models] == ["qwen3"]
