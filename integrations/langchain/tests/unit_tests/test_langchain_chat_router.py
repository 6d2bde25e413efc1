"""ChatSemanticRouter without HTTP: which tier answers, what it is sent, and where the decision shows."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.outputs import LLMResult
from langchain_sirp import DECISION_KEY, ChatSemanticRouter, routing_decision
from pydantic import BaseModel

from sirp import ConfigError, InputError
from sirp.providers.reasoning import COT_INSTRUCTION


@pytest.fixture
def tiers(recording, recording_openai) -> dict[str, Any]:
    return {"slm": recording(label="small"), "llm": recording_openai(label="large", extra_body={"top_k": 20})}


@pytest.fixture
def llm(make_router, tiers) -> ChatSemanticRouter:
    return ChatSemanticRouter(models=tiers, router=make_router(), families={"slm": "anthropic", "llm": "qwen3"})


def only_call(model: Any, kind: str = "generate") -> dict[str, Any]:
    calls = [c for c in model.calls if c["kind"] == kind]
    assert len(calls) == 1, model.calls
    return calls[0]


def test_easy_prompt_goes_to_the_small_tier_with_reasoning_off_in_its_family(llm, tiers, script) -> None:
    script.easy()
    msg = llm.invoke("What is the capital of France?")
    assert msg.content == "small says: What is the capital of France?"
    call = only_call(tiers["slm"])
    # anthropic family, not an OpenAI-style client: its field travels as a call keyword argument
    assert call["kwargs"]["thinking"] == {"type": "disabled"}
    assert tiers["llm"].calls == []
    d = routing_decision(msg)
    assert d is not None and (d.tier, d.model, d.category, d.reasoning) == ("slm", "small", "other", False)
    assert msg.response_metadata[DECISION_KEY]["family"] == "anthropic"


def test_hard_prompt_goes_to_the_large_tier_with_reasoning_in_extra_body(llm, tiers, script) -> None:
    script.hard("math")
    msg = llm.invoke([HumanMessage("Prove that there are infinitely many primes.")])
    assert msg.content.startswith("large says:")
    call = only_call(tiers["llm"])
    # qwen3 on an OpenAI-style client: inside extra_body, after the model's own extra_body
    assert call["kwargs"]["extra_body"] == {"top_k": 20, "chat_template_kwargs": {"enable_thinking": True}}
    d = routing_decision(msg)
    assert (d.tier, d.reasoning, d.reasoning_effort) == ("llm", True, "high")
    assert any(step.rule.startswith("tier.") for step in d.trace)


def test_prompt_family_writes_its_instruction_into_the_system_message(make_router, recording, script) -> None:
    script.hard("math")
    small, large = recording(label="s"), recording(label="l")
    llm = ChatSemanticRouter(models={"slm": small, "llm": large}, router=make_router(), families={"llm": "prompt"})
    llm.invoke([SystemMessage("Be brief."), HumanMessage("Prove it.")])
    sent = only_call(large)["messages"]
    assert isinstance(sent[0], SystemMessage) and len(sent) == 2
    assert sent[0].content.startswith(COT_INSTRUCTION) and sent[0].content.endswith("Be brief.")
    llm.invoke("Prove it.")  # no system message: one is added
    assert [type(m) for m in large.calls[-1]["messages"]] == [SystemMessage, HumanMessage]


def test_no_family_sends_nothing_extra(make_router, recording, script) -> None:
    script.hard()
    small, large = recording(label="s"), recording(label="l")
    ChatSemanticRouter(models={"slm": small, "llm": large}, router=make_router()).invoke("x", temperature=0.3)
    assert only_call(large)["kwargs"] == {"temperature": 0.3}


def test_pin_and_forced_reasoning_are_traced(llm, tiers, script) -> None:
    script.hard()
    msg = llm.invoke("Prove it.", model="slm", reasoning=False)
    d = routing_decision(msg)
    assert (d.tier, d.model, d.reasoning) == ("slm", "small", False)
    assert [s.rule for s in d.trace][-2:] == ["pin.model", "reasoning.forced"]
    assert only_call(tiers["slm"])["kwargs"] == {"thinking": {"type": "disabled"}}
    # the model-level default pins every call; a per-call model= overrides it
    pinned = llm.model_copy(update={"model_name": "llm"})
    assert routing_decision(pinned.invoke("hi", model="auto")).tier == "llm"  # script says hard: llm anyway
    script.easy()
    assert routing_decision(pinned.invoke("hi")).tier == "llm"


def test_forced_reasoning_on_uses_the_policy_effort_or_medium(llm, tiers, script) -> None:
    script.easy()
    d = routing_decision(llm.invoke("hi", reasoning=True))
    assert (d.tier, d.reasoning, d.reasoning_effort) == ("slm", True, "medium")
    assert only_call(tiers["slm"])["kwargs"]["thinking"] == {"type": "enabled", "budget_tokens": 8192}


def test_unknown_pin_and_bad_reasoning_are_input_errors(llm) -> None:
    with pytest.raises(InputError, match="neither 'auto', a tier"):
        llm.invoke("hi", model="gpt-nope")
    with pytest.raises(InputError, match="reasoning must be True, False or None"):
        llm.invoke("hi", reasoning="yes")


def test_a_tier_without_a_chat_model_is_a_config_error(make_router, recording) -> None:
    with pytest.raises(ConfigError, match=r"no chat model for tier llm \(large\)"):
        ChatSemanticRouter(models={"slm": recording()}, router=make_router())
    with pytest.raises(ConfigError, match="needs a chat model for each tier"):
        ChatSemanticRouter(router=make_router())


def test_models_may_be_keyed_by_model_name(make_router, recording, script) -> None:
    script.hard()
    small, large = recording(label="s"), recording(label="l")
    llm = ChatSemanticRouter(models={"small": small, "large": large}, router=make_router())
    assert llm.invoke("x").content == "l says: x"
    assert routing_decision(llm.invoke("x", model="slm")).model == "small"


def test_decision_reaches_callbacks_in_on_llm_end(llm, script) -> None:
    script.hard()
    seen: list[LLMResult] = []

    class Handler(BaseCallbackHandler):
        def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
            seen.append(response)

    llm.invoke("Prove it.", config={"callbacks": [Handler()]})
    (result,) = seen
    assert result.llm_output is not None and result.llm_output[DECISION_KEY]["tier"] == "llm"
    assert result.llm_output["own"] == 1  # the tier model's llm_output is kept
    assert result.generations[0][0].message.response_metadata[DECISION_KEY]["category"] == "math"


def test_tier_model_runs_inside_the_router_run(llm, tiers, script) -> None:
    script.easy()
    llm.invoke("hi")
    assert only_call(tiers["slm"])["run_manager"] is not None


def test_stream_carries_the_decision_once(llm, tiers, script) -> None:
    script.hard()
    chunks = list(llm.stream("Prove it."))
    marked = [c for c in chunks if DECISION_KEY in c.response_metadata]
    assert len(marked) == 1 and marked[0] is chunks[0]
    full = chunks[0]
    for c in chunks[1:]:
        full += c
    assert full.content.strip() == "large says: Prove it."
    assert routing_decision(full).tier == "llm"
    assert chunks[-1].chunk_position == "last"
    assert only_call(tiers["llm"], "stream")["kwargs"]["extra_body"]["chat_template_kwargs"] == {
        "enable_thinking": True
    }


def test_tier_model_that_does_not_stream_answers_in_one_chunk(make_router, recording, script) -> None:
    script.easy()
    small = recording(label="s", disable_streaming=True)
    llm = ChatSemanticRouter(models={"slm": small, "llm": recording()}, router=make_router())
    chunks = list(llm.stream("hi"))
    assert chunks[0].content == "s says: hi" and routing_decision(chunks[0]) is not None
    assert [c["kind"] for c in small.calls] == ["generate"]


async def test_async_paths_route_and_delegate(llm, tiers, script) -> None:
    script.hard()
    msg = await llm.ainvoke("Prove it.")
    assert msg.content == "large says: Prove it." and routing_decision(msg).tier == "llm"
    parts = [c async for c in llm.astream("Prove it.")]
    assert "".join(str(c.content) for c in parts).strip() == "large says: Prove it."
    assert sum(DECISION_KEY in c.response_metadata for c in parts) == 1
    outs = await llm.abatch(["a", "b"])
    assert [o.content for o in outs] == ["large says: a", "large says: b"]


def test_batch_routes_each_input(llm, script) -> None:
    script.easy()
    outs = llm.batch(["one", "two", "three"])
    assert [o.content for o in outs] == ["small says: one", "small says: two", "small says: three"]
    assert all(routing_decision(o).tier == "slm" for o in outs)


def test_bind_tools_hands_openai_tools_to_the_chosen_tier(llm, tiers, script) -> None:
    script.hard()

    def magic_function(value: int) -> int:
        """Adds two."""
        return value + 2

    msg = llm.bind_tools([magic_function], tool_choice="any").invoke("What is magic_function(3)?")
    assert isinstance(msg, AIMessage) and msg.tool_calls[0]["name"] == "magic_function"
    bind = next(c for c in tiers["llm"].calls if c["kind"] == "bind_tools")
    assert bind["tool_choice"] == "any" and bind["tools"][0]["function"]["name"] == "magic_function"
    sent = only_call(tiers["llm"])["kwargs"]
    assert sent["tools"][0]["function"]["name"] == "magic_function" and sent["tool_choice"] == "any"
    assert tiers["slm"].calls == []


def test_structured_output_by_tool_calling(llm, tiers, script) -> None:
    script.easy()

    class Person(BaseModel):
        name: str

    structured = llm.with_structured_output(Person, include_raw=True)
    out = structured.invoke("Who?")
    # the recorder's tool call has no arguments: parsing fails, and include_raw says so
    assert out["parsed"] is None and out["parsing_error"] is not None
    assert routing_decision(out["raw"]).tier == "slm"
    bind = next(c for c in tiers["slm"].calls if c["kind"] == "bind_tools")
    assert bind["tool_choice"] == "Person"
    with pytest.raises(InputError, match="unsupported arguments"):
        llm.with_structured_output(Person, bogus=1)
    with pytest.raises(InputError, match="unknown structured output method"):
        llm.with_structured_output(Person, method="xml")  # type: ignore[arg-type]


def test_structured_output_json_methods_bind_response_format(llm) -> None:
    class Joke(BaseModel):
        setup: str

    schema_bound = llm.with_structured_output(Joke, method="json_schema", strict=True).first  # type: ignore[attr-defined]
    fmt = schema_bound.kwargs["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Joke" and fmt["json_schema"]["strict"]
    mode_bound = llm.with_structured_output(None, method="json_mode").first  # type: ignore[attr-defined]
    assert mode_bound.kwargs == {"response_format": {"type": "json_object"}}


def test_category_system_prompt_is_added_and_traced(make_router, recording, script, config_for) -> None:
    script.easy("law")
    cfg = config_for(categories=[{"name": "law", "system_prompt": "You are not a lawyer."}])
    small = recording(label="s")
    llm = ChatSemanticRouter(models={"slm": small, "llm": recording()}, router=make_router(cfg))
    d = routing_decision(llm.invoke("Can I break my lease?"))
    assert d.trace[-1].rule == "category.system_prompt"
    assert only_call(small)["messages"][0].content == "You are not a lawyer."


def test_standard_params_reach_the_tier_model(make_router, recording, script) -> None:
    script.easy()
    small = recording(label="s")
    llm = ChatSemanticRouter(
        models={"slm": small, "llm": recording()}, router=make_router(), temperature=0.1, max_tokens=9, stop=["END"]
    )
    llm.invoke("hi")
    call = only_call(small)
    assert call["kwargs"] == {"temperature": 0.1, "max_tokens": 9} and call["stop"] == ["END"]
    params = llm._get_ls_params(stop=None)
    assert params["ls_provider"] == "sirp" and params["ls_model_name"] == "auto" and params["ls_stop"] == ["END"]


def test_router_and_router_config_together_must_agree(make_router, recording, config_for) -> None:
    router = make_router()
    with pytest.raises(ValueError, match="either router or router_config"):
        ChatSemanticRouter(
            models={"slm": recording(), "llm": recording()},
            router=router,
            router_config=config_for(policy={"gain_threshold": 0.5}),
        )


def test_many_tools_are_cut_to_top_k_by_sirps_filter(make_router, recording, config_for, script) -> None:
    script.easy()
    cfg = config_for(policy={"tools": {"enabled": True, "top_k": 1}})
    small = recording(label="s")
    llm = ChatSemanticRouter(models={"slm": small, "llm": recording()}, router=make_router(cfg))

    def court_appeal(case: str) -> str:
        """File an appeal in court."""
        return case

    def prime_sum(n: int) -> int:
        """Sum the first n primes."""
        return n

    def cell_gene(name: str) -> str:
        """Look up a gene of a cell."""
        return name

    tools = [court_appeal, prime_sum, cell_gene]
    d = routing_decision(llm.bind_tools(tools, tool_choice="any").invoke("What is the sum of primes?"))
    assert d.trace[-1].rule == "tools.filter"
    assert len(only_call(small)["kwargs"]["tools"]) == 1
    named = {"type": "function", "function": {"name": "cell_gene"}}
    llm.bind_tools(tools, tool_choice=named).invoke("What is the sum of primes?")
    sent = small.calls[-1]["kwargs"]["tools"]
    assert [t["function"]["name"] for t in sent] == ["cell_gene"]  # the named tool is always kept
