"""``ChatSemanticRouter``: a LangChain chat model that routes every call to the chat model of sirp's chosen tier."""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator
from typing_extensions import Self

from langchain_sirp._openai import chat_openai_models
from langchain_sirp._reasoning import prepend_system_message, reasoning_call
from langchain_sirp._routing import LazyRouter, as_router_config, to_prompt
from langchain_sirp._structured import StructuredOutputMethod, structured_output
from sirp import ConfigError, InputError, RouterConfig, RoutingDecision, SemanticRouter
from sirp.config.schema import ReasoningFamily
from sirp.decision import TraceStep
from sirp.policy.overrides import force_reasoning, pin_model
from sirp.prompts import to_routing_text

__all__ = ["DECISION_KEY", "ChatSemanticRouter", "routing_decision"]

#: Where the decision goes in ``AIMessage.response_metadata`` and ``ChatResult.llm_output``.
DECISION_KEY = "sirp_decision"

#: ``bind_tools`` arguments handed to the chosen tier's own ``bind_tools``.
_TOOL_KWARGS = ("tool_choice", "strict", "parallel_tool_calls")


def routing_decision(message: BaseMessage) -> RoutingDecision | None:
    """The :class:`~sirp.RoutingDecision` behind a message :class:`ChatSemanticRouter` answered, if any."""
    data = message.response_metadata.get(DECISION_KEY)
    return RoutingDecision.model_validate(data) if isinstance(data, Mapping) else None


@functools.cache
def _takes_run_manager(method: Callable[..., Any]) -> bool:
    return "run_manager" in inspect.signature(method).parameters


def _overrides(model: BaseChatModel, name: str) -> bool:
    return getattr(type(model), name) is not getattr(BaseChatModel, name)


def _as_chunk(message: BaseMessage) -> AIMessageChunk:
    """A whole answer as one stream chunk (for tier models that cannot stream)."""
    if isinstance(message, AIMessageChunk):
        return message
    tool_calls = message.tool_calls if isinstance(message, AIMessage) else []
    return AIMessageChunk(
        content=message.content,
        additional_kwargs=message.additional_kwargs,
        response_metadata=message.response_metadata,
        usage_metadata=message.usage_metadata if isinstance(message, AIMessage) else None,
        id=message.id,
        tool_call_chunks=[
            tool_call_chunk(name=c["name"], args=_json_args(c["args"]), id=c.get("id"), index=i)
            for i, c in enumerate(tool_calls)
        ],
        chunk_position="last",
    )


def _json_args(args: Mapping[str, Any]) -> str:
    return json.dumps(dict(args))


@dataclass(frozen=True)
class _Request:
    """sirp's part of a call (what to route, pins, forced reasoning) split from the tier model's part."""

    prompt: str | list[dict[str, Any]]
    pii: bool | None
    pin: str | None
    reasoning: bool | None
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class _Call:
    """One call of the chosen tier's chat model, with the decision that chose it."""

    model: BaseChatModel
    messages: list[BaseMessage]
    stop: list[str] | None
    kwargs: dict[str, Any]
    decision: RoutingDecision
    family: str

    def metadata(self) -> dict[str, Any]:
        return {**self.decision.model_dump(mode="json"), "family": self.family}


