"""Paraphrase and hard-negative pairs built from MMLU-Pro questions, for ``sirp bench cache``.

Every pair is (cached question, incoming request). Positives mean the same and should hit;
negatives mean something else and must not. All rewrites are rule-based and seeded by the
question id, so the set is the same on every run; no encoder picks the pairs (hard negatives are
chosen by word overlap), so neither encoder under test is favoured.

Positives: ``casing`` (lower case, spacing), ``template`` (a conversational wrapper),
``reword`` (phrase substitutions: "What is" → "What's", "Calculate" → "Compute", ...),
``truncate`` (the last ≤15% of words dropped), ``reorder`` (the final sentence moved first).
Negatives: ``same-category`` (another question of the category), ``lexical-neighbour`` (the
question of the category with the most words in common), ``number`` (one number changed),
``entity`` (one proper noun swapped for another from the category), ``negation`` ("is" → "is not").
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EVERYDAY_PAIRS", "NEGATIVE_KINDS", "POSITIVE_KINDS", "Pair", "build_pairs", "half"]

POSITIVE_KINDS = ("casing", "template", "reword", "truncate", "reorder")
NEGATIVE_KINDS = ("same-category", "lexical-neighbour", "number", "entity", "negation")

_TEMPLATES = (
    "Question: {q}",
    "Can you help me with this? {q}",
    "{q} Please explain your answer.",
    "I have a question. {q}",
    "Quick question: {q}",
    "{q} Thanks in advance!",
)

_REWORDS = (
    (r"\bWhat is\b", "What's"),
    (r"\bWhich of the following\b", "Which one of these"),
    (r"\bHow many\b", "What number of"),
    (r"\bCalculate\b", "Compute"),
    (r"\bFind\b", "Determine"),
    (r"\bis called\b", "is known as"),
    (r"\bapproximately\b", "roughly"),
    (r"\bwhich\b", "that"),
    (r"\bdoes not\b", "doesn't"),
    (r"\bcannot\b", "can't"),
    (r"\bthe following\b", "these"),
    (r"\bbecause\b", "since"),
)

_NUMBER = re.compile(r"(?<![\w.])(\d+)(?:\.(\d+))?(?![\w.])")
_PROPER = re.compile(r"(?<=[a-z,;:] )([A-Z][a-z]{2,})\b")
_VERB = re.compile(r"\b(is|are|was|were)\b")
_STOP_PROPER = frozenset({"The", "This", "That", "These", "Which", "What", "When", "Where", "How", "Why", "Who"})


@dataclass(frozen=True)
class Pair:
    """A cached text and an incoming text; ``same``: they ask the same thing."""

    cached: str
    incoming: str
    same: bool
    kind: str
    category: str
    question_id: str


def _h(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def half(question_id: str) -> str:
    """``"tune"`` or ``"report"``: the threshold is picked on one half and reported on the other."""
    return "tune" if _h("sirp-cache-half", question_id) % 2 == 0 else "report"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _positives(qid: str, q: str) -> dict[str, str]:
    out: dict[str, str] = {}
    low = " ".join(q.lower().split())
    if low != q:
        out["casing"] = low
    out["template"] = _TEMPLATES[_h("tpl", qid) % len(_TEMPLATES)].format(q=q)
    reworded = q
    for pattern, repl in _REWORDS:
        reworded = re.sub(pattern, repl, reworded, count=1)
    if reworded != q:
        out["reword"] = reworded
    words = q.split()
    if len(words) >= 12:
        keep = len(words) - max(1, len(words) * 15 // 100)
        out["truncate"] = " ".join(words[:keep])
    sentences = re.split(r"(?<=[.!?])\s+", q.strip())
    if len(sentences) >= 2:
        out["reorder"] = " ".join([sentences[-1], *sentences[:-1]])
    return out


def _change_number(qid: str, q: str) -> str | None:
    found = list(_NUMBER.finditer(q))
    if not found:
        return None
    m = found[_h("num", qid) % len(found)]
    whole = int(m.group(1))
    new = whole + 1 + _h("delta", qid) % 9
    text = str(new) if m.group(2) is None else f"{new}.{m.group(2)}"
    return q[: m.start()] + text + q[m.end() :]


def _negatives(qid: str, q: str, others: Sequence[tuple[str, str]], proper: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    pool = [(i, t) for i, t in others if i != qid and t != q]
    if pool:
        out["same-category"] = pool[_h("other", qid) % len(pool)][1]
        mine = _words(q)
        best = max(pool, key=lambda it: (len(mine & _words(it[1])) / max(1, len(mine | _words(it[1]))), it[0]))
        out["lexical-neighbour"] = best[1]
    changed = _change_number(qid, q)
    if changed is not None:
        out["number"] = changed
    names = [m for m in _PROPER.finditer(q) if m.group(1) not in _STOP_PROPER]
    if names:
        m = names[_h("ent", qid) % len(names)]
        choices = [p for p in proper if p != m.group(1)]
        if choices:
            out["entity"] = q[: m.start()] + choices[_h("entity", qid) % len(choices)] + q[m.end() :]
    v = _VERB.search(q)
    if v is not None and not q[v.end() :].lstrip().startswith("not"):
        out["negation"] = q[: v.end()] + " not" + q[v.end() :]
    return out


def build_pairs(questions: Sequence[tuple[str, str, str]]) -> list[Pair]:
    """Pairs for ``(question_id, text, category)`` rows (use dev or train questions only, never test)."""
    by_cat: dict[str, list[tuple[str, str]]] = defaultdict(list)
    proper: dict[str, list[str]] = defaultdict(list)
    for qid, text, cat in questions:
        by_cat[cat].append((qid, text))
        proper[cat].extend(m.group(1) for m in _PROPER.finditer(text) if m.group(1) not in _STOP_PROPER)
    names = {c: sorted(set(p)) for c, p in proper.items()}
    pairs: list[Pair] = []
    for qid, text, cat in questions:
        for kind, variant in _positives(qid, text).items():
            pairs.append(Pair(text, variant, True, kind, cat, qid))
        for kind, variant in _negatives(qid, text, by_cat[cat], names[cat]).items():
            pairs.append(Pair(text, variant, False, kind, cat, qid))
    return pairs


#: Short everyday requests, written by hand (not from any benchmark): paraphrases that should hit,
#: and different requests that look alike (one word changed). MMLU-Pro questions are long and
#: rarely differ by one word; chat traffic often does.
EVERYDAY_PAIRS: tuple[tuple[str, str, bool], ...] = (
    ("What is the height of Mount Everest?", "what's the height of mount everest", True),
    ("What is the height of Mount Everest?", "How tall is Mount Everest?", True),
    ("How do I reverse a list in Python?", "how can I reverse a python list", True),
    ("What is the capital of France?", "Tell me the capital of France.", True),
    ("Translate 'good morning' into Spanish.", "How do you say 'good morning' in Spanish?", True),
    ("What are the symptoms of the flu?", "What symptoms does the flu cause?", True),
    ("How do I boil an egg?", "What's the way to boil an egg?", True),
    ("Write a haiku about autumn.", "Compose a haiku about autumn.", True),
    ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?", True),
    ("How many days are in a leap year?", "A leap year has how many days?", True),
    ("Explain what a black hole is.", "Can you explain what a black hole is?", True),
    ("What is the boiling point of water?", "At what temperature does water boil?", True),
    ("How do I center a div in CSS?", "how to center a div with css", True),
    ("Summarize the plot of Hamlet.", "Give me a summary of the plot of Hamlet.", True),
    ("What does HTTP stand for?", "What is HTTP short for?", True),
    ("How do I reverse a list in Python?", "How do I sort a list in Python?", False),
    ("What is the height of Mount Everest?", "What is the height of the Eiffel Tower?", False),
    ("What is the capital of France?", "What is the capital of Germany?", False),
    ("Translate 'good morning' into Spanish.", "Translate 'good morning' into Italian.", False),
    ("What are the symptoms of the flu?", "What are the symptoms of a cold?", False),
    ("How do I boil an egg?", "How do I poach an egg?", False),
    ("Write a haiku about autumn.", "Write a haiku about spring.", False),
    ("Who wrote Pride and Prejudice?", "Who wrote War and Peace?", False),
    ("How do I center a div in CSS?", "How do I hide a div in CSS?", False),
    ("Summarize the plot of Hamlet.", "Summarize the plot of Macbeth.", False),
    ("What does HTTP stand for?", "What does HTTPS stand for?", False),
    ("How do I delete a file in Linux?", "How do I copy a file in Linux?", False),
    ("What is the boiling point of water?", "What is the freezing point of water?", False),
    ("Explain what a black hole is.", "Explain what a neutron star is.", False),
    ("How do I convert a string to an int in Java?", "How do I convert an int to a string in Java?", False),
)
