"""Read the hand-written realistic PII messages (``tests/data/pii_realistic.txt``) into rows with spans.

python scripts/guards/realistic.py --out runs/guards/data/pii_realistic.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "tests/data/pii_realistic.txt"
_MARK = re.compile(r"\[\[([A-Z_]+):(.+?)\]\]")


def parse_line(line: str) -> dict[str, Any]:
    """``[[ENTITY:value]]`` markup → ``{"text", "spans"}`` (``\\n`` in the line is a line break)."""
    line = line.replace("\\n", "\n")
    text, spans, pos = "", [], 0
    for m in _MARK.finditer(line):
        text += line[pos : m.start()]
        spans.append({"label": m.group(1), "start": len(text), "end": len(text) + len(m.group(2))})
        text += m.group(2)
        pos = m.end()
    text += line[pos:]
    return {"text": text, "spans": spans}


def read(path: Path = SOURCE) -> list[dict[str, Any]]:
    """Every message of the file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    return [parse_line(x) for x in lines if x.strip() and not x.startswith("#")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "runs/guards/data/pii_realistic.jsonl")
    a = ap.parse_args()
    rows = read()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{a.out}: {len(rows)} messages, {sum(len(r['spans']) for r in rows)} spans")


if __name__ == "__main__":
    main()
