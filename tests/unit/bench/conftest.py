"""Fixtures of the benchmark tests: a small MMLU-Pro-shaped data folder made here, and a replaying fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sirp.bench.mcq import Question, load_questions
from sirp.testing.fake_openai import FakeOpenAI
from sirp.testing.recorded import LatencyModel, RecordedResponder, Replay

CATEGORIES = ["math", "law", "history", "biology"]
SMALL, LARGE = "small-model", "large-model"


def write_mmlu(folder: Path, n: int = 24) -> Path:
    """``folder/mmlu-pro/{questions,outcomes}.jsonl``: n test questions, plus a duplicate and a train row.

    Question i has 4 + i % 7 options; the small model is right on every third question, the large
    one on all but every third from the second; the large model's recorded answers are shorter.
    Question 5 has no recorded answer of the large model.
    """
    d = folder / "mmlu-pro"
    d.mkdir(parents=True, exist_ok=True)
    questions, outcomes = [], []
    for i in range(n):
        k = 4 + i % 7
        questions.append(
            {
                "question_id": 100 + i,
                "question": f"Question number {i}: which option is right about topic {i * 7 % 13}?",
                "options": [f"option {j} of question {i}" for j in range(k)],
                "answer": "ABCDEFGHIJ"[i % k],
                "answer_index": i % k,
                "category": CATEGORIES[i % len(CATEGORIES)],
                "src": "synthetic",
                "split": "test",
            }
        )
        row = {"question_id": 100 + i, SMALL: {"correct": i % 3 == 0, "words": 100 + i}}
        if i != 5:
            row[LARGE] = {"correct": i % 3 != 2, "words": 60 + i}
        outcomes.append(row)
    dup = {**questions[0], "question_id": 500}  # the same prompt as question 100
    train = {**questions[1], "question_id": 501, "question": "a train question", "split": "train"}
    questions += [dup, train]
    outcomes += [{"question_id": 500, SMALL: {"correct": False, "words": 1}}, {"question_id": 501}]
    (d / "questions.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions))
    (d / "outcomes.jsonl").write_text("".join(json.dumps(o) + "\n" for o in outcomes))
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return write_mmlu(tmp_path / "data")


@pytest.fixture
def questions(data_dir: Path) -> list[Question]:
    return load_questions(data_dir, "test")


@pytest.fixture
def replay_server(questions: list[Question]) -> Iterator[FakeOpenAI]:
    """A fake server replaying the synthetic outcomes for model ``hybrid`` (1/1000 of real time)."""
    responder = RecordedResponder(
        questions, {"hybrid": Replay(direct=SMALL, reasoning=LARGE)}, latency=LatencyModel(scale=0.001)
    )
    with FakeOpenAI(responder=responder) as server:
        yield server
