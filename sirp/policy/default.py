"""The built-in default policy: tier by predicted gain, reasoning by category and complexity.

Tier rule (``tier.gain``): start at the cheapest tier; a stronger tier takes over when its
predicted success exceeds the current choice's by at least ``gain_threshold``. Ranking by the
*gain* rather than by hardness matters: the hardest requests defeat every tier, so sending them
to the big model buys nothing (on MMLU-Pro a perfect "small model fails" ranking recovers less
of the gap than random routing).

Reasoning rule: when the category distribution is flat (normalised entropy above
``max_entropy``) the category is unknown and the configured safe choice is taken
(``reasoning.uncertain``); otherwise reasoning is on for the configured categories once
complexity reaches ``min_complexity`` (``reasoning.category``), and for any category at or above
``always_above`` (``reasoning.complexity``). Effort grows with complexity.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sirp.config.schema import PolicyConfig, TierConfig
from sirp.decision import Tier, TraceStep
from sirp.errors import ConfigError
from sirp.signals.classifier import ClassifierSignals

__all__ = ["DefaultPolicy", "PolicyOutcome"]

Effort = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class PolicyOutcome:
    """The policy's part of a decision."""

    tier: Tier
    model: str
    reasoning: bool
    reasoning_effort: Effort | None
    success: dict[str, float]
    complexity: float
    trace: list[TraceStep] = field(default_factory=list)


class DefaultPolicy:
    """Maps classifier signals to a tier, a model and a reasoning mode."""

    def __init__(self, tiers: Sequence[TierConfig], config: PolicyConfig, reference_models: Sequence[str]) -> None:
        known = set(reference_models)
        for i, t in enumerate(tiers):
            if t.reference_model not in known:
                raise ConfigError(
                    f"tiers.{i}.reference_model: {t.reference_model!r} is not a reference model of the "
                    f"classifier's success head (it predicts: {', '.join(reference_models) or 'none'}); "
                    "name one of those, or train the head on outcomes of your own models"
                )
        self.tiers = list(tiers)
        self.config = config

    def decide(self, signals: ClassifierSignals) -> PolicyOutcome:
        """Decide tier, model and reasoning for one request."""
        cfg = self.config
        success: dict[str, float] = {t.name: signals.success[t.reference_model] for t in self.tiers}
        complexity = 1.0 - success[self.tiers[0].name]
        trace: list[TraceStep] = []

        chosen = self.tiers[0]
        for t in self.tiers[1:]:
            gain = success[t.name] - success[chosen.name]
            if gain >= cfg.gain_threshold:
                trace.append(
                    TraceStep(
                        rule="tier.gain",
                        detail=f"{t.name} gains {gain:+.3f} over {chosen.name} (≥ {cfg.gain_threshold})",
                    )
                )
                chosen = t
        if not trace:
            best_gain = max((success[t.name] - success[chosen.name] for t in self.tiers[1:]), default=0.0)
            trace.append(
                TraceStep(
                    rule="tier.gain",
                    detail=f"no stronger tier gains ≥ {cfg.gain_threshold} (best {best_gain:+.3f}); "
                    f"{chosen.name} is enough",
                )
            )

        r = cfg.reasoning
        entropy = signals.entropy
        if entropy > r.max_entropy:
            reasoning = r.when_uncertain
            trace.append(
                TraceStep(
                    rule="reasoning.uncertain",
                    detail=f"category distribution is flat (entropy {entropy:.2f} > {r.max_entropy}); "
                    f"safe choice: reasoning {'on' if reasoning else 'off'}",
                )
            )
        elif complexity >= r.always_above:
            reasoning = True
            trace.append(
                TraceStep(rule="reasoning.complexity", detail=f"complexity {complexity:.2f} ≥ {r.always_above}")
            )
        elif signals.category in r.categories and complexity >= r.min_complexity:
            reasoning = True
            trace.append(
                TraceStep(
                    rule="reasoning.category",
                    detail=f"{signals.category} reasons at complexity ≥ {r.min_complexity} (is {complexity:.2f})",
                )
            )
        else:
            reasoning = False
            trace.append(
                TraceStep(
                    rule="reasoning.off",
                    detail=f"{signals.category} at complexity {complexity:.2f} answers directly",
                )
            )
        effort: Effort | None = None
        if reasoning:
            effort = "high" if complexity >= r.effort_high else "medium" if complexity >= r.effort_medium else "low"
        return PolicyOutcome(
            tier=chosen.name,
            model=chosen.model,
            reasoning=reasoning,
            reasoning_effort=effort,
            success=success,
            complexity=complexity,
            trace=trace,
        )
