"""MMLU-Pro multiple-choice questions for ``sirp bench reasoning``: loading, sampling, prompt, answer letter.

The questions come from ``mmlu-pro/questions.jsonl`` joined with the recorded outcomes that
:func:`sirp.evaluation.datasets.mmlu_pro` reads (the offline replay answers from those). The
prompt puts the instruction in a system message and the question with its lettered options in
the user message, so the router classifies the question, not the instruction.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sirp.evaluation.datasets import Split, mmlu_pro

__all__ = [
    "LETTERS",
    "PROMPT_VERSION",
    "SYSTEM_PROMPT",
    "Question",
    "extract_answer",
    "format_question",
    "load_questions",
    "sample_questions",
]

#: Option letters of MMLU-Pro (up to ten options).
LETTERS = "ABCDEFGHIJ"

#: The instruction every request carries; the answer line is what :func:`extract_answer` reads first.
SYSTEM_PROMPT = (
    "The following is a multiple-choice question. Answer it, and finish your reply with "
    '"The answer is (X)", where X is the letter of the correct option.'
)

#: Changes whenever the prompt does, so results of another prompt are not resumed into a run.
PROMPT_VERSION = 1


@dataclass(frozen=True)
class Question:
    """One MMLU-Pro question with its options, the correct letter and the recorded outcomes."""

    id: int
    """MMLU-Pro ``question_id``"""
    text: str
    options: tuple[str, ...]
    answer: str
    """the correct option's letter"""
    category: str
    split: str
    outcomes: Mapping[str, bool] = field(default_factory=dict)
    """per recorded model: whether its recorded answer was correct"""
    words: Mapping[str, int] = field(default_factory=dict)
    """per recorded model: whitespace words of its recorded (chain-of-thought) answer"""

    @property
    def user_message(self) -> str:
        """The user turn sent for this question (question and lettered options)."""
        return format_question(self.text, self.options)

    def messages(self) -> list[dict[str, str]]:
        """The chat messages sent for this question: the instruction, then the question."""
        return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": self.user_message}]


def format_question(text: str, options: Sequence[str]) -> str:
    """``Question: …`` then ``Options:`` and one ``A. …`` line per option."""
    lines = [f"Question: {text.strip()}", "Options:"]
    lines += [f"{LETTERS[i]}. {str(o).strip()}" for i, o in enumerate(options)]
    return "\n".join(lines)


def load_questions(data_dir: Path, split: Split) -> list[Question]:
    """The MMLU-Pro questions of ``split``, in file order, with options, answer and recorded outcomes.

    A question whose text and options repeat an earlier one of the split is left out: MMLU-Pro
    holds some exact duplicates, and the same prompt twice adds nothing (and the offline replay
    could not tell them apart).
    """
    examples = {int(e.id.removeprefix("mmlu-pro-")): e for e in mmlu_pro(data_dir, split)}
    out: list[Question] = []
    seen: set[str] = set()
    with (data_dir / "mmlu-pro" / "questions.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            e = examples.get(int(row["question_id"]))
            if e is None:
                continue
            q = Question(
                id=int(row["question_id"]),
                text=row["question"],
                options=tuple(row["options"]),
                answer=row["answer"],
                category=row["category"],
                split=row["split"],
                outcomes=e.outcomes,
                words=e.words,
            )
            if q.user_message in seen:
                continue
            seen.add(q.user_message)
            out.append(q)
    return out


def _rank(seed: int, qid: int) -> str:
    return hashlib.sha256(f"sirp-bench:{seed}:{qid}".encode()).hexdigest()


def sample_questions(questions: Sequence[Question], n: int | None, seed: int = 0) -> list[Question]:
    """``n`` questions in a seeded pseudo-random order (all of them with ``n=None``).

    The order depends only on the seed and the question ids, so a larger ``n`` with the same
    seed keeps every question of a smaller one: a run can be resumed with a bigger sample.
    """
    ranked = sorted(questions, key=lambda q: _rank(seed, q.id))
    return ranked if n is None else ranked[:n]


_THINK_BLOCK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
# In priority order; the last match of the first pattern that matches wins (replies often
# restate options before concluding). Letters are upper case only: "a" is a word.
_PATTERNS = (
    re.compile(r"answer\s+is\s*:?\s*[\*_]*\s*\(?\s*([A-J])\b", re.IGNORECASE),
    re.compile(r"answer\s*:\s*[\*_]*\s*\(?\s*([A-J])\b", re.IGNORECASE),
    re.compile(r"\\boxed\{\s*\(?\s*(?:\\text\{)?\s*([A-J])\b"),
    re.compile(r"^\W*\(?([A-J])\)?\W*$"),
    re.compile(r"\(([A-J])\)"),
)


def extract_answer(reply: str | None, n_options: int = len(LETTERS)) -> str | None:
    """The option letter a reply settles on, or ``None`` when it names none.

    Reads, in order: "the answer is (X)" (MMLU-Pro's own answer line), "Answer: X",
    ``\\boxed{X}``, a reply that is only a letter, and a last "(X)" in the text. Reasoning a
    model writes inline in ``<think>…</think>`` (or before a lone ``</think>``) is skipped, and
    letters beyond the question's ``n_options`` do not count. The letter pattern must be upper
    case: "answer is a bit unclear" names no option.
    """
    if not reply:
        return None
    text = _THINK_BLOCK.sub(" ", reply)
    if "</think>" in text.lower():
        text = text[text.lower().rindex("</think>") + len("</think>") :]
    allowed = LETTERS[:n_options]
    text = text.strip()
    for pattern in _PATTERNS:
        # IGNORECASE also lets a lower-case letter match; ``allowed`` holds upper case only
        found = [m.group(1) for m in pattern.finditer(text) if m.group(1) in allowed]
        if found:
            return found[-1]
    return None
