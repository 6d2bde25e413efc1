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


#: Labels of the bundled classifier's category head (the 14 MMLU-Pro categories).
BUNDLED_CATEGORIES = [
    "biology", "business", "chemistry", "computer science", "economics", "engineering", "health",
    "history", "law", "math", "other", "philosophy", "physics", "psychology",
]  # fmt: skip


def categories() -> list[str]:
    if MANIFEST.is_file():
        return list(json.loads(MANIFEST.read_text())["categories"])
    return BUNDLED_CATEGORIES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_categories_are_labels_of_the_bundled_model(path: Path) -> None:
    labels = categories()
    for c in RouterConfig.from_yaml(path).categories:
        assert c.name in labels, f"{path.name}: {c.name} is not a label of the bundled classifier"


def test_policy_rules_example_routes(tmp_path: Path) -> None:
    """The every-rule example builds a router (on MockBackend, with the bundled labels) and its rules fire."""
    from sirp import SemanticRouter
    from sirp.backends.mock import MockBackend
    from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder, ModelManifest
    from tests.synthetic import make_rows, make_tokenizer

    make_tokenizer(make_rows(200), tmp_path)
    (tmp_path / "model.int8.onnx").write_bytes(b"not used by MockBackend")
    manifest = ModelManifest(
        categories=categories(),
        reference_models=sorted(reference_models()),
        embedding_dim=8,
        max_length=32,
        files={"int8": "model.int8.onnx"},
    )
    (tmp_path / MANIFEST_NAME).write_text(manifest.model_dump_json())
    config = RouterConfig.from_yaml(ROOT / "examples" / "policy-rules.yaml")
    config = config.model_copy(update={"classifier": config.classifier.model_copy(update={"model": tmp_path})})
    with SemanticRouter(config, backend=MockBackend(ModelFolder.load(tmp_path).manifest)) as router:
        texts = ["cell", "court appeal", "war treaty king", "integral of the matrix", "prime sum", "dna", "tort"]
        for d in router.route_batch(texts):
            assert d.trace[0].rule == "tier.complexity"
        for d in router.route_batch(texts, pii=True):
            assert d.local_only and d.model in {"qwen3-8b", "qwen3-32b"}
