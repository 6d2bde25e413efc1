"""The bundled model's recipe data: the hand-written everyday sets and the build steps that use them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from sirp.training.data import TrainingRow

RECIPE = Path(__file__).resolve().parents[2] / "scripts" / "default_model"
CATEGORIES = json.loads((Path(__file__).resolve().parents[2] / "sirp/default_model/sirp_manifest.json").read_text())[
    "categories"
]


@pytest.fixture(scope="module")
def build_data() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_data", RECIPE / "build_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(name: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in (RECIPE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["everyday_seed.jsonl", "everyday_extra.jsonl", "everyday_dev.jsonl"])
def test_everyday_sets_are_labelled_with_the_model_categories(name: str) -> None:
    rows = _rows(name)
    assert rows and all(set(r) == {"text", "category"} and r["text"].strip() for r in rows)
    assert {r["category"] for r in rows} == set(CATEGORIES)


def test_the_dev_set_shares_no_text_with_the_training_sets() -> None:
    dev = {r["text"].strip().lower() for r in _rows("everyday_dev.jsonl")}
    train = {r["text"].strip().lower() for name in ("everyday_seed.jsonl", "everyday_extra.jsonl") for r in _rows(name)}
    assert not dev & train


def test_decontaminate_drops_rows_that_share_most_content_words(build_data: ModuleType) -> None:
    rows = [
        TrainingRow(text="Why is the sea salty?", category="other"),
        TrainingRow(text="How do vaccines train the immune system?", category="health"),
    ]
    kept, dropped = build_data.decontaminate(rows, ["why is the ocean so salty"])
    assert dropped == 1 and [r.text for r in kept] == ["How do vaccines train the immune system?"]


def test_concept_queries_are_unlabelled_and_name_frequent_phrases(build_data: ModuleType) -> None:
    texts = ["The Krebs cycle releases energy in the mitochondria."] * 5 + ["A rare word appears once: zeugma."]
    rows = build_data.concept_queries([TrainingRow(text=t, category="biology") for t in texts])
    assert rows and all(r.category is None and not r.outcomes for r in rows)
    joined = " ".join(r.text.lower() for r in rows)
    assert "krebs cycle" in joined and "mitochondria" in joined
    assert "zeugma" not in joined  # seen once: not a concept of the training data
    assert not any(r.text.lower().strip("?.") in {"the", "in the"} for r in rows)
