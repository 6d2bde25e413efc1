"""``SemanticCategorySelector``: a ``RouterQueryEngine`` selector that decides with sirp's classifier, not an LLM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from llama_index.core.base.base_selector import BaseSelector, SelectorResult, SingleSelection
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.schema import QueryBundle
from llama_index.core.tools.types import ToolMetadata
from llama_index.llms.sirp._routing import LazyRouter, as_router_config

from sirp import ConfigError, InputError, RouterConfig, RoutingDecision, SemanticRouter

__all__ = ["SemanticCategorySelector"]

Target = str | int


class SemanticCategorySelector(BaseSelector):
    """Picks the query engine (tool) for a query by sirp's routing decision: no LLM call, milliseconds.

    ``routes`` maps a category of the classifier (or a tier, with ``by="tier"``) to a choice: the
    ``name`` of a ``QueryEngineTool`` or its position. Queries whose category has no route go to
    ``default``; without one they fail with an error naming the category::

        from llama_index.core.query_engine import RouterQueryEngine
        from llama_index.llms.sirp import SemanticCategorySelector

        selector = SemanticCategorySelector({"math": "math_notes", "history": "history_notes"}, default="general")
        engine = RouterQueryEngine(selector=selector, query_engine_tools=[math_tool, history_tool, general_tool])

    Each selection's ``reason`` says what sirp decided (category, confidence, tier), and the
    last decision is kept in :attr:`last_decision`.
    """

    def __init__(
        self,
        routes: Mapping[str, Target],
        *,
        default: Target | None = None,
        by: Literal["category", "tier"] = "category",
        router: SemanticRouter | None = None,
        router_config: RouterConfig | Mapping[str, Any] | str | Path | None = None,
        pii: bool | None = None,
    ) -> None:
        if by not in ("category", "tier"):
            raise ConfigError(f"by must be 'category' or 'tier', got {by!r}")
        if not routes and default is None:
            raise ConfigError("give routes (category → query engine name or index) or a default")
        config = as_router_config(router_config)
        if router is not None and config is not None and config != router.config:
            raise ConfigError("give either router or router_config, not both (a router carries its own config)")
        self.routes = dict(routes)
        self.default = default
        self.by = by
        self.pii = pii
        self.last_decision: RoutingDecision | None = None
        self._lazy = LazyRouter(router, config)
        self._checked = False

    @property
    def semantic_router(self) -> SemanticRouter:
        """The :class:`~sirp.SemanticRouter` that decides (built on first use)."""
        return self._lazy.get()

    def _get_prompts(self) -> PromptDictType:
        return {}  # no prompt: the classifier decides

    def _update_prompts(self, prompts_dict: PromptDictType) -> None:
        return None

    def _check_routes(self, router: SemanticRouter) -> None:
        """Route keys must be labels the classifier can give (or configured tiers): a typo never matches."""
        if self._checked:
            return
        known = router.folder.manifest.categories if self.by == "category" else [t.name for t in router.config.tiers]
        unknown = sorted(set(self.routes) - set(known))
        if unknown:
            raise ConfigError(
                f"routes name {self.by} {', '.join(map(repr, unknown))}, which the router never gives; "
                f"use {', '.join(known)}"
            )
        self._checked = True

    @staticmethod
    def _index(choices: Sequence[ToolMetadata], target: Target) -> int:
        if isinstance(target, int):
            if not 0 <= target < len(choices):
                raise InputError(f"route to choice {target}, but there are {len(choices)} choices")
            return target
        for i, choice in enumerate(choices):
            if choice.name == target:
                return i
        names = ", ".join(repr(c.name) for c in choices)
        raise InputError(f"route to {target!r}, but no choice has that name (choices: {names})")

    def _selection(self, choices: Sequence[ToolMetadata], decision: RoutingDecision) -> SelectorResult:
        self.last_decision = decision
        value = decision.category if self.by == "category" else decision.tier
        target = self.routes.get(value, self.default)
        if target is None:
            raise InputError(
                f"no query engine for {self.by} {value!r} (routes: {', '.join(self.routes)}); add a route or a default"
            )
        index = self._index(choices, target)
        how = "route" if value in self.routes else "default"
        reason = (
            f"sirp: {decision.category} ({decision.confidence:.2f}), tier {decision.tier} → "
            f"{choices[index].name or index} ({how})"
        )
        return SelectorResult(selections=[SingleSelection(index=index, reason=reason)])

    def _select(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        router = self.semantic_router
        self._check_routes(router)
        return self._selection(choices, router.route(query.query_str, pii=self.pii))

    async def _aselect(self, choices: Sequence[ToolMetadata], query: QueryBundle) -> SelectorResult:
        router = await self._lazy.aget()
        self._check_routes(router)
        return self._selection(choices, await router.aroute(query.query_str, pii=self.pii))
