"""``SemanticRouterRunnable``: sirp's routing decision as a LangChain ``Runnable``."""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator
from typing_extensions import Self

from langchain_sirp._routing import LazyRouter, as_router_config, to_prompt
from sirp import InputError, RouterConfig, RoutingDecision, SemanticRouter

__all__ = ["SemanticRouterRunnable"]


class SemanticRouterRunnable(RunnableSerializable[LanguageModelInput, RoutingDecision]):
    """Routes a prompt and returns sirp's :class:`~sirp.RoutingDecision`; calls no model.

    Takes what a chat model takes: a string, a list of messages (message objects, tuples or
    OpenAI-style dicts) or a prompt value. ``batch`` routes every input in one classifier pass;
    ``ainvoke``/``abatch`` run the classifier in a worker thread, never on the event loop. Use the
    decision to branch a chain by category or tier:

    ```python
    from langchain_core.runnables import RunnableBranch, RunnablePassthrough
    from langchain_sirp import SemanticRouterRunnable

    route = SemanticRouterRunnable()  # the bundled classifier, on CPU
    chain = RunnablePassthrough.assign(decision=(lambda x: x["question"]) | route) | RunnableBranch(
        (lambda x: x["decision"].category == "math", math_chain),
        (lambda x: x["decision"].tier == "llm", large_chain),
        small_chain,
    )
    ```

    Args:
        router: the :class:`~sirp.SemanticRouter` to use; made from ``router_config`` on first
            use when not given.
        router_config: a :class:`~sirp.RouterConfig`, a dict, or the path of a YAML file; the
            built-in default (bundled classifier, tiers slm and llm) when neither is given.
        pii: tell the policy that every routed prompt carries personal data (``True``) or none
            does (``False``); see :meth:`sirp.SemanticRouter.route`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: SemanticRouter | None = Field(default=None, exclude=True)
    router_config: RouterConfig | None = None
    pii: bool | None = None

    _lazy: LazyRouter = PrivateAttr()

    @field_validator("router_config", mode="before")
    @classmethod
    def _load_config(cls, value: Any) -> RouterConfig | None:
        return as_router_config(value)

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if self.router is not None and self.router_config is not None and self.router_config != self.router.config:
            raise ValueError("give either router or router_config, not both (a router carries its own config)")
        self._lazy = LazyRouter(self.router, self.router_config)
        return self

    @property
    def semantic_router(self) -> SemanticRouter:
        """The :class:`~sirp.SemanticRouter` that decides (built on first use)."""
        return self._lazy.get()

    @property
    def OutputType(self) -> type[RoutingDecision]:
        """The decision type."""
        return RoutingDecision

    # -- one input ---------------------------------------------------------------------------

    def _route(self, value: LanguageModelInput) -> RoutingDecision:
        return self.semantic_router.route(to_prompt(value), pii=self.pii)

    async def _aroute(self, value: LanguageModelInput) -> RoutingDecision:
        prompt = to_prompt(value)
        if not self._lazy.built:  # loading the classifier takes a while: not on the event loop
            await asyncio.to_thread(self._lazy.get)
        return await self.semantic_router.aroute(prompt, pii=self.pii)

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> RoutingDecision:
        """Route one input; the decision is the run's output in callbacks and traces."""
        return self._call_with_config(self._route, input, config, run_type="chain")

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> RoutingDecision:
        """Async :meth:`invoke` (the classifier runs in a worker thread)."""
        return await self._acall_with_config(self._aroute, input, config, run_type="chain")

    # -- many inputs: one classifier pass ----------------------------------------------------

    def _route_many(
        self, values: list[LanguageModelInput], return_exceptions: bool
    ) -> list[Exception | RoutingDecision]:
        prompts: list[Any] = []
        failed: dict[int, Exception] = {}
        for i, value in enumerate(values):
            try:
                prompts.append(to_prompt(value))
            except InputError as err:
                if not return_exceptions:
                    raise
                failed[i] = err
        router = self.semantic_router
        try:
            decisions: list[Exception | RoutingDecision] = list(router.route_batch(prompts, pii=self.pii))
        except InputError:
            if not return_exceptions:
                raise
            # route_batch checks every prompt before running the model and fails as a whole:
            # route one by one to tell the good prompts from the bad.
            decisions = []
            for p in prompts:
                try:
                    decisions.append(router.route(p, pii=self.pii))
                except InputError as err:
                    decisions.append(err)
        out = iter(decisions)
        return [failed[i] if i in failed else next(out) for i in range(len(values))]

    def batch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[RoutingDecision]:
        """Route many inputs with one classifier pass per ``classifier.batch_size`` (one traced run each)."""
        if not inputs:
            return []
        return self._batch_with_config(
            lambda values: self._route_many(values, return_exceptions),
            inputs,
            config,
            return_exceptions=return_exceptions,
            run_type="chain",
        )

    async def abatch(
        self,
        inputs: list[LanguageModelInput],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[RoutingDecision]:
        """Async :meth:`batch` (the classifier runs in a worker thread)."""
        if not inputs:
            return []

        async def route_many(values: list[LanguageModelInput]) -> list[Exception | RoutingDecision]:
            return await asyncio.to_thread(self._route_many, values, return_exceptions)

        return await self._abatch_with_config(
            route_many, inputs, config, return_exceptions=return_exceptions, run_type="chain"
        )
