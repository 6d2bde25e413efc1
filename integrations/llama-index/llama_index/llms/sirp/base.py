"""``SemanticRouterLLM``: a LlamaIndex LLM that routes every call to the LLM of sirp's chosen tier."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, field_validator, model_validator
from llama_index.core.llms import LLM
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection
from llama_index.llms.sirp._openai import Endpoints, openai_llms
from llama_index.llms.sirp._reasoning import prepend_system_message, reasoning_call, split_extra_body
from llama_index.llms.sirp._routing import LazyRouter, as_router_config, to_prompt
from typing_extensions import Self

from sirp import ConfigError, InputError, RouterConfig, RoutingDecision, SemanticRouter
from sirp.config.schema import ReasoningFamily
from sirp.decision import TraceStep
from sirp.policy.overrides import force_reasoning, pin_model
from sirp.prompts import to_routing_text

__all__ = ["DECISION_KEY", "SemanticRouterLLM", "routing_decision"]

#: Where the decision goes in every response's ``additional_kwargs``.
DECISION_KEY = "sirp_decision"
#: ``chat`` keyword argument that carries tools until the tier that formats them is known.
_TOOLS_KEY = "sirp_tools"


def routing_decision(response: ChatResponse | CompletionResponse) -> RoutingDecision | None:
    """The :class:`~sirp.RoutingDecision` behind a response of :class:`SemanticRouterLLM`, if any."""
    data = response.additional_kwargs.get(DECISION_KEY)
    return RoutingDecision.model_validate(data) if isinstance(data, Mapping) else None


@dataclass(frozen=True)
class _Call:
    """One call of the chosen tier's LLM, with the decision that chose it."""

    llm: LLM
    key: str
    messages: list[ChatMessage]
    kwargs: dict[str, Any]
    decision: RoutingDecision
    family: str

    def metadata(self) -> dict[str, Any]:
        return {**self.decision.model_dump(mode="json"), "family": self.family, "llm": self.key}


