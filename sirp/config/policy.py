"""Policy configuration: tier rule and thresholds, reasoning, categories, privacy, jailbreak guard,
tool selection.

Field-by-field documentation with examples: ``docs/policy.md``.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Literal

from pydantic import Field, model_validator

from sirp.config.base import TIER_ORDER, FieldPathError, StrictModel
from sirp.decision import Tier

__all__ = [
    "CategoryConfig",
    "Effort",
    "JailbreakAction",
    "JailbreakConfig",
    "PiiAction",
    "PolicyConfig",
    "PrivacyConfig",
    "ReasoningConfig",
    "ToolsConfig",
]

#: How hard a model reasons when it does.
Effort = Literal["low", "medium", "high"]

#: What happens to a request with personal data on its way to a model.
PiiAction = Literal["allow", "mask", "local_only"]

#: What happens to a request the jailbreak head calls an attack.
JailbreakAction = Literal["off", "flag", "block"]

_Score = Annotated[float, Field(ge=0, le=1)]


class ReasoningConfig(StrictModel):
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
    min_complexity: float = Field(
        default=0.35, ge=0, le=1, description="complexity from which requests of the reasoning categories reason"
    )
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


class PrivacyConfig(StrictModel):
    """What happens to a request that carries personal data (PII), per model."""

    pii_action: PiiAction = Field(
        default="allow",
        description="allow: any model may answer, as sent; mask: every PII span in the messages is replaced "
        "by a typed placeholder (<EMAIL>) before the request leaves, nothing is restored; local_only: only "
        "models with local: true may answer (the chosen one and every fallback)",
    )
    models: dict[str, PiiAction] = Field(
        default_factory=dict,
        description="per-model action that replaces pii_action for that model, e.g. {gpt-4o: mask, "
        "my-llama: allow}; names must be configured models",
    )
    entities: list[str] = Field(
        default_factory=list,
        description="the PII types that count (e.g. [EMAIL, PHONE, CREDIT_CARD, IBAN]); empty = every type "
        "the model's PII head finds",
    )
    min_score: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="spans the PII head is less sure of (mean tag probability) are ignored",
    )

    def action(self, model: str) -> PiiAction:
        """The action for requests with personal data that ``model`` would answer."""
        return self.models.get(model, self.pii_action)

    @property
    def actions(self) -> set[PiiAction]:
        """Every action some model may get."""
        return {self.pii_action, *self.models.values()}


class JailbreakConfig(StrictModel):
    """What happens to a request the jailbreak / prompt-injection head calls an attack."""

    action: JailbreakAction = Field(
        default="flag",
        description="off: not checked; flag: the decision says so (jailbreak: true, trace guard.jailbreak) "
        "and the request goes on; block: complete()/stream() refuse it with RequestBlockedError "
        "(sirp serve: HTTP 400) and no model is called",
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="attack probability from which a request is an attack; null = the model's calibrated "
        "threshold (its manifest's jailbreak_threshold)",
    )


class ToolsConfig(StrictModel):
    """Tool pre-filtering: send the model only the tools most relevant to the prompt."""

    enabled: bool = Field(default=False, description="pre-filter the tools of requests that carry more than top_k")
    top_k: int = Field(
        default=8, ge=1, description="tools kept, the most similar to the prompt (classifier embeddings)"
    )


class PolicyConfig(StrictModel):
    """The built-in default policy."""

    tier_rule: Literal["gain", "complexity"] = Field(
        default="gain",
        description="gain: escalate when a stronger tier's predicted success gain reaches gain_threshold; "
        "complexity: take the strongest tier whose complexity_cutpoints entry the request's complexity reaches",
    )
    gain_threshold: float = Field(
        default=0.19,
        ge=-1,
        le=1,
        description="escalate to a stronger tier when its predicted success exceeds the current tier's by this much",
    )
    complexity_cutpoints: dict[Tier, _Score] = Field(
        default_factory=dict,
        description="tier_rule complexity: the complexity (0..1) from which each tier above the cheapest "
        "answers, e.g. {srm: 0.4, llm: 0.6, lrm: 0.8}",
    )
    min_category_confidence: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="the rules of a configured category (categories:) apply only when its probability "
        "reaches this; below it the category is treated as unknown",
    )
    reasoning: ReasoningConfig = ReasoningConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    jailbreak: JailbreakConfig = JailbreakConfig()
    tools: ToolsConfig = ToolsConfig()

    @model_validator(mode="after")
    def _cutpoints_ordered(self) -> PolicyConfig:
        ordered = sorted(self.complexity_cutpoints.items(), key=lambda kv: TIER_ORDER[kv[0]])
        for (low, a), (high, b) in itertools.pairwise(ordered):
            if b < a:
                raise FieldPathError(
                    ("complexity_cutpoints", high),
                    f"{b} is below {low}'s {a}; a stronger tier's cut-point must not be lower than a cheaper one's",
                )
        return self


class CategoryConfig(StrictModel):
    """Rules for one category of the classifier: model preferences, reasoning, system prompt."""

    name: str = Field(min_length=1, description="a label of the classifier's category head, e.g. 'math'")
    description: str = Field(default="", description="what the category covers (documentation only)")
    model_scores: dict[str, _Score] = Field(
        default_factory=dict,
        description="model name → score 0..1: among the models of the chosen tier, the highest-scored answers",
    )
    override_tier: bool = Field(
        default=False,
        description="the highest-scored model of model_scores answers whatever tier the tier rule chose "
        "(the decision's tier becomes that model's)",
    )
    use_reasoning: bool | None = Field(
        default=None, description="reasoning on or off for this category; null = the reasoning rules decide"
    )
    reasoning_effort: Effort | None = Field(
        default=None, description="effort when reasoning; null = from complexity (effort_medium, effort_high)"
    )
    reasoning_budget_tokens: int | None = Field(
        default=None,
        ge=1,
        description="most reasoning tokens for this category; with a tier budget too, the smaller one applies",
    )
    system_prompt: str | None = Field(
        default=None, min_length=1, description="system instruction that dispatch puts before the messages"
    )
    jailbreak_action: JailbreakAction | None = Field(
        default=None,
        description="policy.jailbreak.action for requests of this category (when its rules apply); "
        "null = the global action",
    )

    @model_validator(mode="after")
    def _override_needs_scores(self) -> CategoryConfig:
        if self.override_tier and not self.model_scores:
            raise FieldPathError(
                ("override_tier",), "needs model_scores: give the models this category prefers, with scores"
            )
        return self
