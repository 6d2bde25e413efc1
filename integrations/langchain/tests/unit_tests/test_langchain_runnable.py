"""SemanticRouterRunnable: inputs LangChain passes around, batch in one pass, async, config, and branching."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableBranch, RunnableLambda, RunnablePassthrough
from langchain_sirp import SemanticRouterRunnable

from sirp import InputError, PromptTypeError, RoutingDecision


@pytest.fixture
def route(make_router) -> SemanticRouterRunnable:
    return SemanticRouterRunnable(router=make_router())


def test_string_messages_and_prompt_values_route(route, script) -> None:
    script.hard("physics")
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{q}")])
    inputs: list[Any] = [
        "Why is the sky blue?",
        [HumanMessage("Why is the sky blue?")],
        [("system", "x"), ("human", "Why?")],
        [{"role": "user", "content": "Why?"}],
        prompt.invoke({"q": "Why is the sky blue?"}),
    ]
    for value in inputs:
        d = route.invoke(value)
        assert isinstance(d, RoutingDecision) and (d.category, d.tier) == ("physics", "llm")


def test_real_classifier_routes_by_meaning(bundled_router) -> None:
    route = SemanticRouterRunnable(router=bundled_router)
    math, history = route.batch(["What is the integral of x squared?", "Which treaty ended World War I?"])
    assert (math.category, history.category) == ("math", "history")


def test_batch_is_one_classifier_pass(route) -> None:
    backend = route.semantic_router.backend
    before = backend.calls
    out = route.batch(["a", "b", "c", "d"])
    assert len(out) == 4 and backend.calls - before == 1


def test_batch_with_return_exceptions_keeps_good_inputs(route) -> None:
    out = route.batch(["fine", "   ", [SystemMessage("no user turn")], 42], return_exceptions=True)
    assert isinstance(out[0], RoutingDecision)
    assert isinstance(out[1], InputError) and "empty" in str(out[1])
    assert isinstance(out[2], InputError) and "no user turn" in str(out[2])
    assert isinstance(out[3], PromptTypeError)
    with pytest.raises(InputError):
        route.batch(["fine", "   "])


async def test_async_invoke_and_batch(route, script) -> None:
    script.easy("history")
    d = await route.ainvoke("Who won?")
    assert (d.category, d.tier, d.reasoning) == ("history", "slm", False)
    ds = await route.abatch(["a", "b"])
    assert [x.category for x in ds] == ["history", "history"]


def test_with_config_names_the_run_and_callbacks_see_the_decision(route, script) -> None:
    script.hard()
    seen: list[tuple[str, Any]] = []

    class Handler(BaseCallbackHandler):
        def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
            seen.append(("start", kwargs.get("name")))

        def on_chain_end(self, outputs: Any, **kwargs: Any) -> None:
            seen.append(("end", outputs))

    named = route.with_config(run_name="sirp-route", callbacks=[Handler()])
    d = named.invoke("Prove it.")
    assert seen[0] == ("start", "sirp-route")
    assert seen[-1] == ("end", d) and d.tier == "llm"


def test_pii_flag_reaches_the_policy(make_router, config_for, script) -> None:
    script.hard()
    cfg = config_for(
        "http://127.0.0.1:9/v1",
        policy={"privacy": {"pii_action": "local_only"}},
    )
    cfg["models"][0]["local"] = True
    d = SemanticRouterRunnable(router=make_router(cfg), pii=True).invoke("My card is 4111 1111 1111 1111")
    assert d.local_only and d.tier == "slm"


def test_branching_a_chain_by_category_and_tier(route, script) -> None:
    answer = {
        "math": RunnableLambda(lambda x: AIMessage(f"math tutor: {x['question']}")),
        "large": RunnableLambda(lambda x: AIMessage(f"large model: {x['question']}")),
        "small": RunnableLambda(lambda x: AIMessage(f"small model: {x['question']}")),
    }
    chain = RunnablePassthrough.assign(decision=(lambda x: x["question"]) | route) | RunnableBranch(
        (lambda x: x["decision"].category == "math", answer["math"]),
        (lambda x: x["decision"].tier == "llm", answer["large"]),
        answer["small"],
    )
    script.hard("math")
    assert chain.invoke({"question": "q"}).content == "math tutor: q"
    script.hard("law")
    assert chain.invoke({"question": "q"}).content == "large model: q"
    script.easy("law")
    assert chain.invoke({"question": "q"}).content == "small model: q"


def test_output_type_is_the_decision(route) -> None:
    assert route.OutputType is RoutingDecision
    assert route.get_output_jsonschema()["title"] == "RoutingDecision"


def test_router_is_made_from_the_config_on_first_use(monkeypatch, config_for) -> None:
    made: list[Any] = []

    class FakeRouter:
        def __init__(self, config: Any) -> None:
            made.append(config)

    monkeypatch.setattr("sirp.lazy.SemanticRouter", FakeRouter)  # LazyRouter lives in sirp
    route = SemanticRouterRunnable(router_config=config_for(policy={"gain_threshold": 0.5}))
    assert made == []
    assert isinstance(route.semantic_router, FakeRouter)
    assert route.semantic_router is route.semantic_router and len(made) == 1
    assert made[0].policy.gain_threshold == 0.5
