"""SemanticRouterLLM over real HTTP: OpenAI-compatible tier LLMs made from a sirp config, against the fake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.core.tools import FunctionTool
from llama_index.llms.sirp import SemanticRouterLLM, routing_decision

from sirp import ConfigError
from sirp.testing.fake_openai import REASONING_TOKENS


def magic_function(input: int) -> int:
    """Returns the input plus two."""
    return input + 2


@pytest.fixture
def llm(make_router, fake_openai, config_for) -> Iterator[SemanticRouterLLM]:
    cfg = config_for(fake_openai.base_url, small="qwen3", large="openai")
    llm = SemanticRouterLLM(router=make_router(cfg))
    yield llm
    llm.close()  # async tests close their async clients themselves, on their loop


def test_config_endpoints_become_tier_llms_with_their_context_windows(llm) -> None:
    assert set(llm.llms) == {"small", "large"}
    meta = llm.metadata
    assert meta.context_window == 32768 and meta.is_chat_model and meta.is_function_calling_model


def test_each_family_syntax_reaches_the_wire(llm, fake_openai, script) -> None:
    script.easy()
    r = llm.chat([ChatMessage(role=MessageRole.USER, content="What is the capital of France?")])
    assert r.message.content == "Echo from small: What is the capital of France?"
    body = fake_openai.requests_for("small")[-1].body
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    script.hard()
    c = llm.complete("Prove that the square root of 2 is irrational.")
    body = fake_openai.requests_for("large")[-1].body
    assert body["reasoning_effort"] == "high" and "chat_template_kwargs" not in body
    assert routing_decision(c).tier == "llm"
    assert c.raw is not None and c.raw.usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS


def test_own_extra_body_is_kept_beside_sirps(make_router, fake_openai, config_for, script) -> None:
    script.easy()
    cfg = config_for(fake_openai.base_url)
    base = SemanticRouterLLM(router=make_router(cfg))
    small = base.llms["small"].model_copy(update={"additional_kwargs": {"extra_body": {"top_k": 20}}})
    llm = SemanticRouterLLM(llms={**base.llms, "small": small}, router=base.router)
    llm.chat([ChatMessage(role=MessageRole.USER, content="hi")])
    base.close()
    body = fake_openai.requests_for("small")[-1].body
    assert body["top_k"] == 20 and body["chat_template_kwargs"] == {"enable_thinking": False}
    assert small.additional_kwargs == {"extra_body": {"top_k": 20}}  # the tier LLM itself is not changed


def test_streaming_over_http(llm, fake_openai, script) -> None:
    script.hard()
    deltas = list(llm.stream_chat([ChatMessage(role=MessageRole.USER, content="Prove it.")]))
    assert deltas[-1].message.content == "Echo from large: Prove it."
    assert routing_decision(deltas[-1]).reasoning
    assert fake_openai.requests_for("large")[-1].body["stream"] is True


def test_tool_calls_are_formatted_by_the_chosen_tier(llm, fake_openai, script) -> None:
    script.hard()
    tool = FunctionTool.from_defaults(fn=magic_function)
    response = llm.chat_with_tools([tool], user_msg="What is magic_function(3)?", tool_required=True)
    (selection,) = llm.get_tool_calls_from_response(response)
    assert (selection.tool_name, selection.tool_kwargs) == ("magic_function", {"input": 3})
    body = fake_openai.requests_for("large")[-1].body
    assert body["tool_choice"] == "required" and body["tools"][0]["function"]["name"] == "magic_function"
    assert body["reasoning_effort"] == "high"
    assert str(llm.predict_and_call([tool], user_msg="What is magic_function(40)?")) == "42"


async def test_async_tool_calls_and_chat(llm, script) -> None:
    script.easy()
    tool = FunctionTool.from_defaults(fn=magic_function)
    try:
        response = await llm.achat_with_tools([tool], user_msg="What is magic_function(5)?", tool_required=True)
        assert llm.get_tool_calls_from_response(response)[0].tool_kwargs == {"input": 5}
        r = await llm.achat([ChatMessage(role=MessageRole.USER, content="hello")])
        assert r.message.content == "Echo from small: hello"
    finally:
        await llm.aclose()


def test_api_key_env_is_read_at_the_first_request(make_router, fake_openai, config_for, monkeypatch) -> None:
    monkeypatch.delenv("SIRP_LI_TEST_KEY", raising=False)
    cfg = config_for(fake_openai.base_url)
    cfg["models"][1]["api_key_env"] = "SIRP_LI_TEST_KEY"
    llm = SemanticRouterLLM(router=make_router(cfg))  # building needs no key
    with pytest.raises(ConfigError, match="SIRP_LI_TEST_KEY"):
        llm.chat([ChatMessage(role=MessageRole.USER, content="hi")], model="large")
    assert fake_openai.requests_for("large") == []
    monkeypatch.setenv("SIRP_LI_TEST_KEY", "sk-li-123")
    llm.chat([ChatMessage(role=MessageRole.USER, content="hi")], model="large")
    llm.close()
    assert fake_openai.requests_for("large")[-1].headers["authorization"] == "Bearer sk-li-123"


def test_many_tools_are_cut_to_top_k_by_sirps_filter(make_router, fake_openai, config_for, script) -> None:
    script.easy()
    cfg = config_for(fake_openai.base_url, policy={"tools": {"enabled": True, "top_k": 1}})
    llm = SemanticRouterLLM(router=make_router(cfg))

    def court_appeal(case: str) -> str:
        """File an appeal in court."""
        return case

    def cell_gene(name: str) -> str:
        """Look up a gene of a cell."""
        return name

    tools = [FunctionTool.from_defaults(fn=f) for f in (court_appeal, magic_function, cell_gene)]
    response = llm.chat_with_tools(tools, user_msg="What is magic_function(3)?", tool_required=True)
    llm.close()
    assert routing_decision(response).trace[-1].rule == "tools.filter"
    assert len(fake_openai.requests_for("small")[-1].body["tools"]) == 1
