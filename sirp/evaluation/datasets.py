"""Readers for the public routing benchmarks sirp is trained and scored on.

The data itself is not shipped with sirp; point ``data_dir`` (or ``$SIRP_DATA_DIR``) at a
folder laid out like the project's ``shared/data`` (``mmlu-pro/``, ``routellm-evals/``,
``vllm-sr-fixtures/``). Splits follow that folder's README: MMLU-Pro carries a fixed
``split`` field; GSM8K is split by ``sha256("sirp-split:gsm8k:<id>") mod 100``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sirp.errors import InputError

__all__ = [
    "LLM_REFERENCE",
    "SLM_REFERENCE",
    "Example",
    "everyday_queries",
    "find_data_dir",
    "gsm8k",
    "gsm8k_split",
    "mmlu_pro",
    "routellm_mmlu",
    "strip_mmlu_options",
]

Split = Literal["train", "dev", "test"]

#: Reference models of the two-tier score in ``mmlu-pro/SOURCE.md``.
SLM_REFERENCE = "Meta-Llama-3_1-8B-Instruct"
LLM_REFERENCE = "Meta-Llama-3_1-70B-Instruct"
#: Names under which the RouteLLM weak/strong outcomes are kept (distinct from MMLU-Pro's own
#: Mixtral column: the same model on a different, easier benchmark).
ROUTELLM_WEAK = "routellm/Mixtral-8x7B-Instruct-v0.1"
ROUTELLM_STRONG = "routellm/gpt-4-1106-preview"


@dataclass(frozen=True)
class Example:
    """One question with its label and the recorded outcome of each reference model."""

    id: str
    text: str
    category: str | None
    outcomes: dict[str, bool] = field(default_factory=dict)
    split: str | None = None
    words: dict[str, int] = field(default_factory=dict)
    """whitespace words of each reference model's recorded answer, where known"""


def find_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Locate the benchmark data folder: the argument, ``$SIRP_DATA_DIR``, or ``../shared/data``."""
    candidates: list[Path] = []
    if data_dir is not None:
        candidates.append(Path(data_dir))
    elif os.environ.get("SIRP_DATA_DIR"):
        candidates.append(Path(os.environ["SIRP_DATA_DIR"]))
    else:
        here = Path.cwd()
        candidates += [here / "shared" / "data", here.parent / "shared" / "data"]
        repo = Path(__file__).resolve().parents[2]
        candidates.append(repo.parent / "shared" / "data")
    for c in candidates:
        if (c / "mmlu-pro" / "questions.jsonl").is_file():
            return c
    raise InputError(
        "benchmark data not found (looked in: "
        + ", ".join(str(c) for c in candidates)
        + "); pass --data-dir or set SIRP_DATA_DIR to a folder holding mmlu-pro/questions.jsonl"
    )


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def mmlu_pro(data_dir: Path, split: Split | None = None) -> list[Example]:
    """MMLU-Pro questions of one split, with the recorded correctness (and answer length) of the 17 models."""
    outcomes: dict[int, dict[str, bool]] = {}
    words: dict[int, dict[str, int]] = {}
    for row in _jsonl(data_dir / "mmlu-pro" / "outcomes.jsonl"):
        qid = row.pop("question_id")
        outcomes[qid] = {m: bool(v["correct"]) for m, v in row.items()}
        words[qid] = {m: int(v["words"]) for m, v in row.items() if v.get("words") is not None}
    out = []
    for row in _jsonl(data_dir / "mmlu-pro" / "questions.jsonl"):
        if split is not None and row["split"] != split:
            continue
        qid = row["question_id"]
        out.append(
            Example(
                id=f"mmlu-pro-{qid}",
                text=row["question"],
                category=row["category"],
                outcomes=outcomes.get(qid, {}),
                split=row["split"],
                words=words.get(qid, {}),
            )
        )
    return out


def mmlu_pro_splits(data_dir: Path) -> dict[int, str]:
    """Map MMLU-Pro question id → split, for leakage checks on other sets."""
    return {r["question_id"]: r["split"] for r in _jsonl(data_dir / "mmlu-pro" / "questions.jsonl")}


_OPTION_LINE = re.compile(r"\n[A-J]\. .*", re.DOTALL)


def strip_mmlu_options(prompt: str) -> str:
    """Drop the ``A. …`` option lines and the trailing ``Answer:`` of a RouteLLM MMLU prompt."""
    text = _OPTION_LINE.sub("", prompt)
    text = re.sub(r"\s*Answer:\s*$", "", text)
    return text.strip()


def routellm_mmlu(data_dir: Path, *, allowed_splits: frozenset[str] = frozenset({"train"})) -> list[Example]:
    """RouteLLM's MMLU rows whose question is not an MMLU-Pro question outside ``allowed_splits``.

    Rows linked to an MMLU-Pro test (or dev) question are dropped so nothing trained sees them.
    """
    splits = mmlu_pro_splits(data_dir)
    out = []
    for row in _jsonl(data_dir / "routellm-evals" / "mmlu.jsonl"):
        linked = row.get("mmlu_pro_question_id")
        if linked is not None and splits.get(linked) not in allowed_splits:
            continue
        if row.get("contaminated"):
            continue
        text = strip_mmlu_options(row["prompt"])
        if not text:
            continue
        out.append(
            Example(
                id=row["id"],
                text=text,
                category=row.get("mmlu_pro_category"),
                outcomes={ROUTELLM_WEAK: bool(row["weak_correct"]), ROUTELLM_STRONG: bool(row["strong_correct"])},
            )
        )
    return out


def gsm8k_split(row_id: str) -> str:
    """The fixed GSM8K split of ``shared/data/README.md``: <70 train, 70–79 dev, ≥80 test."""
    bucket = int(hashlib.sha256(f"sirp-split:gsm8k:{row_id}".encode()).hexdigest(), 16) % 100
    return "train" if bucket < 70 else "dev" if bucket < 80 else "test"


def gsm8k(data_dir: Path, split: Split | None = None, *, include_contaminated: bool = False) -> list[Example]:
    """GSM8K word problems with RouteLLM's weak (Mixtral) / strong (GPT-4) correctness."""
    out = []
    for row in _jsonl(data_dir / "routellm-evals" / "gsm8k.jsonl"):
        s = gsm8k_split(row["id"])
        if split is not None and s != split:
            continue
        if row.get("contaminated") and not include_contaminated:
            continue
        out.append(
            Example(
                id=row["id"],
                text=row["prompt"],
                category="math",
                outcomes={ROUTELLM_WEAK: bool(row["weak_correct"]), ROUTELLM_STRONG: bool(row["strong_correct"])},
                split=s,
            )
        )
    return out


def everyday_queries(data_dir: Path) -> list[Example]:
    """The 70 short hand-written questions of ``vllm-sr-fixtures/domain_short_queries.jsonl``."""
    return [
        Example(id=f"everyday-{i}", text=r["text"], category=r["category"])
        for i, r in enumerate(_jsonl(data_dir / "vllm-sr-fixtures" / "domain_short_queries.jsonl"))
    ]
