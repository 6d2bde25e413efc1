"""Generate the synthetic PII data set: messages with character spans, split by template.

    python scripts/guards/pii_data.py --out runs/guards/data [--train 16000 --dev 1500 --test 2000]

Writes ``pii_{train,dev,test}.jsonl`` (``{"text", "spans": [{"label", "start", "end"}],
"template"}``). Templates are assigned to a split by a hash of their text (about 70/10/20), and
each split draws its values from its own Faker seed, so the test figures are for templates and
values the head never saw. About a quarter of the rows come from entity-free templates (order
numbers, versions, prices, dates that are not birth dates, ...) and from the everyday questions
of ``scripts/default_model/everyday_seed.jsonl``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pii_templates import NEGATIVE_TEMPLATES, PHRASES, POSITIVE_TEMPLATES, WRAPPERS
from pii_values import ENTITIES, Persona, ValueMaker

_SLOT = re.compile(r"\{([A-Z]+)(2?)\}")
_PERSONAL = {
    "PERSON": "PERSON",
    "FIRST": "PERSON",
    "LAST": "PERSON",
    "FAMOUS": "PERSON",
    "EMAIL": "EMAIL",
    "PHONE": "PHONE",
    "CARD": "CREDIT_CARD",
    "IBAN": "IBAN",
    "NID": "NATIONAL_ID",
    "IP": "IP_ADDRESS",
    "ADDRESS": "STREET_ADDRESS",
    "STREET": "STREET_ADDRESS",
    "DOB": "DATE_OF_BIRTH",
}
ROOT = Path(__file__).resolve().parents[2]


def _hash(template: str) -> int:
    return int(hashlib.sha256(f"sirp-pii:{template}".encode()).hexdigest(), 16) % 100


def split_of(template: str) -> str:
    """train / dev / test by a stable hash of the template text (about 70/10/20)."""
    h = _hash(template)
    return "train" if h < 70 else "dev" if h < 80 else "test"


def labels_of(template: str) -> set[str]:
    """The entity labels a template's slots produce."""
    return {_PERSONAL[m.group(1)] for m in _SLOT.finditer(template) if m.group(1) in _PERSONAL}


def template_splits(templates: list[str]) -> dict[str, str]:
    """Split templates by hash, then move train templates so that dev has at least one and test
    at least two templates of every entity (a split without cards would report nothing on them)."""
    split = {t: split_of(t) for t in templates}
    for entity in ENTITIES:
        for where, need in (("test", 2), ("dev", 1)):
            have = [t for t in templates if split[t] == where and entity in labels_of(t)]
            spare = sorted(
                (t for t in templates if split[t] == "train" and entity in labels_of(t)), key=_hash, reverse=True
            )
            # keep at least two templates of each entity for training
            while len(have) < need and len(spare) > 2:
                t = spare.pop(0)
                split[t] = where
                have.append(t)
    return split


def _value(vm: ValueMaker, slot: str, p: Persona) -> str:
    if slot == "PERSON":
        return vm.person(p)
    if slot == "FIRST":
        return p.first
    if slot == "LAST":
        return p.last
    if slot == "FAMOUS":
        return vm.neutral("FAMOUS")
    if slot == "EMAIL":
        return vm.email(p)
    if slot == "PHONE":
        return vm.phone(p)
    if slot == "CARD":
        return vm.card()
    if slot == "IBAN":
        return vm.iban(p)
    if slot == "NID":
        return vm.national_id(p)
    if slot == "IP":
        return vm.ip()
    if slot == "ADDRESS":
        return vm.address(p)
    if slot == "STREET":
        return vm.street(p)
    if slot == "DOB":
        return vm.dob(p)
    if slot == "DATE":
        return vm.other_date(p)
    return vm.neutral(slot)


def render(template: str, vm: ValueMaker) -> dict[str, Any]:
    """Fill ``template``; return the text and the spans of its personal values."""
    people = [vm.persona(), vm.persona()]
    cache: dict[str, str] = {}
    text, spans, pos = "", [], 0
    for m in _SLOT.finditer(template):
        text += template[pos : m.start()].replace("{{", "{").replace("}}", "}")
        pos = m.end()
        slot, second = m.group(1), m.group(2) == "2"
        key = slot + ("2" if second else "")
        # A persona's value repeats within one message ("{FIRST}" after "{PERSON}" is the same person).
        if key not in cache or slot not in ("FIRST", "LAST", "EMAIL", "PHONE"):
            cache[key] = _value(vm, slot, people[1 if second else 0])
        value = cache[key]
        label = _PERSONAL.get(slot)
        if label is not None:
            spans.append({"label": label, "start": len(text), "end": len(text) + len(value)})
        text += value
    text += template[pos:].replace("{{", "{").replace("}}", "}")
    return {"text": text, "spans": spans}


