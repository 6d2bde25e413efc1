"""Build the training data of sirp's bundled default model from ``shared/data``.

Writes, under ``--out`` (default ``runs/default-model/data``):

- ``train.jsonl``: MMLU-Pro *train* questions (category + the 17 models' outcomes); RouteLLM MMLU
  rows not linked to any MMLU-Pro dev/test question (options stripped; category + RouteLLM
  weak/strong outcomes); GSM8K *train* problems (category ``math`` + weak/strong outcomes); the
  seeds' own category fixtures that are not MMLU-Pro questions; and, for short everyday phrasing,
  the last sentence of each multi-sentence labelled question as an extra category-only row, and
  short "What is <answer option>?" questions from train-split options; category weights are
  balanced (square root of inverse frequency).
- ``train_stage2.jsonl``: the same plus the hand-written everyday questions of
  ``everyday_seed.jsonl`` (weight 2), for the second, shorter fine-tuning stage.
- ``dev.jsonl``: MMLU-Pro *dev* questions (checkpoint choice and thresholds).
- ``distill.jsonl``: unlabelled everyday texts (XSTest, jailbreak/injection *train* prompts,
  MT-Bench turns, Presidio sentences) that teach the student only through the teacher.

No MMLU-Pro test question (nor any row linked to one) is written anywhere.

    python scripts/default_model/build_data.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

from sirp.evaluation import datasets as ds
from sirp.training.data import TrainingRow, write_rows

_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")


def last_sentence(text: str) -> str | None:
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip()) if p.strip()]
    if len(parts) < 2:
        return None
    last = parts[-1]
    return last if 3 <= len(last.split()) <= 40 else None


_TEMPLATES = ("What is {}?", "Explain {}.", "Tell me about {}.", "What does {} mean?", "How does {} work?", "{}?")
_ROMAN = re.compile(r"^[IVX, and only]+$")


def option_queries(data_dir: Path, per_question: int = 2, per_category: int = 1500) -> list[TrainingRow]:
    """Short everyday-style questions about the concepts named in MMLU-Pro *train* answer options.

    Exam questions are long; people ask "What is fluid intelligence?". The options of a
    question are short phrases of its domain, so "What is <option>?" teaches the category head
    the vocabulary of each domain in the short form users type. Only train-split questions.
    """
    rng = random.Random(0)
    per_cat: dict[str, int] = {}
    out = []
    for row in _jsonl(data_dir / "mmlu-pro" / "questions.jsonl"):
        if row["split"] != "train":
            continue
        opts = [
            o.strip().rstrip(".")
            for o in row["options"]
            if o
            and not re.search(r"\d", o)
            and 1 <= len(o.split()) <= 6
            and not _ROMAN.match(o.strip())
            and sum(c.isalpha() for c in o) / max(1, len(o)) > 0.75
        ]
        rng.shuffle(opts)
        for o in opts[:per_question]:
            cat = row["category"]
            if per_cat.get(cat, 0) >= per_category:
                break
            per_cat[cat] = per_cat.get(cat, 0) + 1
            out.append(TrainingRow(text=rng.choice(_TEMPLATES).format(o), category=cat, weight=0.5))
    return out


def balance(rows: list[TrainingRow]) -> list[TrainingRow]:
    """Scale row weights by (median class size / class size)^0.5.

    RouteLLM's MMLU maps many subjects to "other", law and health; unbalanced, the head learns
    that prior and sends short everyday questions to "other".
    """
    counts = Counter(r.category for r in rows if r.category is not None)
    median = sorted(counts.values())[len(counts) // 2]
    return [
        r.model_copy(update={"weight": r.weight * (median / counts[r.category]) ** 0.5}) if r.category else r
        for r in rows
    ]


_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "to",
        "is",
        "are",
        "was",
        "what",
        "why",
        "how",
        "who",
        "when",
        "which",
        "does",
        "do",
        "and",
        "or",
        "for",
        "by",
        "with",
    }
)


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def decontaminate(
    rows: list[TrainingRow], held_out: list[str], max_overlap: float = 0.5
) -> tuple[list[TrainingRow], int]:
    """Drop rows whose content words overlap a held-out question's by ``max_overlap`` or more.

    The everyday seed questions were written without looking at the evaluation set, but common
    questions ("Newton's second law") recur everywhere; a row that near-duplicates an evaluation
    question would inflate the everyday score, so it is left out. Overlap = |A∩B| / min(|A|, |B|).
    """
    held = [_content_words(t) for t in held_out]
    kept = []
    for r in rows:
        words = _content_words(r.text)
        if any(words and h and len(words & h) / min(len(words), len(h)) >= max_overlap for h in held):
            continue
        kept.append(r)
    return kept, len(rows) - len(kept)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


_CONCEPT_TEMPLATES = (
    "What is {}?",
    "What are {}?",
    "Explain {}.",
    "Explain {} simply",
    "Why does {} matter?",
    "How does {} work?",
    "Tell me about {}",
    "Define {}.",
    "What causes {}?",
    "Can you give an example of {}?",
    "{}",
    "{}?",
)
_FUNCTION_WORDS = (
    "be been being it its this that these those there their they them his her he she we you your our "
    "as at from into than then if but not no nor so such can could would should may might must will "
    "shall has have had also all any each some most more other only same both either following "
    "true false statement statements answer question best correct none above below one two three "
    "about after before between under over which whose whom were"
)
_CONCEPT_STOP = _STOP | frozenset(_FUNCTION_WORDS.split())


def concept_queries(rows: list[TrainingRow], *, max_words: int = 12000, max_phrases: int = 30000) -> list[TrainingRow]:
    """Unlabelled short queries about the words and phrases of the *training* texts, for distillation.

    Measured on the first bundled model: the student's embedding agreed with the teacher's only
    at cosine 0.41 on everyday questions (0.59 on exam questions), and it read "Ohm's Law" as
    law and "polymorphism" as health. A student learns a concept's meaning from the teacher only
    on texts that name it; exam questions name thousands of concepts, but always inside long
    passages. These rows name each frequent word and 2–3 word phrase of the training questions on
    its own, in the short forms people type; they carry no label (the teacher teaches them), and
    come from train-split texts only.
    """
    rng = random.Random(1)
    words: Counter[str] = Counter()
    phrases: Counter[str] = Counter()
    for r in rows:
        toks = re.findall(r"[A-Za-z][A-Za-z'-]*[A-Za-z]", r.text)
        low = [t.lower() for t in toks]
        for t in low:
            if len(t) >= 4 and t not in _CONCEPT_STOP:
                words[t] += 1
        for n in (2, 3):
            for i in range(len(low) - n + 1):
                span = low[i : i + n]
                if span[0] in _CONCEPT_STOP or span[-1] in _CONCEPT_STOP or len(span[-1]) < 3:
                    continue
                if any(w in _STOP and w not in ("of", "and", "in") for w in span):
                    continue
                phrases[" ".join(span)] += 1
    chosen = [w for w, c in words.most_common(max_words) if c >= 3]
    chosen += [p for p, c in phrases.most_common(max_phrases) if c >= 4]
    return [TrainingRow(text=rng.choice(_CONCEPT_TEMPLATES).format(c)) for c in chosen]


def build(data_dir: Path, out: Path) -> dict[str, int]:
    splits = ds.mmlu_pro_splits(data_dir)
    train: list[TrainingRow] = []
    for ex in ds.mmlu_pro(data_dir, "train"):
        train.append(TrainingRow(text=ex.text, category=ex.category, outcomes=ex.outcomes))
    for ex in ds.routellm_mmlu(data_dir):
        train.append(TrainingRow(text=ex.text, category=ex.category, outcomes=ex.outcomes))
    for ex in ds.gsm8k(data_dir, "train"):
        train.append(TrainingRow(text=ex.text, category="math", outcomes=ex.outcomes))
    for row in _jsonl(data_dir / "vllm-sr-fixtures" / "domain_classify_cases.jsonl"):
        qid = row.get("mmlu_pro_question_id")
        if qid is None or splits.get(qid) == "train":
            train.append(TrainingRow(text=row["text"], category=row["category"]))
    short = []
    for r in train:
        if r.category is None:
            continue
        s = last_sentence(r.text)
        if s is not None:
            short.append(TrainingRow(text=s, category=r.category, weight=0.5))
    train += short
    options = option_queries(data_dir)
    train = balance(train + options)

    dev = [TrainingRow(text=e.text, category=e.category, outcomes=e.outcomes) for e in ds.mmlu_pro(data_dir, "dev")]

    distill: list[TrainingRow] = []
    distill += [TrainingRow(text=r["prompt"]) for r in _jsonl(data_dir / "xstest" / "prompts.jsonl")]
    distill += [TrainingRow(text=r["text"]) for r in _jsonl(data_dir / "jailbreak-classification" / "train.jsonl")]
    distill += [TrainingRow(text=r["text"]) for r in _jsonl(data_dir / "deepset-prompt-injections" / "train.jsonl")]
    for r in _jsonl(data_dir / "routellm-evals" / "mt_bench.jsonl"):
        distill += [TrainingRow(text=t) for t in r["turns"]]
    for name in ("synth_dataset_v2.jsonl", "generated_large.jsonl"):
        distill += [TrainingRow(text=r["text"]) for r in _jsonl(data_dir / "presidio-pii" / name) if r["text"].strip()]

    # Stage 2 fine-tunes on the same rows plus the project's hand-written everyday questions
    # (everyday_seed.jsonl and everyday_extra.jsonl beside this script, written without looking at
    # any evaluation set).
    here = Path(__file__).parent
    seed = [
        TrainingRow(text=r["text"], category=r["category"], weight=2.0)
        for name in ("everyday_seed.jsonl", "everyday_extra.jsonl")
        if (here / name).is_file()
        for r in _jsonl(here / name)
    ]
    # Held out twice: the everyday evaluation set, and everyday_dev.jsonl that chooses between
    # training runs; a near-duplicate of either would flatter the model.
    held_out = [e.text for e in ds.everyday_queries(data_dir)]
    held_out += [r["text"] for r in _jsonl(here / "everyday_dev.jsonl")]
    seed, dropped = decontaminate(seed, held_out)

    counts = {
        "train": write_rows(out / "train.jsonl", train),
        "train_stage2": write_rows(out / "train_stage2.jsonl", train + seed),
        "everyday_seed": len(seed),
        "everyday_seed_dropped_as_near_duplicates": dropped,
        "train_short": len(short),
        "train_options": len(options),
        "dev": write_rows(out / "dev.jsonl", dev),
        "distill": write_rows(out / "distill.jsonl", distill),
        "distill_concepts": write_rows(out / "distill_stage2.jsonl", distill + concept_queries(train)),
    }
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--out", type=Path, default=Path("runs/default-model/data"))
    a = p.parse_args()
    counts = build(ds.find_data_dir(a.data_dir), a.out)
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