class ChatSemanticRouter(BaseChatModel):
    """A chat model that routes each call with sirp to the chat model of the chosen tier.

    Every call (``invoke``, ``ainvoke``, ``stream``, ``astream``, ``batch``, tool calling,
    structured output) is classified first (milliseconds, in-process); then the chat model of
    the decided tier answers, with reasoning switched on or off in its family's syntax
    (:mod:`sirp.providers.reasoning`: Qwen3 ``enable_thinking``, DeepSeek ``thinking``,
    ``reasoning_effort``, Anthropic ``thinking.budget_tokens``, Gemini ``thinking_budget`` or a
    chain-of-thought instruction). The decision is in the answer's
    ``response_metadata["sirp_decision"]`` (and ``llm_output``), so callbacks and traces see it
    in ``on_llm_end``; :func:`routing_decision` reads it back.

    Either give one chat model per tier (or per configured model name)::

        from langchain_openai import ChatOpenAI
        from langchain_sirp import ChatSemanticRouter

        llm = ChatSemanticRouter(
            models={"slm": ChatOpenAI(model="gpt-4o-mini"), "llm": ChatOpenAI(model="o4-mini")},
            families={"llm": "openai"},  # how each tier is told to reason; default from the config
        )

    or let it build a ``ChatOpenAI`` for every model of a sirp config (``base_url``, key from
    ``api_key_env``, ``family``)::

        llm = ChatSemanticRouter(router_config="examples/two-tier.yaml")
        msg = llm.invoke("Prove that the square root of 2 is irrational.")
        msg.response_metadata["sirp_decision"]["tier"], msg.response_metadata["model_name"]

    Per call, ``model="auto"`` (the default) routes, a tier or model name pins that tier model
    (still classified, traced as ``pin.model``), and ``reasoning=True``/``False`` forces
    reasoning (traced as ``reasoning.forced``). ``cache`` and ``rate_limiter`` belong on this
    router: the tier models are driven through their LangChain generation methods inside its run.
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True, protected_namespaces=())

    models: dict[str, BaseChatModel] = Field(default_factory=dict)
    """Chat model per tier name (``slm``, ``srm``, ``llm``, ``lrm``) or per configured model name."""
    router: SemanticRouter | None = Field(default=None, exclude=True)
    """The router that decides; made from ``router_config`` on first use when not given."""
    router_config: RouterConfig | None = None
    """A :class:`~sirp.RouterConfig`, a dict or a YAML path: tiers, policy, and ``models:`` endpoints
    for which a ``ChatOpenAI`` is made unless ``models`` has one under the same name."""
    families: dict[str, ReasoningFamily] = Field(default_factory=dict)
    """Reasoning family per ``models`` key, tier or model name; default: the config's endpoint, else ``none``."""
    model_name: str = Field(default="auto", alias="model")
    """``auto`` routes; a tier or model name pins that model for every call."""
    reasoning: bool | None = None
    """Force reasoning on or off for every call; ``None`` lets the policy decide."""
    pii: bool | None = None
    """Tell the policy whether requests carry personal data (``policy.privacy``)."""
    temperature: float | None = None
    """Sampling temperature passed to the tier models."""
    max_tokens: int | None = None
    """Most tokens to generate, passed to the tier models."""
    stop: list[str] | None = Field(default=None, alias="stop_sequences")
    """Default stop sequences."""
    timeout: float | None = None
    """Per-request timeout of the tier models made from ``router_config`` (default: each endpoint's ``timeout_s``)."""
    max_retries: int | None = None
    """Retries of the tier models made from ``router_config`` (default: each endpoint's ``max_retries``)."""
    api_key: SecretStr | None = None
    """Key for config endpoints that name no ``api_key_env``."""
    streaming: bool = False
    """Stream from the tier model even for ``invoke``."""

    _lazy: LazyRouter = PrivateAttr()

    @field_validator("router_config", mode="before")
    @classmethod
    def _load_config(cls, value: Any) -> RouterConfig | None:
        return as_router_config(value)

    @model_validator(mode="after")
    def _set_up(self) -> Self:
        if self.router is not None and self.router_config is not None and self.router_config != self.router.config:
            raise ValueError("give either router or router_config, not both (a router carries its own config)")
        self._lazy = LazyRouter(self.router, self.router_config)
        built = chat_openai_models(
            self._lazy.config, api_key=self.api_key, timeout=self.timeout, max_retries=self.max_retries
        )
        self.models = {**built, **self.models}
        return self

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        config = self._lazy.config
        if not self.models:
            raise ConfigError(
                "ChatSemanticRouter needs a chat model for each tier: pass models={'slm': ..., 'llm': ...}, "
                "or a router_config with models: endpoints (a ChatOpenAI is made for each)"
            )
        missing = [t for t in config.tiers if t.name not in self.models and t.model not in self.models]
        if missing:
            names = ", ".join(f"{t.name} ({t.model})" for t in missing)
            raise ConfigError(
                f"no chat model for tier {names}; models has {', '.join(self.models)}: add one under the tier "
                "name or the tier's model name"
            )

    @classmethod
    def from_config(cls, config: RouterConfig | Mapping[str, Any] | str, **kwargs: Any) -> ChatSemanticRouter:
        """A router whose tier models are ``ChatOpenAI`` clients of ``config``'s ``models:`` endpoints."""
        return cls(router_config=config, **kwargs)

    @property
    def semantic_router(self) -> SemanticRouter:
        """The :class:`~sirp.SemanticRouter` that decides (built on first use)."""
        return self._lazy.get()

    # -- LangChain's model description -------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "sirp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # The cache key: which model answers depends on the router, so name every tier model.
        return {
            "model_name": self.model_name,
            "reasoning": self.reasoning,
            "models": {k: f"{m._llm_type}:{sorted(m._identifying_params.items())}" for k, m in self.models.items()},
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="sirp",
            ls_model_name=str(kwargs.get("model") or self.model_name),
            ls_model_type="chat",
        )
        temperature = kwargs.get("temperature", self.temperature)
        if temperature is not None:
            params["ls_temperature"] = temperature
        max_tokens = kwargs.get("max_tokens", self.max_tokens)
        if max_tokens is not None:
            params["ls_max_tokens"] = max_tokens
        stop = stop or self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    # -- routing and the call plan -----------------------------------------------------------

    def _request(self, messages: list[BaseMessage], kwargs: Mapping[str, Any]) -> _Request:
        rest = dict(kwargs)
        pin = rest.pop("model", None) or self.model_name
        reasoning = rest.pop("reasoning", None)
        reasoning = self.reasoning if reasoning is None else reasoning
        pii = rest.pop("pii", None)
        if not isinstance(pin, str):
            raise InputError(f"model must be a tier or model name, or 'auto', got {type(pin).__name__}")
        if reasoning is not None and not isinstance(reasoning, bool):
            raise InputError(f"reasoning must be True, False or None (let sirp decide), got {reasoning!r}")
        for name, value in (("temperature", self.temperature), ("max_tokens", self.max_tokens)):
            if value is not None:
                rest.setdefault(name, value)
        return _Request(
            prompt=to_prompt(messages),
            pii=self.pii if pii is None else pii,
            pin=None if pin in ("", "auto") else pin,
            reasoning=reasoning,
            kwargs=rest,
        )

    def _key_for(self, decision: RoutingDecision) -> str:
        for key in (decision.model, decision.tier):
            if key in self.models:
                return key
        raise ConfigError(
            f"the router chose {decision.model} (tier {decision.tier}) but models has no chat model for it "
            f"({', '.join(self.models)}); add one under the tier name or the model name"
        )

    def _family(self, key: str, decision: RoutingDecision) -> str:
        for name in (key, decision.model, decision.tier):
            if name in self.families:
                return self.families[name]
        endpoint = self._lazy.config.endpoint(decision.model) or self._lazy.config.endpoint(key)
        return endpoint.family if endpoint is not None else "none"

    def _filters_tools(self, kwargs: Mapping[str, Any]) -> bool:
        tools = kwargs.get("tools")
        return bool(self._lazy.config.policy.tools.enabled and isinstance(tools, list) and tools)

    def _plan(
        self, messages: list[BaseMessage], stop: list[str] | None, req: _Request, decision: RoutingDecision
    ) -> _Call:
        """Apply pins, forced reasoning, the category's system prompt, tool filtering and the family's syntax."""
        if req.pin is not None:
            key, decision = pin_model(self._lazy.config, decision, req.pin, self.models, what="chat models")
        else:
            key = self._key_for(decision)
        if req.reasoning is not None:
            decision = force_reasoning(self._lazy.config, decision, req.reasoning)
        kwargs = dict(req.kwargs)
        category = self._lazy.config.category(decision.category_config)
        if category is not None and category.system_prompt:
            messages = prepend_system_message(messages, category.system_prompt)
            step = TraceStep(rule="category.system_prompt", detail=f"{category.name}'s system prompt added")
            decision = decision.model_copy(update={"trace": [*decision.trace, step]})
        if self._filters_tools(kwargs):
            # sirp's own tool filter (classifier embeddings), on the OpenAI-format tools bind_tools made
            tool_filter = self.semantic_router.dispatcher.tools
            if tool_filter.applies(kwargs["tools"]):
                text = to_routing_text(req.prompt, window=0).text
                kwargs["tools"], step = tool_filter.filter(text, kwargs["tools"], kwargs.get("tool_choice"))
                decision = decision.model_copy(update={"trace": [*decision.trace, step]})
        model = self.models[key]
        if kwargs.get("tools"):
            kwargs = self._bind_tools_on(model, kwargs)
        family = self._family(key, decision)
        messages, kwargs = reasoning_call(
            model,
            messages,
            kwargs,
            family=family,
            enabled=decision.reasoning,
            effort=decision.reasoning_effort,
            budget_tokens=decision.reasoning_budget_tokens,
        )
        stop = stop if stop is not None else self.stop
        return _Call(model, messages, stop or None, kwargs, decision, family)

    @staticmethod
    def _bind_tools_on(model: BaseChatModel, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call arguments with the tools in ``model``'s own format (its ``bind_tools``)."""
        rest = dict(kwargs)
        tools = rest.pop("tools")
        options = {k: rest.pop(k) for k in _TOOL_KWARGS if rest.get(k) is not None}
        for k in _TOOL_KWARGS:
            rest.pop(k, None)
        bound = model.bind_tools(tools, **options)
        if not isinstance(bound, RunnableBinding):
            raise ConfigError(
                f"{type(model).__name__}.bind_tools returned a {type(bound).__name__}, not a binding of call "
                "arguments; ChatSemanticRouter cannot pass its tools on. Use a tier chat model whose bind_tools "
                "binds arguments (ChatOpenAI, ChatAnthropic, ...)"
            )
        return {**bound.kwargs, **rest}

    def _route(self, req: _Request) -> RoutingDecision:
        return self.semantic_router.route(req.prompt, pii=req.pii)

    async def _aroute(self, req: _Request) -> RoutingDecision:
        if not self._lazy.built:  # loading the classifier takes a while: not on the event loop
            await asyncio.to_thread(self._lazy.get)
        return await self.semantic_router.aroute(req.prompt, pii=req.pii)

    async def _aplan(
        self, messages: list[BaseMessage], stop: list[str] | None, req: _Request, decision: RoutingDecision
    ) -> _Call:
        if self._filters_tools(req.kwargs):  # the tool filter runs the classifier: not on the event loop
            return await asyncio.to_thread(self._plan, messages, stop, req, decision)
        return self._plan(messages, stop, req, decision)

    # -- generation ---------------------------------------------------------------------------

    @staticmethod
    def _annotate(result: ChatResult, call: _Call) -> ChatResult:
        meta = call.metadata()
        for gen in result.generations:
            gen.message.response_metadata = {**gen.message.response_metadata, DECISION_KEY: meta}
        return ChatResult(generations=result.generations, llm_output={**(result.llm_output or {}), DECISION_KEY: meta})

    @staticmethod
    def _manager(method: Callable[..., Any], run_manager: Any) -> dict[str, Any]:
        return {"run_manager": run_manager} if _takes_run_manager(method) else {}

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        req = self._request(messages, kwargs)
        call = self._plan(messages, stop, req, self._route(req))
        m = call.model
        # The tier model runs inside this router's run: its tokens reach this run's callbacks.
        extra = self._manager(type(m)._generate, run_manager)
        result = m._generate(call.messages, stop=call.stop, **extra, **call.kwargs)
        return self._annotate(result, call)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        req = self._request(messages, kwargs)
        call = await self._aplan(messages, stop, req, await self._aroute(req))
        m = call.model
        extra = self._manager(type(m)._agenerate, run_manager)
        result = await m._agenerate(call.messages, stop=call.stop, **extra, **call.kwargs)
        return self._annotate(result, call)

    @staticmethod
    def _streams(model: BaseChatModel, kwargs: Mapping[str, Any], *, asynchronous: bool) -> bool:
        if model.disable_streaming is True or (model.disable_streaming == "tool_calling" and kwargs.get("tools")):
            return False
        return _overrides(model, "_stream") or (asynchronous and _overrides(model, "_astream"))

    @staticmethod
    def _mark_first(chunk: ChatGenerationChunk, call: _Call) -> ChatGenerationChunk:
        # Only one chunk carries the decision: chunks add up, and strings in metadata would be concatenated.
        chunk.message.response_metadata = {**chunk.message.response_metadata, DECISION_KEY: call.metadata()}
        return chunk

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        req = self._request(messages, kwargs)
        call = self._plan(messages, stop, req, self._route(req))
        m = call.model
        chunks: Iterator[ChatGenerationChunk]
        if self._streams(m, call.kwargs, asynchronous=False):
            extra = self._manager(type(m)._stream, run_manager)
            chunks = m._stream(call.messages, stop=call.stop, **extra, **call.kwargs)
        else:
            extra = self._manager(type(m)._generate, run_manager)
            result = m._generate(call.messages, stop=call.stop, **extra, **call.kwargs)
            chunks = iter(_result_chunks(result))
        first = True
        for chunk in chunks:
            yield self._mark_first(chunk, call) if first else chunk
            first = False
        if first:
            yield self._mark_first(ChatGenerationChunk(message=AIMessageChunk(content="")), call)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        req = self._request(messages, kwargs)
        call = await self._aplan(messages, stop, req, await self._aroute(req))
        m = call.model
        first = True
        if self._streams(m, call.kwargs, asynchronous=True):
            extra = self._manager(type(m)._astream, run_manager)
            async for chunk in m._astream(call.messages, stop=call.stop, **extra, **call.kwargs):
                yield self._mark_first(chunk, call) if first else chunk
                first = False
        else:
            extra = self._manager(type(m)._agenerate, run_manager)
            result = await m._agenerate(call.messages, stop=call.stop, **extra, **call.kwargs)
            for chunk in _result_chunks(result):
                yield self._mark_first(chunk, call) if first else chunk
                first = False
        if first:
            yield self._mark_first(ChatGenerationChunk(message=AIMessageChunk(content="")), call)

    # -- tools and structured output ---------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: dict[str, Any] | str | bool | None = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools; each call hands them to the chosen tier model's own ``bind_tools``.

        Tools are kept in OpenAI's format here (JSON-serialisable, traceable, and what sirp's
        tool pre-filter reads); ``tool_choice`` (``"auto"``, ``"any"``, a tool name, ...) is
        passed on as given, for the tier model to translate.
        """
        formatted = [convert_to_openai_tool(t, strict=strict) for t in tools]
        options = {"tool_choice": tool_choice, "strict": strict, "parallel_tool_calls": parallel_tool_calls}
        kwargs.update({name: value for name, value in options.items() if value is not None})
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: dict[str, Any] | type | None = None,
        *,
        method: StructuredOutputMethod = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | Any]:
        """Answers parsed into ``schema`` (a pydantic class, TypedDict or JSON schema), from whichever tier answers.

        ``method``: ``function_calling`` (a forced tool call; any tier model with ``bind_tools``),
        ``json_schema`` (OpenAI's ``response_format`` with the schema) or ``json_mode``
        (``response_format`` ``json_object``; say the keys in the prompt). The last two suit
        OpenAI-compatible tier models. ``include_raw=True`` returns ``{"raw", "parsed",
        "parsing_error"}``, where ``raw`` carries the routing decision.
        """
        if kwargs:
            raise InputError(f"with_structured_output got unsupported arguments {sorted(kwargs)}")
        return structured_output(self, schema, method=method, include_raw=include_raw, strict=strict)


def _result_chunks(result: ChatResult) -> list[ChatGenerationChunk]:
    return [
        ChatGenerationChunk(message=_as_chunk(g.message), generation_info=g.generation_info)
        for g in result.generations
        if isinstance(g, ChatGeneration)
    ]
