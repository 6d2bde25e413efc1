"""The built-in default policy: tier, model, privacy, reasoning, effort and budget, each rule traced.

Tier rule, one of (``policy.tier_rule``):

- ``gain`` (default, ``tier.gain``): start at the cheapest tier; a stronger tier takes over when
  its predicted success exceeds the current choice's by at least ``gain_threshold``. Ranking by
  the *gain* rather than by hardness matters: the hardest requests defeat every tier, so sending
  them to the big model buys nothing (on MMLU-Pro a perfect "small model fails" ranking recovers
  less of the gap than random routing).
- ``complexity`` (``tier.complexity``): the strongest tier whose cut-point in
  ``complexity_cutpoints`` the request's complexity (``1 − success`` of the cheapest tier) reaches.

Category rules (``categories:``) apply when the category is known: the distribution is not flat
(normalised entropy ≤ ``reasoning.max_entropy``) and the top category's probability reaches
``min_category_confidence``; otherwise ``category.uncertain`` is traced and the defaults decide.
Its ``model_scores`` pick the best-scored model of the chosen tier (``category.model_scores``),
or of every model with ``override_tier`` (``category.override``).

Privacy rule (``privacy.local_only``, ``privacy.mask``, ``privacy.allow``): when the request
carries personal data, the chosen model's action (``policy.privacy.models``, else
``pii_action``) applies: ``local_only`` replaces a model that is not ``local`` by the local model
of the nearest tier (with none, :class:`~sirp.errors.NoEligibleModelError`); ``mask`` marks the
decision so that dispatch replaces the PII spans with placeholders before the request leaves;
``allow`` only traces it.

Jailbreak rule (``guard.jailbreak``): when the jailbreak head's calibrated score reaches the
threshold (``policy.jailbreak.threshold``, else the model's own), the request is flagged, or,
with action ``block`` (globally or for its category), marked blocked: dispatch refuses it.

Eligibility rule (``eligibility.allowed``): a caller may restrict a request to a set of model
names (``allowed_models``: the server's access rights and required capabilities, or any caller's
own reasons). A chosen model outside the set is replaced by the allowed model of the nearest tier
(local as well when privacy asks for it); with none, :class:`~sirp.errors.NoEligibleModelError`.

Reasoning rule: a flat category distribution takes the configured safe choice
(``reasoning.uncertain``); a category's own ``use_reasoning`` comes next
(``reasoning.category_config``); then reasoning is on for any category at or above
``always_above`` (``reasoning.complexity``) and for the configured categories from
``min_complexity`` (``reasoning.category``). Effort grows with complexity unless the category
fixes it (``reasoning.effort``); the reasoning budget is the smaller of the tier's and the
category's (``reasoning.budget``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from sirp.config.policy import PiiAction
from sirp.config.schema import CategoryConfig, Effort, ModelConfig, PolicyConfig, TierConfig
from sirp.decision import Tier, TraceStep
from sirp.errors import ConfigError, NoEligibleModelError
from sirp.policy.models import Candidate, ModelCatalog, best_scored
from sirp.signals.classifier import ClassifierSignals

__all__ = ["DefaultPolicy", "PolicyOutcome", "reasoning_budget"]


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
    reasoning_budget_tokens: int | None = None
    local_only: bool = False
    category_config: str | None = None
    allowed_models: tuple[str, ...] | None = None
    pii_action: PiiAction | None = None
    jailbreak: bool | None = None
    blocked: bool = False


def reasoning_budget(tier: TierConfig | None, category: CategoryConfig | None) -> int | None:
    """The most reasoning tokens a model of ``tier`` may spend on a request of ``category``.

    Both budgets are caps, so the smaller one holds; ``None`` when neither is set (the family's
    default for the effort applies).
    """
    caps = [
        b
        for b in (
            tier.reasoning_budget_tokens if tier is not None else None,
            category.reasoning_budget_tokens if category is not None else None,
        )
        if b is not None
    ]
    return min(caps) if caps else None


class DefaultPolicy:
    """Maps classifier signals to a tier, a model and a reasoning mode.

    Args:
        tiers: the configured tiers, cheapest first.
        config: ``policy:`` of the router config.
        reference_models: the models the classifier's success head predicts.
        categories: ``categories:`` of the router config.
        labels: the classifier's category labels; when given, every category name must be one.
        models: ``models:`` of the router config (the endpoints; ``local`` matters for privacy).
        jailbreak_threshold: the classifier's calibrated attack threshold (its manifest's),
            used when ``policy.jailbreak.threshold`` is not set.

    Raises:
        ConfigError: a tier names a reference model the head does not predict, or a category
            is not a label of the classifier.
    """

    def __init__(
        self,
        tiers: Sequence[TierConfig],
        config: PolicyConfig,
        reference_models: Sequence[str],
        *,
        categories: Sequence[CategoryConfig] = (),
        labels: Sequence[str] | None = None,
        models: Sequence[ModelConfig] = (),
        jailbreak_threshold: float | None = None,
    ) -> None:
        known = set(reference_models)
        for i, t in enumerate(tiers):
            if t.reference_model not in known:
                raise ConfigError(
                    f"tiers.{i}.reference_model: {t.reference_model!r} is not a reference model of the "
                    f"classifier's success head (it predicts: {', '.join(reference_models) or 'none'}); "
                    "name one of those, or train the head on outcomes of your own models"
                )
        if labels is not None:
            for i, c in enumerate(categories):
                if c.name not in labels:
                    raise ConfigError(
                        f"categories.{i}.name: {c.name!r} is not a label of the classifier's category head "
                        f"(it predicts: {', '.join(labels)}); use one of those, or train a classifier on your "
                        "own labels (sirp train)"
                    )
        self.tiers = list(tiers)
        self.config = config
        self.categories = {c.name: c for c in categories}
        self.catalog = ModelCatalog(tiers, models)
        self._tier_by_name = {t.name: t for t in tiers}
        self.jailbreak_threshold = jailbreak_threshold

    def decide(
        self,
        signals: ClassifierSignals,
        *,
        pii: bool | None = None,
        allowed_models: Collection[str] | None = None,
    ) -> PolicyOutcome:
        """Decide tier, model and reasoning for one request.

        Args:
            signals: what the classifier says about the request.
            pii: whether the request carries personal data; ``None`` = ``signals.pii_detected``.
            allowed_models: the only model names that may answer; ``None`` = any configured model.

        Raises:
            NoEligibleModelError: the request carries personal data, privacy is ``local_only``
                and no (allowed) model is local; or no configured model is in ``allowed_models``.
        """
        success: dict[str, float] = {t.name: signals.success[t.reference_model] for t in self.tiers}
        complexity = 1.0 - success[self.tiers[0].name]
        trace: list[TraceStep] = []

        tier = self._tier(success, complexity, trace)
        category = self._category(signals, trace)
        chosen = self._model(tier, category, trace)
        has_pii = pii if pii is not None else bool(signals.pii_detected)
        local_only = has_pii and self.config.privacy.action(chosen.name) == "local_only"
        allowed = None if allowed_models is None else frozenset(allowed_models)
        if has_pii:
            chosen = self._privacy(chosen, category, local_only, trace, allowed)
        if allowed is not None:
            chosen = self._eligible(chosen, category, allowed, local_only, trace)
        reasoning, effort = self._reasoning(signals, complexity, category, trace)
        jailbreak, blocked = self._jailbreak(signals, category, trace)
        budget = reasoning_budget(self._tier_by_name.get(chosen.tier), category)
        if reasoning:
            trace.append(TraceStep(rule="reasoning.budget", detail=self._budget_detail(chosen, category, budget)))
        return PolicyOutcome(
            tier=chosen.tier,
            model=chosen.name,
            reasoning=reasoning,
            reasoning_effort=effort,
            success=success,
            complexity=complexity,
            trace=trace,
            reasoning_budget_tokens=budget,
            local_only=local_only,
            category_config=category.name if category is not None else None,
            allowed_models=None
            if allowed is None
            else tuple(c.name for c in self.catalog.entries if c.name in allowed),
            pii_action=self.config.privacy.action(chosen.name) if has_pii else None,
            jailbreak=jailbreak,
            blocked=blocked,
        )

    # -- tier ------------------------------------------------------------------------------

    def _tier(self, success: dict[str, float], complexity: float, trace: list[TraceStep]) -> TierConfig:
        if self.config.tier_rule == "complexity":
            return self._tier_by_complexity(complexity, trace)
        return self._tier_by_gain(success, trace)

    def _tier_by_gain(self, success: dict[str, float], trace: list[TraceStep]) -> TierConfig:
        threshold = self.config.gain_threshold
        chosen = self.tiers[0]
        escalated = False
        for t in self.tiers[1:]:
            gain = success[t.name] - success[chosen.name]
            if gain >= threshold:
                trace.append(
                    TraceStep(
                        rule="tier.gain",
                        detail=f"{t.name} gains {gain:+.3f} over {chosen.name} (≥ {threshold})",
                    )
                )
                chosen = t
                escalated = True
        if not escalated:
            best_gain = max((success[t.name] - success[chosen.name] for t in self.tiers[1:]), default=0.0)
            trace.append(
                TraceStep(
                    rule="tier.gain",
                    detail=f"no stronger tier gains ≥ {threshold} (best {best_gain:+.3f}); {chosen.name} is enough",
                )
            )
        return chosen

    def _tier_by_complexity(self, complexity: float, trace: list[TraceStep]) -> TierConfig:
        cuts = self.config.complexity_cutpoints
        chosen = self.tiers[0]
        for t in self.tiers[1:]:
            cut = cuts.get(t.name)
            if cut is not None and complexity >= cut:
                chosen = t
        if chosen is self.tiers[0]:
            shown = ", ".join(f"{t} {c}" for t, c in cuts.items()) or "none configured"
            # three decimals: at two, 0.549 would read as 0.55 next to a cut-point of 0.55
            detail = f"complexity {complexity:.3f} is below every cut-point ({shown}); {chosen.name}"
        else:
            detail = f"complexity {complexity:.3f} ≥ {chosen.name}'s cut-point {cuts[chosen.name]}; {chosen.name}"
        trace.append(TraceStep(rule="tier.complexity", detail=detail))
        return chosen

    # -- category and model ----------------------------------------------------------------

    def _category(self, signals: ClassifierSignals, trace: list[TraceStep]) -> CategoryConfig | None:
        """The category's rules, when it has some and the classifier is sure enough of it."""
        category = self.categories.get(signals.category)
        if category is None:
            return None
        entropy, confidence = signals.entropy, signals.confidence
        max_entropy, min_conf = self.config.reasoning.max_entropy, self.config.min_category_confidence
        if entropy > max_entropy or confidence < min_conf:
            why = (
                f"entropy {entropy:.2f} > {max_entropy}"
                if entropy > max_entropy
                else f"confidence {confidence:.2f} < {min_conf}"
            )
            trace.append(TraceStep(rule="category.uncertain", detail=f"{category.name}'s rules do not apply: {why}"))
            return None
        return category

    def _model(self, tier: TierConfig, category: CategoryConfig | None, trace: list[TraceStep]) -> Candidate:
        primary = self.catalog.get(tier.model) or Candidate(tier.model, tier.name, False, True)
        if category is None or not category.model_scores:
            return primary
        scores = category.model_scores
        if category.override_tier:
            best = best_scored(self.catalog.entries, scores)
            if best is not None:
                trace.append(
                    TraceStep(
                        rule="category.override",
                        detail=f"{category.name} prefers {best.name} (score {scores[best.name]}, tier {best.tier}) "
                        f"over the tier rule's {tier.name}",
                    )
                )
                return best
        best = best_scored(self.catalog.of_tier(tier.name), scores)
        if best is None:
            return primary
        trace.append(
            TraceStep(
                rule="category.model_scores",
                detail=f"{category.name}: {best.name} has the best score ({scores[best.name]}) in tier {tier.name}",
            )
        )
        return best

    def _privacy(
        self,
        chosen: Candidate,
        category: CategoryConfig | None,
        local_only: bool,
        trace: list[TraceStep],
        allowed: frozenset[str] | None = None,
    ) -> Candidate:
        if not local_only:
            if self.config.privacy.action(chosen.name) == "mask":
                trace.append(
                    TraceStep(
                        rule="privacy.mask",
                        detail=f"the request carries personal data; {chosen.name} gets it masked (typed placeholders)",
                    )
                )
            else:
                trace.append(
                    TraceStep(
                        rule="privacy.allow", detail="the request carries personal data; pii_action allow: any model"
                    )
                )
            return chosen
        if chosen.local:
            trace.append(
                TraceStep(rule="privacy.local_only", detail=f"personal data: {chosen.name} is local, it may answer")
            )
            return chosen
        if allowed is not None and any(c.local for c in self.catalog.entries):
            # a local model the caller may not use is no way out: the eligibility rule would refuse it
            local = self.catalog.nearest(
                chosen.tier, category.model_scores if category else {}, lambda c: c.local and c.name in allowed
            )
            if local is None:
                shown = ", ".join(sorted(allowed)) or "none"
                raise NoEligibleModelError(
                    "the request carries personal data and policy.privacy.pii_action is local_only, but none of "
                    f"the models it may use is local (allowed: {shown}); allow a local model for this caller"
                )
        else:
            local = self.catalog.nearest_local(chosen.tier, category.model_scores if category else {})
        if local is None:
            names = ", ".join(c.name for c in self.catalog.entries)
            raise NoEligibleModelError(
                "the request carries personal data and policy.privacy.pii_action is local_only, but no model is "
                f"local (models: {names}); mark a model you run yourself with local: true under models:, "
                "or set policy.privacy.pii_action: allow"
            )
        trace.append(
            TraceStep(
                rule="privacy.local_only",
                detail=f"personal data: {chosen.name} is not local; {local.name} (tier {local.tier}) answers instead",
            )
        )
        return local

    def _eligible(
        self,
        chosen: Candidate,
        category: CategoryConfig | None,
        allowed: frozenset[str],
        local_only: bool,
        trace: list[TraceStep],
    ) -> Candidate:
        n = sum(1 for c in self.catalog.entries if c.name in allowed)
        if chosen.name in allowed:
            trace.append(
                TraceStep(rule="eligibility.allowed", detail=f"{chosen.name} is one of the {n} models allowed")
            )
            return chosen
        other = self.catalog.nearest(
            chosen.tier,
            category.model_scores if category else {},
            lambda c: c.name in allowed and (c.local or not local_only),
        )
        if other is None:
            configured = ", ".join(c.name for c in self.catalog.entries)
            shown = ", ".join(sorted(allowed)) or "none"
            raise NoEligibleModelError(
                f"no configured model may answer this request: it is restricted to {shown}"
                + (" (and to local models: it carries personal data)" if local_only else "")
                + f", and the configured models are {configured}; widen the restriction or configure such a model"
            )
        trace.append(
            TraceStep(
                rule="eligibility.allowed",
                detail=f"{chosen.name} is not allowed for this request; {other.name} (tier {other.tier}), "
                f"the nearest of the {n} allowed, answers instead",
            )
        )
        return other

    # -- jailbreak -------------------------------------------------------------------------

    def _jailbreak(
        self, signals: ClassifierSignals, category: CategoryConfig | None, trace: list[TraceStep]
    ) -> tuple[bool | None, bool]:
        """(attack?, blocked?): None when not checked (no jailbreak head, or action off)."""
        cfg = self.config.jailbreak
        own = category is not None and category.jailbreak_action is not None
        action = category.jailbreak_action if own and category is not None else cfg.action
        if signals.jailbreak is None or action == "off":
            return None, False
        threshold = cfg.threshold if cfg.threshold is not None else self.jailbreak_threshold
        threshold = 0.5 if threshold is None else threshold
        attack = signals.jailbreak >= threshold
        if attack:
            whose = f" ({category.name}'s action)" if own and category is not None else ""
            trace.append(
                TraceStep(
                    rule="guard.jailbreak",
                    detail=f"jailbreak score {signals.jailbreak:.2f} ≥ {threshold:.2f}: "
                    f"{'blocked' if action == 'block' else 'flagged'}{whose}",
                )
            )
        return attack, attack and action == "block"

    # -- reasoning -------------------------------------------------------------------------

    def _reasoning(
        self, signals: ClassifierSignals, complexity: float, category: CategoryConfig | None, trace: list[TraceStep]
    ) -> tuple[bool, Effort | None]:
        r = self.config.reasoning
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
        elif category is not None and category.use_reasoning is not None:
            reasoning = category.use_reasoning
            trace.append(
                TraceStep(
                    rule="reasoning.category_config",
                    detail=f"{category.name} is configured with reasoning {'on' if reasoning else 'off'}",
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
        if not reasoning:
            return False, None
        if category is not None and category.reasoning_effort is not None:
            trace.append(
                TraceStep(
                    rule="reasoning.effort",
                    detail=f"{category.name} is configured with effort {category.reasoning_effort}",
                )
            )
            return True, category.reasoning_effort
        effort: Effort = "high" if complexity >= r.effort_high else "medium" if complexity >= r.effort_medium else "low"
        return True, effort

    def _budget_detail(self, chosen: Candidate, category: CategoryConfig | None, budget: int | None) -> str:
        if budget is None:
            return f"no reasoning budget for tier {chosen.tier}; the model family's default for the effort"
        tier = self._tier_by_name.get(chosen.tier)
        parts = []
        if tier is not None and tier.reasoning_budget_tokens:
            parts.append(f"tier {tier.name} {tier.reasoning_budget_tokens}")
        if category is not None and category.reasoning_budget_tokens:
            parts.append(f"category {category.name} {category.reasoning_budget_tokens}")
        return f"at most {budget} reasoning tokens ({', '.join(parts)})"
