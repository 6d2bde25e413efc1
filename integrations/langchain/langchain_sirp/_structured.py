"""Structured output for the routing chat model: tool calling, JSON schema or JSON mode on whichever tier answers.

The schema is bound to the router (not to one tier), so each call is routed first and the chosen
tier's chat model gets the tool or ``response_format`` in its own format.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

from sirp import InputError

if TYPE_CHECKING:
    from langchain_core.language_models import LanguageModelInput

    from langchain_sirp.chat_models import ChatSemanticRouter

__all__ = ["StructuredOutputMethod", "structured_output"]

StructuredOutputMethod = Literal["function_calling", "json_schema", "json_mode"]


def _response_format(schema: Any, strict: bool | None) -> dict[str, Any]:
    """OpenAI's ``response_format`` for a JSON-schema answer (a pydantic class, TypedDict or JSON schema)."""
    fn = convert_to_openai_tool(schema, strict=strict)["function"]
    spec: dict[str, Any] = {"name": fn["name"], "schema": fn.get("parameters", {})}
    if fn.get("description"):
        spec["description"] = fn["description"]
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def structured_output(
    llm: ChatSemanticRouter,
    schema: Any,
    *,
    method: StructuredOutputMethod,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, Any]:
    """The runnable behind :meth:`ChatSemanticRouter.with_structured_output`."""
    is_pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
    if schema is None and method != "json_mode":
        raise InputError(f"with_structured_output(method={method!r}) needs a schema; only json_mode works without one")
    trace_format = {"kwargs": {"method": method, "strict": strict}, "schema": schema}
    bound: Runnable[LanguageModelInput, Any]
    parser: Runnable[Any, Any]
    if method == "function_calling":
        name = convert_to_openai_tool(schema)["function"]["name"]
        bound = llm.bind_tools([schema], tool_choice=name, strict=strict, ls_structured_output_format=trace_format)
        parser = (
            PydanticToolsParser(tools=[schema], first_tool_only=True)
            if is_pydantic
            else JsonOutputKeyToolsParser(key_name=name, first_tool_only=True)
        )
    elif method in ("json_schema", "json_mode"):
        response_format = _response_format(schema, strict) if method == "json_schema" else {"type": "json_object"}
        # Without a schema there is nothing for traces to show as the expected format.
        traced = {"ls_structured_output_format": trace_format} if schema is not None else {}
        bound = llm.bind(response_format=response_format, **traced)
        parser = PydanticOutputParser(pydantic_object=schema) if is_pydantic else JsonOutputParser()
    else:
        raise InputError(f"unknown structured output method {method!r}; use function_calling, json_schema or json_mode")
    if not include_raw:
        return bound | parser
    none: Callable[[Any], None] = lambda _: None  # noqa: E731 - a named no-op reads better inline below
    parse = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=none)
    fallback = RunnablePassthrough.assign(parsed=none)
    return RunnableMap(raw=bound) | parse.with_fallbacks([fallback], exception_key="parsing_error")
