"""A LlamaIndex RouterQueryEngine whose query engine is picked by sirp's classifier, with no LLM call.

    python examples/llama_index_router.py

needs ``pip install -e "integrations/llama-index[openai]"``. Three small in-memory indexes (maths,
history, everything else) each get a query engine; ``SemanticCategorySelector`` sends each question
to one by its category, and a ``SemanticRouterLLM`` (small or large model, reasoning per category)
writes the answer. With no endpoint in the environment it runs offline against a fake
OpenAI-compatible server (``sirp.testing.fake_openai``) that echoes the prompt it got, so you can
see which notes reached the model. For real models set the same variables as
``examples/langchain_routing.py`` (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``SIRP_SMALL_MODEL``,
``SIRP_LARGE_MODEL``, ...).

Embeddings here are LlamaIndex's deterministic ``MockEmbedding``: each index holds two notes, so
retrieval has nothing to rank. Use a real embedding model (e.g. ``OpenAIEmbedding``) for real data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.query_engine import RouterQueryEngine
from llama_index.core.tools import QueryEngineTool
from llama_index.llms.sirp import SemanticCategorySelector, SemanticRouterLLM

from sirp import RouterConfig

NOTES = {
    "math_notes": [
        "The integral of x squared is x cubed over three, plus a constant.",
        "A quadratic equation ax^2 + bx + c = 0 has roots (-b ± sqrt(b^2 - 4ac)) / 2a.",
    ],
    "history_notes": [
        "The Treaty of Versailles, signed in 1919, ended the First World War.",
        "Augustus became the first Roman emperor in 27 BC.",
    ],
    "general_notes": [
        "Paris is the capital of France.",
        "Mount Everest is 8,849 metres high.",
    ],
}

QUESTIONS = [
    "What is the integral of x squared?",
    "Which treaty ended World War I?",
    "What is the capital of France?",
]

ENDPOINT_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SIRP_SMALL_BASE_URL", "SIRP_LARGE_BASE_URL")


def router_config(fake_base_url: str | None) -> RouterConfig:
    """Two tiers on the fake server, or on the endpoints the environment names; maths reasons, history does not."""
    env = os.environ
    key_env = "OPENAI_API_KEY" if env.get("OPENAI_API_KEY") else None
    default_url = fake_base_url or env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def model(tier: str, name: str, family: str) -> dict[str, Any]:
        prefix = f"SIRP_{'SMALL' if tier == 'slm' else 'LARGE'}_"
        if fake_base_url:
            return {"name": f"{'small' if tier == 'slm' else 'large'}-model", "family": family, "base_url": default_url}
        return {
            "name": env.get(prefix + "MODEL", name),
            "family": env.get(prefix + "FAMILY", "none" if tier == "slm" else "openai"),
            "base_url": env.get(prefix + "BASE_URL", default_url),
        }

    small, large = model("slm", "gpt-4.1-mini", "qwen3"), model("llm", "o4-mini", "openai")
    return RouterConfig.from_dict(
        {
            "tiers": [
                {"name": "slm", "model": small["name"], "reference_model": "Meta-Llama-3_1-8B-Instruct"},
                {"name": "llm", "model": large["name"], "reference_model": "Meta-Llama-3_1-70B-Instruct"},
            ],
            "models": [
                {**small, "tier": "slm", "api_key_env": key_env, "context_length": 32768},
                {**large, "tier": "llm", "api_key_env": key_env, "context_length": 128000},
            ],
            "categories": [
                {"name": "math", "use_reasoning": True, "reasoning_effort": "high"},
                {"name": "history", "use_reasoning": False},
            ],
        }
    )


@contextlib.contextmanager
def endpoints() -> Iterator[Any]:
    """The fake server when no endpoint is configured (``None`` otherwise)."""
    if any(os.environ.get(v) for v in ENDPOINT_VARS):
        yield None
        return
    from sirp.testing.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


def main() -> None:
    with endpoints() as server:
        print("offline: a fake OpenAI-compatible server writes the answers" if server else "using real endpoints")
        llm = SemanticRouterLLM(router_config=router_config(server.base_url if server else None))
        embed = MockEmbedding(embed_dim=16)
        tools = [
            QueryEngineTool.from_defaults(
                VectorStoreIndex.from_documents([Document(text=t) for t in texts], embed_model=embed).as_query_engine(
                    llm=llm, similarity_top_k=2
                ),
                name=name,
                description=f"{name.split('_')[0]} notes",
            )
            for name, texts in NOTES.items()
        ]
        # The selector shares the LLM's router: one classifier in memory, and no LLM call to choose.
        selector = SemanticCategorySelector(
            {"math": "math_notes", "history": "history_notes"}, default="general_notes", router=llm.semantic_router
        )
        engine = RouterQueryEngine(selector=selector, query_engine_tools=tools, llm=llm)
        try:
            for question in QUESTIONS:
                response = engine.query(question)
                print(f"\nQ: {question}")
                print(f"   selected: {response.metadata['selector_result'].reason}")
                if server is not None:
                    body = server.requests[-1].body
                    thinking = body.get("chat_template_kwargs") or body.get("reasoning_effort")
                    print(f"   answered by {body['model']} (reasoning: {thinking})")
                    context = body["messages"][-1]["content"].split("---------------------")[1].strip()
                    print("   notes it was given: " + " | ".join(line for line in context.splitlines() if line))
                else:
                    print(f"   A: {response}")
        finally:
            llm.close()


if __name__ == "__main__":
    main()