def splice(base: str, phrase: str, vm: ValueMaker, rng: random.Random) -> dict[str, Any]:
    """``phrase`` (filled) put before, after or in the middle of ``base`` (a neutral template or question)."""
    b = render(base, vm) if "{" in base else {"text": base, "spans": []}
    p = render(phrase, vm)
    where = rng.random()
    if where < 0.4:
        pos = len(b["text"])
        sep = rng.choice([" ", "\n", " ", "\n\n"])
        text, p_at = b["text"] + sep + p["text"], pos + len(sep)
    elif where < 0.75 or " " not in b["text"]:
        sep = rng.choice([" ", "\n", " "])
        text, p_at = p["text"] + sep + b["text"], 0
        b["spans"] = [
            {**s, "start": s["start"] + len(p["text"]) + len(sep), "end": s["end"] + len(p["text"]) + len(sep)}
            for s in b["spans"]
        ]
    else:
        cuts = [
            i for i, c in enumerate(b["text"]) if c == " " and not any(s["start"] < i < s["end"] for s in b["spans"])
        ]
        cut = rng.choice(cuts) if cuts else len(b["text"])
        text = b["text"][:cut] + ", " + p["text"] + "," + b["text"][cut:]
        p_at = cut + 2
        shift = len(p["text"]) + 3
        b["spans"] = [
            s if s["end"] <= cut else {**s, "start": s["start"] + shift, "end": s["end"] + shift} for s in b["spans"]
        ]
    spans = b["spans"] + [{**s, "start": s["start"] + p_at, "end": s["end"] + p_at} for s in p["spans"]]
    return {"text": text, "spans": sorted(spans, key=lambda s: s["start"])}


def wrap(sample: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Put the message inside an instruction some of the time (offsets shift with it)."""
    w = rng.choice(WRAPPERS)
    before = w.index("{}")
    text = w.replace("{}", sample["text"], 1)
    spans = [{**s, "start": s["start"] + before, "end": s["end"] + before} for s in sample["spans"]]
    return {"text": text, "spans": spans}


def generate(split: str, n: int, seed: int, everyday: list[str]) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    vm = ValueMaker(seed)
    splits = template_splits(POSITIVE_TEMPLATES)
    pos = [t for t in POSITIVE_TEMPLATES if splits[t] == split]
    by_entity = {e: [t for t in pos if e in labels_of(t)] for e in ENTITIES}
    neg = [t for t in NEGATIVE_TEMPLATES if split_of(t) == split]
    every = [t for t in everyday if split_of(t) == split]
    phrases = [t for t in PHRASES if split_of(t) == split] or PHRASES
    rows = []
    for _ in range(n):
        r = rng.random()
        if r < 0.25 and (neg or every):
            base = rng.choice(neg + every)
            sample = wrap(splice(base, rng.choice(phrases), vm, rng), rng)
            sample["template"] = "spliced:" + hashlib.sha1(base.encode()).hexdigest()[:8]
            rows.append(sample)
            continue
        r = rng.random()
        if r < 0.65 or not (neg or every):
            # entity first, then a template with it: rare entities are not drowned by PERSON
            entity = rng.choice([e for e in ENTITIES if by_entity[e]])
            t = rng.choice(by_entity[entity])
        elif r < 0.94 or not every:
            t = rng.choice(neg or pos)
        else:
            t = rng.choice(every)
            rows.append({"text": t, "spans": [], "template": "everyday:" + hashlib.sha1(t.encode()).hexdigest()[:8]})
            continue
        sample = wrap(render(t, vm), rng)
        sample["template"] = hashlib.sha1(t.encode()).hexdigest()[:8]
        for s in sample["spans"]:
            assert s["label"] in ENTITIES
        rows.append(sample)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "runs/guards/data")
    ap.add_argument("--train", type=int, default=16000)
    ap.add_argument("--dev", type=int, default=1500)
    ap.add_argument("--test", type=int, default=2000)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    everyday = [
        json.loads(line)["text"]
        for line in (ROOT / "scripts/default_model/everyday_seed.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    for split, n, seed in (("train", a.train, 1), ("dev", a.dev, 2), ("test", a.test, 3)):
        rows = generate(split, n, seed, everyday)
        path = a.out / f"pii_{split}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        n_spans = sum(len(r["spans"]) for r in rows)
        templates = len({r["template"] for r in rows})
        print(f"{path}: {len(rows)} rows, {n_spans} spans, {templates} templates")


if __name__ == "__main__":
    main()
