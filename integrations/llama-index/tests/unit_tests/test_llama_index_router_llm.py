"""SemanticRouterLLM without HTTP: which tier answers, what it is sent, metadata, and where the decision shows."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage, MessageRole
from llama_index.llms.sirp import DECISION_KEY, SemanticRouterLLM, routing_decision

from sirp import ConfigError, InputError
from sirp.providers.reasoning import COT_INSTRUCTION


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage(role=MessageRole.USER, content=text)]


@pytest.fixture
def tiers(recording) -> dict[str, Any]:
    return {"slm": recording(label="small", window=8192), "llm": recording(label="large", window=128000)}


@pytest.fixture
def llm(make_router, tiers) -> SemanticRouterLLM:
    return SemanticRouterLLM(llms=tiers, router=make_router(), families={"slm": "anthropic", "llm": "prompt"})


def test_metadata_holds_for_every_tier(llm, recording, make_router) -> None:
    meta = llm.metadata
    assert meta.context_window == 8192  # the smallest tier's
    assert meta.is_chat_model and meta.num_output == 256
    assert not meta.is_function_calling_model  # the recorders are plain LLMs
    assert SemanticRouterLLM(llms=llm.llms, router=make_router(), context_window=2048).metadata.context_window == 2048
    mixed = {"slm": recording(chat_model=False), "llm": recording()}
    assert not SemanticRouterLLM(llms=mixed, router=make_router()).metadata.is_chat_model


def test_easy_chat_goes_to_the_small_tier_with_reasoning_off(llm, tiers, script) -> None:
    script.easy("history")
    r = llm.chat(user("Who won the war?"))
    assert r.message.content == "small says: Who won the war?" and r.raw == {"by": "small"}
    (call,) = tiers["slm"].calls
    assert call["kwargs"] == {"thinking": {"type": "disabled"}}  # anthropic family, as a keyword argument
    d = routing_decision(r)
    assert (d.tier, d.category, d.reasoning) == ("slm", "history", False)
    assert r.additional_kwargs[DECISION_KEY]["llm"] == "slm"
    assert tiers["llm"].calls == []


def test_hard_chat_gets_the_prompt_family_instruction(llm, tiers, script) -> None:
    script.hard()
    r = llm.chat([ChatMessage(role=MessageRole.SYSTEM, content="Be brief."), *user("Prove it.")])
    (call,) = tiers["llm"].calls
    system = call["messages"][0]
    assert system.role == MessageRole.SYSTEM and system.content.startswith(COT_INSTRUCTION)
    assert system.content.endswith("Be brief.") and len(call["messages"]) == 2
    assert call["kwargs"] == {}
    assert routing_decision(r).reasoning_effort == "high"


def test_complete_puts_the_system_text_before_the_prompt(llm, tiers, script) -> None:
    script.hard()
    r = llm.complete("Prove it.")
    (call,) = tiers["llm"].calls
    assert call["prompt"] == f"{COT_INSTRUCTION}\n\nProve it."
    assert routing_decision(r).tier == "llm"
    script.easy()
    llm.complete("hi", formatted=True)
    assert tiers["slm"].calls[-1]["prompt"] == "hi" and tiers["slm"].calls[-1]["formatted"] is True


def test_streams_carry_the_decision_on_every_delta(llm, script) -> None:
    script.hard()
    deltas = list(llm.stream_chat(user("Prove it.")))
    assert "".join(d.delta or "" for d in deltas).strip() == "large says: Prove it."
    assert all(routing_decision(d).tier == "llm" for d in deltas)
    script.easy()
    parts = list(llm.stream_complete("hi"))
    assert parts[-1].text.strip() == "small says: hi" and routing_decision(parts[-1]).tier == "slm"


async def test_async_forms(llm, script) -> None:
    script.hard()
    r = await llm.achat(user("Prove it."))
    assert r.message.content == "large says: Prove it."
    c = await llm.acomplete("Prove it.")
    assert c.text.startswith("large says:") and routing_decision(c).reasoning
    gen = await llm.astream_chat(user("Prove it."))
    assert [routing_decision(x).tier async for x in gen] == ["llm"] * 4  # one per word
    gen2 = await llm.astream_complete("hi")
    assert "".join([x.delta or "" async for x in gen2]).startswith("large says:")


def test_pin_and_forced_reasoning(llm, tiers, script) -> None:
    script.hard()
    r = llm.chat(user("Prove it."), model="slm", reasoning=True)
    d = routing_decision(r)
    assert (d.tier, d.model, d.reasoning, d.reasoning_effort) == ("slm", "small", True, "high")
    assert [s.rule for s in d.trace][-2:] == ["pin.model", "reasoning.forced"]
    assert tiers["slm"].calls[-1]["kwargs"] == {"thinking": {"type": "enabled", "budget_tokens": 24576}}
    with pytest.raises(InputError, match="neither 'auto', a tier"):
        llm.chat(user("x"), model="nope")


def test_missing_tier_llm_is_a_config_error(make_router, recording) -> None:
    with pytest.raises(ConfigError, match=r"no LLM for tier llm \(large\)"):
        SemanticRouterLLM(llms={"slm": recording()}, router=make_router())
    with pytest.raises(ConfigError, match="needs an LLM for each tier"):
        SemanticRouterLLM(router=make_router())


def test_category_system_prompt(make_router, recording, config_for, script) -> None:
    script.easy("law")
    small = recording(label="s")
    cfg = config_for(categories=[{"name": "law", "system_prompt": "You are not a lawyer."}])
    llm = SemanticRouterLLM(llms={"slm": small, "llm": recording()}, router=make_router(cfg))
    d = routing_decision(llm.chat(user("Can I break my lease?")))
    assert d.trace[-1].rule == "category.system_prompt"
    assert small.calls[-1]["messages"][0].content == "You are not a lawyer."


def test_tools_need_a_function_calling_tier(llm, script) -> None:
    from llama_index.core.tools import FunctionTool

    def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    script.easy()
    with pytest.raises(ConfigError, match="cannot call tools"):
        llm.chat_with_tools([FunctionTool.from_defaults(fn=add)], user_msg="1 + 2?")
