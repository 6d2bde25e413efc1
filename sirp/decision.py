"""The routing decision: what sirp decided for one request, and why."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["PiiFinding", "RoutingDecision", "Tier", "TraceStep"]

Tier = Literal["slm", "srm", "llm", "lrm"]


class PiiFinding(BaseModel):
    """Where one piece of personal data is in the request (the value itself is never kept)."""

    model_config = ConfigDict(frozen=True)

    entity: str = Field(description="PII type: PERSON, EMAIL, PHONE, CREDIT_CARD, IBAN, NATIONAL_ID, ...")
    start: int = Field(ge=0, description="character offset where the value starts")
    end: int = Field(ge=0, description="character offset where it ends")
    score: float = Field(ge=0, le=1, description="how sure the PII head is (mean tag probability)")
    message: int | None = Field(
        default=None, description="index of the message that holds it (None for a plain string prompt)"
    )


class TraceStep(BaseModel):
    """One rule that took part in the decision."""

    model_config = ConfigDict(frozen=True)

    rule: str = Field(description="rule name, e.g. 'tier.gain' or 'reasoning.category'")
    detail: str = Field(description="what the rule saw and what it decided")


class RoutingDecision(BaseModel):
    """Which tier and model answer a request, whether it reasons first, and the signals behind it.

    JSON-serialisable: ``decision.model_dump()`` / ``decision.model_dump_json()``.
    """

    model_config = ConfigDict(frozen=True)

    category: str = Field(description="most likely category")
    confidence: float = Field(ge=0, le=1, description="probability of that category")
    scores: dict[str, float] = Field(description="probability of every category")
    success: dict[str, float] = Field(
        description="predicted probability that each tier of the config answers correctly (success head)"
    )
    complexity: float = Field(ge=0, le=1, description="1 − success of the cheapest tier: how hard the request is")
    tier: Tier
    reasoning: bool = Field(description="whether the chosen model should reason (chain-of-thought) first")
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    model: str = Field(description="name of the model that should answer")
    reasoning_budget_tokens: int | None = Field(
        default=None,
        ge=1,
        description="most reasoning tokens for the chosen model (the smaller of its tier's and the category's "
        "budget); None = its family's default for the effort",
    )
    local_only: bool = Field(
        default=False,
        description="the request carries personal data and policy.privacy says local_only: only models with "
        "local: true may answer it, fallbacks included",
    )
    allowed_models: list[str] | None = Field(
        default=None,
        description="the configured models this request was restricted to (access rights, required "
        "capabilities, a caller's allowed_models=), cheapest tier first; fallbacks stay among them too. "
        "None = no restriction",
    )
    category_config: str | None = Field(
        default=None,
        description="the categories: entry whose rules applied (model scores, reasoning, system prompt); "
        "None when none did (not configured, or the category was too uncertain)",
    )
    pii_detected: bool | None = Field(
        default=None,
        description="the request carries personal data: the caller's pii= when given, else the PII head's "
        "finding; None = not checked (no pii= and no PII head)",
    )
    pii: list[PiiFinding] = Field(
        default_factory=list, description="where the PII head found personal data (types and offsets, no values)"
    )
    pii_action: Literal["allow", "mask", "local_only"] | None = Field(
        default=None,
        description="what policy.privacy does with the personal data for the chosen model; None without any",
    )
    jailbreak_score: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="calibrated probability that the request is a jailbreak or prompt injection (highest over "
        "its user and tool turns); None = the model has no jailbreak head",
    )
    jailbreak: bool | None = Field(
        default=None,
        description="the score reached the threshold; None = not checked (no head, or policy.jailbreak.action off)",
    )
    blocked: bool = Field(
        default=False,
        description="policy.jailbreak.action is block and the request is an attack: complete()/stream() refuse it",
    )
    truncated: bool = Field(description="the text was cut at the classifier's max length")
    latency_ms: float = Field(ge=0, description="time spent deciding (for a batch: the batch's time per request)")
    trace: list[TraceStep] = Field(default_factory=list, description="the rules that decided, in order")

    def __str__(self) -> str:
        effort = f" ({self.reasoning_effort})" if self.reasoning and self.reasoning_effort else ""
        return (
            f"{self.tier.upper()} {self.model} | reasoning {'on' if self.reasoning else 'off'}{effort} | "
            f"{self.category} {self.confidence:.2f} | complexity {self.complexity:.2f} | {self.latency_ms:.1f} ms"
        )