class SemanticRouterLLM(FunctionCallingLLM):
    """A LlamaIndex LLM that routes each call with sirp to the LLM of the chosen tier.

    ``chat``, ``complete``, their streaming and async forms, and tool calling
    (``chat_with_tools``, ``predict_and_call``, agents) are classified first (milliseconds,
    in-process); the LLM of the decided tier answers, with reasoning switched on or off in its
    family's syntax (:mod:`sirp.providers.reasoning`). The decision is in every response's
    ``additional_kwargs["sirp_decision"]``; :func:`routing_decision` reads it back. ``raw`` is
    the tier LLM's own.

    Either give one LLM per tier (or per configured model name)::

        from llama_index.llms.openai import OpenAI
        from llama_index.llms.sirp import SemanticRouterLLM

        llm = SemanticRouterLLM(
            llms={"slm": OpenAI(model="gpt-4o-mini"), "llm": OpenAI(model="o4-mini")},
            families={"llm": "openai"},
        )

    or let it build an OpenAI-compatible LLM for every model of a sirp config::

        llm = SemanticRouterLLM(router_config="examples/two-tier.yaml")
        resp = llm.complete("Prove that the square root of 2 is irrational.")
        resp.additional_kwargs["sirp_decision"]["tier"]

    ``metadata.context_window`` is the smallest of the tiers' (any of them may answer) unless
    ``context_window`` is set; ``is_chat_model`` and ``is_function_calling_model`` hold when they
    hold for every tier. Per call, ``model="auto"`` routes, a tier or model name pins it, and
    ``reasoning=True``/``False`` forces reasoning, as in :meth:`sirp.SemanticRouter.complete`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    llms: dict[str, LLM] = Field(default_factory=dict, description="LLM per tier name or configured model name")
    router: SemanticRouter | None = Field(default=None, exclude=True, description="the router that decides")
    router_config: RouterConfig | None = Field(
        default=None, description="sirp config (dict or YAML path); an LLM is made for each models: endpoint"
    )
    families: dict[str, ReasoningFamily] = Field(
        default_factory=dict, description="reasoning family per llms key, tier or model name"
    )
    model: str = Field(default="auto", description="'auto' routes; a tier or model name pins every call")
    reasoning: bool | None = Field(default=None, description="force reasoning on or off for every call")
    pii: bool | None = Field(default=None, description="whether requests carry personal data (policy.privacy)")
    context_window: int | None = Field(default=None, gt=0, description="context window; default: the smallest tier's")
    function_calling: bool | None = Field(
        default=None, description="whether tool calls are offered; default: every tier is a function-calling LLM"
    )
    api_key: str | None = Field(default=None, exclude=True, description="key for endpoints without api_key_env")
    timeout: float | None = Field(default=None, description="timeout of the LLMs made from router_config")
    max_retries: int | None = Field(default=None, description="retries of the LLMs made from router_config")

    _lazy: LazyRouter = PrivateAttr()
    _endpoints: Endpoints = PrivateAttr(default_factory=Endpoints)
    _tiers: dict[str, tuple[LLM, dict[str, Any]]] = PrivateAttr(default_factory=dict)

    @field_validator("router_config", mode="before")
    @classmethod
    def _load_config(cls, value: Any) -> RouterConfig | None:
        return as_router_config(value)

    @model_validator(mode="after")
    def _set_up(self) -> Self:
        if self.router is not None and self.router_config is not None and self.router_config != self.router.config:
            raise ValueError("give either router or router_config, not both (a router carries its own config)")
        self._lazy = LazyRouter(self.router, self.router_config)
        return self

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        config = self._lazy.config
        # Built here, not in a validator, so that a missing key is a ConfigError, not a pydantic ValidationError.
        if any(m.name not in self.llms for m in config.models):
            self._endpoints = openai_llms(
                config,
                api_key=self.api_key,
                timeout=self.timeout,
                max_retries=self.max_retries,
                function_calling=self.function_calling is not False,
            )
            self.llms = {**self._endpoints.llms, **self.llms}
        self._tiers = {key: split_extra_body(llm) for key, llm in self.llms.items()}
        if not self.llms:
            raise ConfigError(
                "SemanticRouterLLM needs an LLM for each tier: pass llms={'slm': ..., 'llm': ...}, or a "
                "router_config with models: endpoints (an OpenAI-compatible LLM is made for each)"
            )
        missing = [t for t in config.tiers if t.name not in self.llms and t.model not in self.llms]
        if missing:
            names = ", ".join(f"{t.name} ({t.model})" for t in missing)
            raise ConfigError(
                f"no LLM for tier {names}; llms has {', '.join(self.llms)}: add one under the tier name or the "
                "tier's model name"
            )

    @classmethod
    def from_config(cls, config: RouterConfig | Mapping[str, Any] | str | Path, **kwargs: Any) -> SemanticRouterLLM:
        """A router LLM whose tiers are OpenAI-compatible LLMs of ``config``'s ``models:`` endpoints."""
        return cls(router_config=config, **kwargs)

    @classmethod
    def class_name(cls) -> str:
        return "SemanticRouterLLM"

    @property
    def semantic_router(self) -> SemanticRouter:
        """The :class:`~sirp.SemanticRouter` that decides (built on first use)."""
        return self._lazy.get()

    def close(self) -> None:
        """Close what this LLM made: its router and the tier LLMs' synchronous HTTP clients.

        Only what was built from ``router_config`` is closed; LLMs and a router passed in are left
        to their owner. After async use, call :meth:`aclose` instead.
        """
        self._endpoints.close()
        if self.router is None and self._lazy.built:
            self._lazy.get().close()

    async def aclose(self) -> None:
        """Async :meth:`close`: also closes the async HTTP clients, on the event loop that used them."""
        await self._endpoints.aclose()
        if self.router is None and self._lazy.built:
            await self._lazy.get().aclose()

    @property
    def metadata(self) -> LLMMetadata:
        """What LlamaIndex plans around; it must hold whichever tier answers."""
        metas = [llm.metadata for llm in self.llms.values()]
        outputs = [m.num_output for m in metas if m.num_output > 0]
        calling = all(
            isinstance(llm, FunctionCallingLLM) and m.is_function_calling_model
            for llm, m in zip(self.llms.values(), metas, strict=True)
        )
        return LLMMetadata(
            context_window=self.context_window or min(m.context_window for m in metas),
            num_output=min(outputs) if outputs else -1,
            is_chat_model=all(m.is_chat_model for m in metas),
            is_function_calling_model=calling if self.function_calling is None else self.function_calling and calling,
            model_name=f"sirp:{self.model}",
            system_role=MessageRole.SYSTEM,
        )

    # -- routing and the call plan -----------------------------------------------------------

    def _split(self, kwargs: Mapping[str, Any]) -> tuple[str | None, bool | None, bool | None, dict[str, Any]]:
        rest = dict(kwargs)
        pin = rest.pop("model", None) or self.model
        reasoning = rest.pop("reasoning", None)
        reasoning = self.reasoning if reasoning is None else reasoning
        pii = rest.pop("pii", None)
        if not isinstance(pin, str):
            raise InputError(f"model must be a tier or model name, or 'auto', got {type(pin).__name__}")
        if reasoning is not None and not isinstance(reasoning, bool):
            raise InputError(f"reasoning must be True, False or None (let sirp decide), got {reasoning!r}")
        return (None if pin in ("", "auto") else pin), reasoning, (self.pii if pii is None else pii), rest

    def _key_for(self, decision: RoutingDecision) -> str:
        for key in (decision.model, decision.tier):
            if key in self.llms:
                return key
        raise ConfigError(
            f"the router chose {decision.model} (tier {decision.tier}) but llms has no LLM for it "
            f"({', '.join(self.llms)}); add one under the tier name or the model name"
        )

    def _family(self, key: str, decision: RoutingDecision) -> str:
        for name in (key, decision.model, decision.tier):
            if name in self.families:
                return self.families[name]
        endpoint = self._lazy.config.endpoint(decision.model) or self._lazy.config.endpoint(key)
        return endpoint.family if endpoint is not None else "none"

    def _plan(self, messages: list[ChatMessage], kwargs: dict[str, Any], decision: RoutingDecision) -> _Call:
        """Apply pins, forced reasoning, the category's system prompt, the tier's tool format and reasoning syntax."""
        pin, forced, _, rest = self._split(kwargs)
        if pin is not None:
            key, decision = pin_model(self._lazy.config, decision, pin, self.llms, what="LLMs")
        else:
            key = self._key_for(decision)
        if forced is not None:
            decision = force_reasoning(self._lazy.config, decision, forced)
        category = self._lazy.config.category(decision.category_config)
        if category is not None and category.system_prompt:
            messages = prepend_system_message(messages, category.system_prompt)
            step = TraceStep(rule="category.system_prompt", detail=f"{category.name}'s system prompt added")
            decision = decision.model_copy(update={"trace": [*decision.trace, step]})
        llm, base_extra_body = self._tiers[key]
        tools = rest.pop(_TOOLS_KEY, None)
        if tools is not None and self._filters_tools(tools):
            tools, step = self._filter_tools(messages, tools)
            decision = decision.model_copy(update={"trace": [*decision.trace, step]})
        if tools is not None:
            if not isinstance(llm, FunctionCallingLLM):
                raise ConfigError(
                    f"the router chose {key}, whose LLM ({type(llm).__name__}) cannot call tools; give every tier "
                    "a function-calling LLM, or set function_calling=False so tool callers do not rely on it"
                )
            # The tier formats the tools its own way (OpenAI, Anthropic, ...), now that it is known.
            prepared = llm._prepare_chat_with_tools_compat(chat_history=list(messages), user_msg=None, **tools)
            messages = list(prepared.pop("messages"))
            rest = {**prepared, **rest}
        family = self._family(key, decision)
        messages, rest = reasoning_call(
            llm,
            messages,
            rest,
            base_extra_body=base_extra_body,
            family=family,
            enabled=decision.reasoning,
            effort=decision.reasoning_effort,
            budget_tokens=decision.reasoning_budget_tokens,
        )
        return _Call(llm, key, messages, rest, decision, family)

    def _filters_tools(self, spec: Mapping[str, Any]) -> bool:
        tools = spec.get("tools")
        policy = self._lazy.config.policy.tools
        return policy.enabled and isinstance(tools, Sequence) and len(tools) > policy.top_k

    def _filter_tools(self, messages: list[ChatMessage], spec: dict[str, Any]) -> tuple[dict[str, Any], TraceStep]:
        """sirp's tool pre-filter (``policy.tools``, classifier embeddings) on the tools' OpenAI form."""
        tools = list(spec["tools"])
        tool_filter = self.semantic_router.dispatcher.tools
        as_openai = [t.metadata.to_openai_tool(skip_length_check=True) for t in tools]
        text = to_routing_text(to_prompt(messages), window=0).text
        kept, step = tool_filter.filter(text, as_openai, spec.get("tool_choice"))
        names = {t["function"]["name"] for t in kept}
        return {
            **spec,
            "tools": [t for t, o in zip(tools, as_openai, strict=True) if o["function"]["name"] in names],
        }, step

    def _route(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> _Call:
        msgs = list(messages)
        pii = self._split(kwargs)[2]
        return self._plan(msgs, dict(kwargs), self.semantic_router.route(to_prompt(msgs), pii=pii))

    async def _aroute(self, messages: Sequence[ChatMessage], kwargs: Mapping[str, Any]) -> _Call:
        msgs = list(messages)
        pii = self._split(kwargs)[2]
        router = await self._lazy.aget()
        decision = await router.aroute(to_prompt(msgs), pii=pii)
        spec = kwargs.get(_TOOLS_KEY)
        if isinstance(spec, Mapping) and self._filters_tools(spec):  # the filter runs the classifier
            return await asyncio.to_thread(self._plan, msgs, dict(kwargs), decision)
        return self._plan(msgs, dict(kwargs), decision)

    @staticmethod
    def _prompt_call(prompt: str, call: _Call) -> str:
        """For ``complete``: the system text sirp wrote (category prompt, chain-of-thought) before the prompt."""
        system = call.messages[0].content if call.messages and call.messages[0].role == MessageRole.SYSTEM else None
        return f"{system}\n\n{prompt}" if system else prompt

    def _annotate_chat(self, response: ChatResponse, call: _Call) -> ChatResponse:
        response.additional_kwargs = {**response.additional_kwargs, DECISION_KEY: call.metadata()}
        return response

    def _annotate_completion(self, response: CompletionResponse, call: _Call) -> CompletionResponse:
        response.additional_kwargs = {**response.additional_kwargs, DECISION_KEY: call.metadata()}
        return response

    # -- chat ------------------------------------------------------------------------------

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Route ``messages`` and chat with the chosen tier's LLM."""
        call = self._route(messages, kwargs)
        return self._annotate_chat(call.llm.chat(call.messages, **call.kwargs), call)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """Async :meth:`chat` (the classifier runs in a worker thread)."""
        call = await self._aroute(messages, kwargs)
        return self._annotate_chat(await call.llm.achat(call.messages, **call.kwargs), call)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        """Route, then stream the chosen tier's answer (each delta carries the decision)."""
        call = self._route(messages, kwargs)
        stream = call.llm.stream_chat(call.messages, **call.kwargs)

        def gen() -> ChatResponseGen:
            for response in stream:
                yield self._annotate_chat(response, call)

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        """Async :meth:`stream_chat`."""
        call = await self._aroute(messages, kwargs)
        stream = await call.llm.astream_chat(call.messages, **call.kwargs)

        async def gen() -> ChatResponseAsyncGen:
            async for response in stream:
                yield self._annotate_chat(response, call)

        return gen()

    # -- complete ----------------------------------------------------------------------------

    def _completion_call(self, prompt: str, kwargs: Mapping[str, Any], call: _Call) -> tuple[str, dict[str, Any]]:
        args = dict(call.kwargs)
        if "formatted" in kwargs:
            args["formatted"] = kwargs["formatted"]
        return self._prompt_call(prompt, call), args

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Route ``prompt`` and complete it with the chosen tier's LLM."""
        call = self._route([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
        text, args = self._completion_call(prompt, {"formatted": formatted}, call)
        return self._annotate_completion(call.llm.complete(text, **args), call)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """Async :meth:`complete`."""
        call = await self._aroute([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
        text, args = self._completion_call(prompt, {"formatted": formatted}, call)
        return self._annotate_completion(await call.llm.acomplete(text, **args), call)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        """Route, then stream the chosen tier's completion (each delta carries the decision)."""
        call = self._route([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
        text, args = self._completion_call(prompt, {"formatted": formatted}, call)
        stream = call.llm.stream_complete(text, **args)

        def gen() -> CompletionResponseGen:
            for response in stream:
                yield self._annotate_completion(response, call)

        return gen()

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        """Async :meth:`stream_complete`."""
        call = await self._aroute([ChatMessage(role=MessageRole.USER, content=prompt)], kwargs)
        text, args = self._completion_call(prompt, {"formatted": formatted}, call)
        stream = await call.llm.astream_complete(text, **args)

        async def gen() -> CompletionResponseAsyncGen:
            async for response in stream:
                yield self._annotate_completion(response, call)

        return gen()

    # -- tools -------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[Any],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Defer the tools to :meth:`chat`: their format is the chosen tier's, known only after routing."""
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg
            )
        routing: dict[str, Any] = {k: kwargs.pop(k) for k in ("model", "reasoning", "pii") if k in kwargs}
        spec = {
            "tools": tools,
            "verbose": verbose,
            "allow_parallel_tool_calls": allow_parallel_tool_calls,
            "tool_required": tool_required,
            **kwargs,
        }
        return {"messages": messages, _TOOLS_KEY: spec, **routing}

    def _tier_of(self, response: ChatResponse) -> LLM:
        meta = response.additional_kwargs.get(DECISION_KEY)
        key = meta.get("llm") if isinstance(meta, Mapping) else None
        if key not in self.llms:
            raise InputError("this response did not come from this SemanticRouterLLM (no sirp_decision naming its LLM)")
        return self._tiers[key][0]

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[Any],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        tier = self._tier_of(response)
        if isinstance(tier, FunctionCallingLLM):
            return tier._validate_chat_with_tools_response(response, tools, allow_parallel_tool_calls, **kwargs)
        return response

    def get_tool_calls_from_response(
        self, response: ChatResponse, error_on_no_tool_call: bool = True, **kwargs: Any
    ) -> list[ToolSelection]:
        """The tool calls in ``response``, read by the tier LLM that wrote it."""
        tier = self._tier_of(response)
        if not isinstance(tier, FunctionCallingLLM):
            raise ConfigError(f"{type(tier).__name__} cannot call tools")
        return tier.get_tool_calls_from_response(response, error_on_no_tool_call=error_on_no_tool_call, **kwargs)
