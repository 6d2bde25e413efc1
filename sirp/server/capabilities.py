"""Capability negotiation: what each model can take, what a request needs, and which models fit.

A model's capabilities come from its config (``tier``, ``family``, ``context_length``,
``modalities``, ``tool_calling``, ``local``) and are listed by ``GET /v1/models``. A request
needs capabilities in two ways:

- implied by its content: an image part needs ``image``, an audio part ``audio``, a file part
  ``file``, a non-empty ``tools`` list ``tools``;
- stated in the ``X-SIRP-Require`` header: a comma-separated list of ``text``, ``image``,
  ``audio``, ``file``, ``reasoning`` (a family that can reason), ``local``, ``tools`` and
  ``context=N`` (a known context window of at least N tokens).

Routing then only considers the models that have them all (the router's ``allowed_models``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, get_args

from sirp.config.schema import Modality, ModelConfig

__all__ = ["CAPABILITY_NAMES", "Requirements", "implied_requirements", "model_capabilities", "parse_requirements"]

_MODALITIES: tuple[str, ...] = get_args(Modality)

#: Every capability a request may state (``context=N`` takes a number).
CAPABILITY_NAMES: tuple[str, ...] = (*_MODALITIES, "reasoning", "local", "tools", "context=N")

# Content part types of the Chat Completions and Responses APIs, by the modality they need.
_PART_MODALITY = {
    "image_url": "image",
    "input_image": "image",
    "input_audio": "audio",
    "audio": "audio",
    "file": "file",
    "input_file": "file",
}


@dataclass(frozen=True)
class Requirements:
    """What a request needs of the model that answers it (empty: anything will do)."""

    modalities: frozenset[str] = field(default_factory=frozenset)
    reasoning: bool = False
    local: bool = False
    tools: bool = False
    min_context: int | None = None

    def __bool__(self) -> bool:
        return bool(self.modalities - {"text"}) or self.reasoning or self.local or self.tools or bool(self.min_context)

    def __or__(self, other: Requirements) -> Requirements:
        contexts = [c for c in (self.min_context, other.min_context) if c is not None]
        return Requirements(
            modalities=self.modalities | other.modalities,
            reasoning=self.reasoning or other.reasoning,
            local=self.local or other.local,
            tools=self.tools or other.tools,
            min_context=max(contexts) if contexts else None,
        )

    def missing(self, model: ModelConfig) -> list[str]:
        """The capabilities ``model`` lacks, in the words of :data:`CAPABILITY_NAMES`."""
        out = sorted(m for m in self.modalities if m not in model.modalities)
        if self.reasoning and model.family == "none":
            out.append("reasoning")
        if self.local and not model.local:
            out.append("local")
        if self.tools and not model.tool_calling:
            out.append("tools")
        if self.min_context is not None and (model.context_length or 0) < self.min_context:
            out.append(f"context={self.min_context}")
        return out

    def describe(self) -> str:
        """The requirements as a readable list, e.g. ``image, tools, context=32000``."""
        parts = sorted(self.modalities - {"text"})
        flags = (("reasoning", self.reasoning), ("local", self.local), ("tools", self.tools))
        parts += [name for name, on in flags if on]
        if self.min_context is not None:
            parts.append(f"context={self.min_context}")
        return ", ".join(parts) or "nothing"

    def fitting(self, models: Iterable[ModelConfig]) -> frozenset[str]:
        """The names of the ``models`` that have every required capability."""
        return frozenset(m.name for m in models if not self.missing(m))


def parse_requirements(value: str) -> Requirements:
    """Read an ``X-SIRP-Require`` value such as ``image, reasoning, context=32000``.

    Raises:
        ValueError: an unknown capability or a bad context size; the message lists the known ones.
    """
    req = Requirements()
    for raw in value.split(","):
        cap = raw.strip().lower()
        if not cap:
            continue
        if cap in _MODALITIES:
            req = replace(req, modalities=req.modalities | {cap})
        elif cap == "reasoning":
            req = replace(req, reasoning=True)
        elif cap == "local":
            req = replace(req, local=True)
        elif cap == "tools":
            req = replace(req, tools=True)
        elif cap.startswith("context="):
            number = cap.removeprefix("context=").strip()
            if not number.isdigit() or int(number) < 1:
                raise ValueError(f"context= takes a positive number of tokens, got {number!r}")
            req = req | Requirements(min_context=int(number))
        else:
            raise ValueError(f"unknown capability {raw.strip()!r}; known: {', '.join(CAPABILITY_NAMES)}")
    return req


def _parts(content: Any) -> Iterable[Mapping[str, Any]]:
    if isinstance(content, Sequence) and not isinstance(content, (str, bytes)):
        yield from (p for p in content if isinstance(p, Mapping))


def implied_requirements(messages: Iterable[Any], tools: Any = None) -> Requirements:
    """What the content itself needs: the modalities of its parts, and tool calling when tools are sent."""
    found: set[str] = set()
    for m in messages:
        if not isinstance(m, Mapping):
            continue
        for part in _parts(m.get("content")):
            modality = _PART_MODALITY.get(str(part.get("type")))
            if modality is not None:
                found.add(modality)
    return Requirements(modalities=frozenset(found), tools=isinstance(tools, list) and len(tools) > 0)


def model_capabilities(model: ModelConfig) -> dict[str, Any]:
    """The capabilities of ``model`` as ``GET /v1/models`` lists them."""
    return {
        "tier": model.tier,
        "reasoning": model.family != "none",
        "reasoning_family": model.family,
        "context_length": model.context_length,
        "modalities": list(model.modalities),
        "tools": model.tool_calling,
        "local": model.local,
    }
