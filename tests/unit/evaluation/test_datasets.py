"""Benchmark readers: split rules and leakage guards."""

from __future__ import annotations

from sirp.evaluation import datasets as ds


def test_gsm8k_split_rule_is_the_documented_hash() -> None:
    import hashlib

    for rid in ("gsm8k-0", "gsm8k-17", "gsm8k-1318"):
        bucket = int(hashlib.sha256(f"sirp-split:gsm8k:{rid}".encode()).hexdigest(), 16) % 100
        assert ds.gsm8k_split(rid) == ("train" if bucket < 70 else "dev" if bucket < 80 else "test")


def test_strip_mmlu_options() -> None:
    prompt = "Find the degree of Q(sqrt(2)) over Q.\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer:"
    assert ds.strip_mmlu_options(prompt) == "Find the degree of Q(sqrt(2)) over Q."


def test_split_counts_and_no_leak(shared_data) -> None:
    test_ids = {e.id for e in ds.mmlu_pro(shared_data, "test")}
    assert len(test_ids) == 2422
    splits = ds.mmlu_pro_splits(shared_data)
    assert sum(1 for s in splits.values() if s == "train") == 8414
    # RouteLLM rows kept for training never point at an MMLU-Pro dev/test question
    import json

    linked = {}
    for line in (shared_data / "routellm-evals" / "mmlu.jsonl").open():
        r = json.loads(line)
        linked[r["id"]] = r["mmlu_pro_question_id"]
    for e in ds.routellm_mmlu(shared_data):
        q = linked[e.id]
        assert q is None or splits[q] == "train"
    assert len([e for e in ds.gsm8k(shared_data, "test", include_contaminated=True)]) == 260
