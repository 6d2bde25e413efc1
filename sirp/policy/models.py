"""Which model of a tier answers: the models a decision may name, category scores, the privacy rule.

The tier rule picks a tier; a tier may have several models (its own ``tiers[].model`` and any
other endpoint under ``models:`` with the same ``tier``, typically fallbacks). A category's
``model_scores`` choose among them, or, with ``override_tier``, among every model; the privacy
rule then keeps the choice local when the request carries personal data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sirp.config.base import TIER_ORDER
from sirp.config.schema import ModelConfig, TierConfig
from sirp.decision import Tier

__all__ = ["Candidate", "ModelCatalog", "best_scored"]


@dataclass(frozen=True)
class Candidate:
    """A model a decision may name."""

    name: str
    tier: Tier
    local: bool
    primary: bool
    """it is its tier's own model (``tiers[].model``)"""


class ModelCatalog:
    """The models of a config, by tier: each tier's own model first, then other endpoints of that tier.

    Without ``models:`` (routing only, no endpoints) the catalog holds the tiers' models, none of
    them known to be local.
    """

    def __init__(self, tiers: Sequence[TierConfig], models: Sequence[ModelConfig] = ()) -> None:
        primary = {t.model: t.name for t in tiers}
        if models:
            entries = [Candidate(m.name, m.tier, m.local, primary.get(m.name) == m.tier) for m in models]
        else:
            entries = [Candidate(t.model, t.name, False, True) for t in tiers]
        # primary models first within a tier: they are the default when nothing else decides
        self.entries = sorted(entries, key=lambda c: (TIER_ORDER[c.tier], not c.primary))
        self._by_name = {c.name: c for c in self.entries}

    def get(self, name: str) -> Candidate | None:
        """The model called ``name``, if configured."""
        return self._by_name.get(name)

    def of_tier(self, tier: str) -> list[Candidate]:
        """The models of ``tier``, its own model first."""
        return [c for c in self.entries if c.tier == tier]

    def local(self) -> list[Candidate]:
        """The models marked ``local: true``."""
        return [c for c in self.entries if c.local]

    def nearest_local(self, tier: str, scores: Mapping[str, float]) -> Candidate | None:
        """The local model whose tier is nearest ``tier`` (a stronger one on a tie).

        Within that tier the category's best-scored local model wins, else the tier's own model.
        ``None`` when no model is local.
        """
        return self.nearest(tier, scores, lambda c: c.local)

    def nearest(self, tier: str, scores: Mapping[str, float], accept: Callable[[Candidate], bool]) -> Candidate | None:
        """The accepted model whose tier is nearest ``tier`` (a stronger one on a tie).

        Within that tier the category's best-scored accepted model wins, else the first one (its
        tier's own model when accepted). ``None`` when no model is accepted.
        """
        ok = [c for c in self.entries if accept(c)]
        if not ok:
            return None
        rank = TIER_ORDER[tier]
        # nearest first; on equal distance the stronger tier, since the tier rule asked for more
        best_tier = min(ok, key=lambda c: (abs(TIER_ORDER[c.tier] - rank), -TIER_ORDER[c.tier])).tier
        group = [c for c in ok if c.tier == best_tier]
        return best_scored(group, scores) or group[0]


def best_scored(candidates: Sequence[Candidate], scores: Mapping[str, float]) -> Candidate | None:
    """The highest-scored candidate that has a score (the earlier one on a tie); ``None`` if none has."""
    scored = [c for c in candidates if c.name in scores]
    if not scored:
        return None
    return max(scored, key=lambda c: scores[c.name])  # max keeps the first of equal scores
