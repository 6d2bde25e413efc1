"""Small synthetic routing data and a tiny tokenizer, made by the tests themselves.

Four categories with their own vocabulary; two reference models whose recorded success depends
on the text: ``small-model`` fails long multi-step questions, ``large-model`` fails only the
longest ones, so there is a real gain signal for the success head to learn.
"""

from __future__ import annotations

import random
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from sirp.training.data import TrainingRow, write_rows

CATEGORIES = {
    "math": ["integral", "derivative", "equation", "prime", "matrix", "sum", "solve", "fraction"],
    "biology": ["cell", "protein", "gene", "enzyme", "species", "tissue", "organism", "dna"],
    "law": ["contract", "court", "statute", "plaintiff", "liability", "tort", "judge", "appeal"],
    "history": ["empire", "treaty", "war", "dynasty", "revolution", "king", "century", "colony"],
}
FILLER = ["what", "is", "the", "a", "of", "and", "why", "how", "does", "explain", "about", "in", "this"]
STEPS = ["then", "after", "that", "compute", "compare", "next", "finally", "combine"]


def make_rows(n: int, seed: int = 0) -> list[TrainingRow]:
    rng = random.Random(seed)
    rows = []
    cats = sorted(CATEGORIES)
    for i in range(n):
        cat = cats[i % len(cats)]
        steps = rng.randint(0, 6)
        words = [rng.choice(FILLER) for _ in range(3)] + rng.sample(CATEGORIES[cat], 3)
        words += [rng.choice(STEPS) for _ in range(steps)] + [rng.choice(CATEGORIES[cat])]
        rng.shuffle(words)
        text = " ".join(words) + "?"
        small_ok = steps <= 2 if rng.random() > 0.1 else steps > 2
        large_ok = steps <= 5 if rng.random() > 0.1 else steps > 5
        rows.append(TrainingRow(text=text, category=cat, outcomes={"small-model": small_ok, "large-model": large_ok}))
    return rows


def make_tokenizer(rows: list[TrainingRow], path: Path) -> Path:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tok.train_from_iterator([r.text for r in rows] + ["sky blue everest height hello"], trainer)
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
    )
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    return path / "tokenizer.json"


def write_dataset(folder: Path, n_train: int = 400, n_dev: int = 120) -> dict[str, Path]:
    train, dev = make_rows(n_train, seed=1), make_rows(n_dev, seed=2)
    paths = {"train": folder / "train.jsonl", "dev": folder / "dev.jsonl"}
    write_rows(paths["train"], train)
    write_rows(paths["dev"], dev)
    paths["tokenizer"] = make_tokenizer(train, folder / "tok")
    return paths
