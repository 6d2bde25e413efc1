"""The JSONL format ``sirp train`` reads, and its loader.

One JSON object per line::

    {"text": "Why is the sky blue?", "category": "physics",
     "outcomes": {"small-model": false, "large-model": true}}

- ``text`` (required): the request as a user would send it.
- ``category`` (optional): its label for the category head; ``null`` or absent leaves the row
  out of the category loss (it can still teach the success head or the distillation).
- ``outcomes`` (optional): for each reference model, whether it answered this request
  correctly. Models absent from a row are masked out of the success loss, so rows from
  different benchmarks may name different models.
- ``weight`` (optional, default 1): scales the row in every loss.

Unknown fields are rejected so that a typo (``"catgory"``) fails loudly instead of silently
training an unlabelled row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sirp.errors import TrainingError

__all__ = ["TrainingRow", "label_sets", "read_rows", "write_rows"]


class TrainingRow(BaseModel):
    """One labelled (or partly labelled) request."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1)
    category: str | None = None
    outcomes: dict[str, bool] | None = None
    weight: float = Field(default=1.0, gt=0)


def read_rows(path: str | Path) -> list[TrainingRow]:
    """Read a training JSONL file; errors name the file, line and field."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"training data file {str(path)!r} does not exist")
    rows: list[TrainingRow] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rows.append(TrainingRow.model_validate(json.loads(line)))
            except json.JSONDecodeError as err:
                raise TrainingError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
            except ValidationError as err:
                first = err.errors()[0]
                loc = ".".join(str(p) for p in first["loc"]) or "<row>"
                raise TrainingError(f"{path}:{lineno}: field {loc!r}: {first['msg']}") from err
    if not rows:
        raise TrainingError(f"training data file {str(path)!r} has no rows")
    return rows


def write_rows(path: str | Path, rows: Iterable[TrainingRow]) -> int:
    """Write rows as JSONL (omitting unset optional fields); return how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row.model_dump(exclude_defaults=True), ensure_ascii=False) + "\n")
            n += 1
    return n


def label_sets(rows: Sequence[TrainingRow]) -> tuple[list[str], list[str]]:
    """Return the sorted category labels and reference-model names found in ``rows``."""
    categories = sorted({r.category for r in rows if r.category is not None})
    models = sorted({m for r in rows if r.outcomes for m in r.outcomes})
    return categories, models
