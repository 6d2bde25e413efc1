"""Shared pieces of the config models: the strict base model and errors placed at a field path."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["TIER_ORDER", "FieldPathError", "StrictModel"]

#: Tiers from cheapest to strongest; configs list them in this order.
TIER_ORDER: dict[str, int] = {"slm": 0, "srm": 1, "llm": 2, "lrm": 3}


class StrictModel(BaseModel):
    """Base of every config model: unknown fields are errors (a typo must not become a default), frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldPathError(ValueError):
    """A check across fields failed at a known field path; the loader reports it at that path.

    Pydantic places errors raised by a model validator at the model itself; this error carries
    the path of the field that is actually wrong (e.g. ``("tiers", 1, "model")``), relative to
    where it is raised. The loader does not echo the offending input (it may be a secret).
    """

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{'.'.join(str(p) for p in path)}: {message}" if path else message)
