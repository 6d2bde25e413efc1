"""Questions, sampling and answer-letter extraction of the reasoning benchmark."""

from __future__ import annotations

from pathlib import Path

import pytest

from sirp.bench.mcq import SYSTEM_PROMPT, Question, extract_answer, format_question, load_questions, sample_questions
from tests.unit.bench.conftest import LARGE, SMALL


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("Let me see. The answer is (C).", "C"),
        ("the answer is: **D**", "D"),
        ("So the answer is B.", "B"),
        ("Answer: E", "E"),
        ("Final answer: (F)", "F"),
        ("\\boxed{G}", "G"),
        ("\\boxed{\\text{H}}", "H"),
        ("A", "A"),
        ("(J).", "J"),
        # the answer line wins over letters mentioned earlier, and the last answer line wins
        ("Option (A) is wrong and (B) too. The answer is (D).", "D"),
        ("The answer is (A)... wait, no. The answer is (C).", "C"),
        # inline thinking is skipped: only what follows it counts
        ("<think>The answer is (A)?</think>The answer is (B).", "B"),
        ("hmm, the answer is (A) I guess</think>\nAnswer: C", "C"),
        # a lone parenthesised letter is the last resort
        ("I would go with (E) here", "E"),
    ],
)
def test_extract_answer_reads_the_letter(reply: str, letter: str) -> None:
    assert extract_answer(reply) == letter


@pytest.mark.parametrize(
    "reply",
    [
        None,
        "",
        "I am not sure.",
        "The answer is a bit unclear",  # "a" is a word, not option A
        "I think so",  # the pronoun I is not option I
        "<think>The answer is (C)</think>",  # only thinking, no answer after it
    ],
)
def test_extract_answer_none_when_no_option_is_named(reply: str | None) -> None:
    assert extract_answer(reply) is None


def test_extract_answer_ignores_letters_beyond_the_options() -> None:
    assert extract_answer("The answer is (J).", n_options=4) is None
    # a later, weaker pattern may still name a valid option
    assert extract_answer("The answer is (J). Or rather (B).", n_options=4) == "B"
    assert extract_answer("The answer is (D).", n_options=4) == "D"


def test_format_question_letters_every_option() -> None:
    text = format_question(" What is 2+2? ", ["3", "4", "5"])
    assert text == "Question: What is 2+2?\nOptions:\nA. 3\nB. 4\nC. 5"


def test_messages_put_the_instruction_in_the_system_turn() -> None:
    q = Question(id=1, text="Why?", options=("a", "b"), answer="B", category="law", split="test")
    system, user = q.messages()
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user" and user["content"] == q.user_message and "The answer is" not in user["content"]


def test_load_questions_joins_outcomes_and_drops_duplicates(data_dir: Path) -> None:
    qs = load_questions(data_dir, "test")
    ids = [q.id for q in qs]
    assert len(qs) == 24 and 500 not in ids and 501 not in ids  # duplicate prompt dropped, train split left out
    q = qs[3]
    assert q.id == 103 and q.answer == "D" and len(q.options) == 7 and q.category == "biology"
    assert q.outcomes == {SMALL: True, LARGE: True} and q.words == {SMALL: 103, LARGE: 63}
    assert LARGE not in qs[5].outcomes
    assert load_questions(data_dir, "train")[0].id == 501


def test_sample_is_seeded_and_prefix_stable(data_dir: Path) -> None:
    qs = load_questions(data_dir, "test")
    a, b = sample_questions(qs, 10, seed=1), sample_questions(qs, 10, seed=1)
    assert [q.id for q in a] == [q.id for q in b]
    assert [q.id for q in sample_questions(qs, 15, seed=1)][:10] == [q.id for q in a]
    assert [q.id for q in sample_questions(qs, 10, seed=2)] != [q.id for q in a]
    assert sorted(q.id for q in sample_questions(qs, None)) == sorted(q.id for q in qs)
