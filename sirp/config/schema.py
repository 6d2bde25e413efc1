"""Typed router configuration (pydantic v2, ``extra="forbid"``: a typo is an error, not a default)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sirp.decision import Tier

__all__ = [
    "ClassifierConfig",
    "ConversationConfig",
    "PolicyConfig",
    "ReasoningConfig",
    "RouterConfig",
    "TierConfig",
]

_TIER_ORDER = {"slm": 0, "srm": 1, "llm": 2, "lrm": 3}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassifierConfig(_Model):
    """Which classifier model runs, and how."""

    model: Path | None = Field(default=None, description="model folder; null = the bundled default model")
    precision: Literal["auto", "int8", "fp32"] = "auto"
    provider: str | list[str] = Field(default="auto", description="'auto', 'cpu', 'cuda', 'rocm', or a list")
    threads: int | None = Field(default=None, ge=1, description="intra-op threads; null = one per core")
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    max_length: int = Field(default=512, ge=8, description="tokens kept per request; longer ones are truncated")
    truncation_side: Literal["right", "left"] = Field(
        default="right", description="'right' keeps the start of a long request, 'left' keeps its end"
    )
    max_prompt_chars: int | None = Field(
        default=50_000, ge=1, description="longer prompts are refused with an InputError; null = no limit"
    )
    batch_size: int = Field(default=32, ge=1, description="requests per classifier pass in route_batch")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | list[str]) -> str | list[str]:
        from sirp.backends.providers import check_provider_names

        try:
            check_provider_names(value)
        except ValueError as err:  # ConfigError is a ValueError: pydantic adds the field path
            raise ValueError(str(err)) from None
        return value


class ConversationConfig(_Model):
    """How a message list becomes the text that is classified."""

    window: int = Field(default=3, ge=0, description="earlier user turns that may serve as context")
    min_confidence: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="when the last user turn alone gives a category confidence below this, "
        "classify it together with the earlier turns",
    )


class TierConfig(_Model):
    """One tier: the model that answers for it and the reference model the success head predicts."""

    name: Tier
    model: str = Field(min_length=1, description="model name sent to the provider")
    reference_model: str = Field(
        min_length=1, description="success-head reference model this tier stands for (must be in the model folder)"
    )


class ReasoningConfig(_Model):
    """When the chosen model should reason first, and how hard."""

    categories: list[str] = Field(
        default_factory=lambda: [
            "math",
            "physics",
            "chemistry",
            "engineering",
            "computer science",
            "economics",
            "business",
        ],
        description="categories whose requests reason once complexity reaches min_complexity",
    )
    min_complexity: float = Field(default=0.35, ge=0, le=1)
    always_above: float = Field(default=0.8, ge=0, le=1, description="any category reasons at or above this complexity")
    effort_medium: float = Field(default=0.5, ge=0, le=1, description="complexity from which effort is 'medium'")
    effort_high: float = Field(default=0.7, ge=0, le=1, description="complexity from which effort is 'high'")
    max_entropy: float = Field(
        default=0.85,
        ge=0,
        le=1,
        description="normalised entropy of the category distribution above which the category is "
        "treated as unknown and the safe choice is taken",
    )
    when_uncertain: bool = Field(default=True, description="reasoning on/off when the category is unknown")

    @model_validator(mode="after")
    def _ordered(self) -> ReasoningConfig:
        if self.effort_high < self.effort_medium:
            raise ValueError("effort_high must be ≥ effort_medium")
        return self


class PolicyConfig(_Model):
    """The built-in default policy."""

    gain_threshold: float = Field(
        default=0.12,
        ge=-1,
        le=1,
        description="escalate to a stronger tier when its predicted success exceeds the current tier's by this much",
    )
    reasoning: ReasoningConfig = ReasoningConfig()


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(name="slm", model="llama-3.1-8b-instruct", reference_model="Meta-Llama-3_1-8B-Instruct"),
        TierConfig(name="llm", model="llama-3.1-70b-instruct", reference_model="Meta-Llama-3_1-70B-Instruct"),
    ]


class RouterConfig(_Model):
    """Everything a :class:`~sirp.SemanticRouter` needs. Load with :meth:`from_yaml` / :meth:`from_dict`."""

    classifier: ClassifierConfig = ClassifierConfig()
    conversation: ConversationConfig = ConversationConfig()
    tiers: list[TierConfig] = Field(default_factory=_default_tiers, min_length=1)
    policy: PolicyConfig = PolicyConfig()

    @field_validator("tiers")
    @classmethod
    def _tiers_ordered(cls, tiers: list[TierConfig]) -> list[TierConfig]:
        names = [t.name for t in tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        if names != sorted(names, key=_TIER_ORDER.__getitem__):
            raise ValueError(f"tiers must be listed cheapest first (slm, srm, llm, lrm), got {names}")
        return tiers

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RouterConfig:
        """Validate a mapping; errors name the field path."""
        from sirp.config.loader import config_from_dict

        return config_from_dict(data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RouterConfig:
        """Read and validate a YAML file; errors name the file and the field path."""
        from sirp.config.loader import config_from_yaml

        return config_from_yaml(path)
