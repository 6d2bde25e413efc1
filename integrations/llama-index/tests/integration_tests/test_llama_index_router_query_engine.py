"""A real RouterQueryEngine over two in-memory indexes: the bundled classifier selects, the fake server answers.

Embeddings are LlamaIndex's deterministic MockEmbedding; synthesis is SemanticRouterLLM over the
fake OpenAI-compatible server, whose echo of the prompt shows which index's text reached it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.tools import QueryEngineTool
from llama_index.llms.sirp import SemanticCategorySelector, SemanticRouterLLM, routing_decision

from sirp import SemanticRouter
from sirp.testing.fake_openai import FakeOpenAI

MATH_NOTE = "The integral of x squared is x cubed over three, plus a constant."
HISTORY_NOTE = "The Treaty of Versailles, signed in 1919, ended the First World War."


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FakeOpenAI, SemanticRouter]]:
    """The fake endpoints and one real router over them, for the module (loading the classifier takes a second)."""
    with FakeOpenAI() as server:
        config = {
            "tiers": [
                {"name": "slm", "model": "small", "reference_model": "Meta-Llama-3_1-8B-Instruct"},
                {"name": "llm", "model": "large", "reference_model": "Meta-Llama-3_1-70B-Instruct"},
            ],
            "models": [
                {"name": "small", "tier": "slm", "base_url": server.base_url, "family": "qwen3"},
                {"name": "large", "tier": "llm", "base_url": server.base_url, "family": "openai"},
            ],
        }
        with SemanticRouter(config) as router:
            yield server, router


@pytest.fixture
def synthesis_llm(served: tuple[FakeOpenAI, SemanticRouter]) -> Iterator[SemanticRouterLLM]:
    """Synthesis routes too, to the fake endpoints."""
    served[0].reset()
    llm = SemanticRouterLLM(router=served[1])
    yield llm
    llm.close()


@pytest.fixture
def engine(served: tuple[FakeOpenAI, SemanticRouter], synthesis_llm: SemanticRouterLLM) -> RouterQueryEngine:
    router, llm = served[1], synthesis_llm
    embed = MockEmbedding(embed_dim=8)
    tools = []
    for name, note in (("math_notes", MATH_NOTE), ("history_notes", HISTORY_NOTE)):
        index = VectorStoreIndex.from_documents([Document(text=note)], embed_model=embed)
        tools.append(
            QueryEngineTool.from_defaults(
                index.as_query_engine(llm=llm), name=name, description=f"{name.split('_')[0]} notes"
            )
        )
    selector = SemanticCategorySelector({"math": "math_notes", "history": "history_notes"}, router=router)
    return RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=llm)


def test_the_query_engine_of_the_category_answers(engine, served) -> None:
    server = served[0]
    math = engine.query("What is the integral of x squared?")
    assert math.metadata["selector_result"].ind == 0
    assert math.metadata["selector_result"].reason.startswith("sirp: math")
    assert MATH_NOTE in str(math) and HISTORY_NOTE not in str(math)
    history = engine.query("Which treaty ended World War I?")
    assert history.metadata["selector_result"].ind == 1
    assert HISTORY_NOTE in str(history) and MATH_NOTE not in str(history)
    # selection made no LLM call: the only requests are the two syntheses
    assert len([r for r in server.requests if r.path.endswith("/chat/completions")]) == 2


async def test_async_query(engine, synthesis_llm) -> None:
    try:
        response = await engine.aquery("Which treaty ended World War I?")
        assert response.metadata["selector_result"].ind == 1 and HISTORY_NOTE in str(response)
    finally:
        await synthesis_llm.aclose()  # its async connections belong to this test's event loop


def test_synthesis_response_carries_the_routing_decision(engine, synthesis_llm) -> None:
    response = engine.query("What is the integral of x squared?")
    (node,) = response.source_nodes
    assert node.node.get_content() == MATH_NOTE
    decision = routing_decision(synthesis_llm.complete("What is the integral of x squared?"))
    assert decision is not None and decision.category == "math"
