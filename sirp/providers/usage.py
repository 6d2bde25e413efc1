"""Token usage of one completion and what it cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sirp.config.schema import ModelConfig

__all__ = ["Usage"]


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and value > 0 else 0


@dataclass(frozen=True)
class Usage:
    """Tokens one completion used, as the endpoint reported them.

    ``reasoning_tokens`` are part of ``completion_tokens`` (that is how OpenAI-compatible
    servers count and bill them); they come from ``usage.completion_tokens_details``.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """Read an ``openai`` ``CompletionUsage`` (or its dict); ``None`` when there is none."""
        if usage is None:
            return None
        details = _get(usage, "completion_tokens_details")
        return cls(
            prompt_tokens=_int(_get(usage, "prompt_tokens")),
            completion_tokens=_int(_get(usage, "completion_tokens")),
            reasoning_tokens=_int(_get(details, "reasoning_tokens")),
        )

    def cost_usd(self, model: ModelConfig) -> float:
        """What these tokens cost at ``model``'s prices (USD per 1M input / output tokens)."""
        per_in, per_out = model.cost_per_token
        return self.prompt_tokens * per_in + self.completion_tokens * per_out

    def to_dict(self) -> dict[str, int]:
        """JSON-serialisable form, with the total."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "total_tokens": self.total_tokens,
        }
