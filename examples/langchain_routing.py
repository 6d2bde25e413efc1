"""A LangChain chain that routes each question to a small or a large model, reasoning only where it pays.

    python examples/langchain_routing.py

needs ``pip install -e "integrations/langchain[openai]"``. With no endpoint in the environment it
runs offline: a fake OpenAI-compatible server (``sirp.testing.fake_openai``) plays both models and
echoes the question, and the script shows the reasoning fields each request carried. To use real
models, set (the key is read from the environment, never written down):

    OPENAI_API_KEY       key for both models (optional for local servers)
    OPENAI_BASE_URL      endpoint of both models (default https://api.openai.com/v1 when a key is set)
    SIRP_SMALL_BASE_URL, SIRP_LARGE_BASE_URL   a different endpoint per model (e.g. vLLM for the small one)
    SIRP_SMALL_MODEL, SIRP_LARGE_MODEL         default gpt-4.1-mini and o4-mini
    SIRP_SMALL_FAMILY, SIRP_LARGE_FAMILY       how each is told to reason: none, qwen3, deepseek, openai,
                                               gpt-oss, anthropic, gemini, prompt (default none and openai)

The bundled classifier decides the tier (by the predicted gain of the large model) and the
``categories:`` rules switch reasoning per category: maths and physics reason, history and
everyday questions answer directly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableBranch, RunnablePassthrough
from langchain_sirp import ChatSemanticRouter, SemanticRouterRunnable, routing_decision

from sirp import RouterConfig

QUESTIONS = [
    "What is the integral of x squared?",
    "A ball is dropped from 20 m. How long does it take to hit the ground?",
    "Solve 2x + 3 = 7.",
    "Which treaty ended World War I?",
    "What is the capital of France?",
]

#: Reasoning switched per category (on top of the default complexity rules).
CATEGORIES = [
    {"name": "math", "use_reasoning": True, "reasoning_effort": "high"},
    {"name": "physics", "use_reasoning": True, "reasoning_effort": "medium"},
    {"name": "history", "use_reasoning": False},
    {"name": "other", "use_reasoning": False},
]

ENDPOINT_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SIRP_SMALL_BASE_URL", "SIRP_LARGE_BASE_URL")


def router_config(fake_base_url: str | None) -> RouterConfig:
    """Two tiers on the fake server, or on the endpoints the environment names."""
    env = os.environ
    key_env = "OPENAI_API_KEY" if env.get("OPENAI_API_KEY") else None
    default_url = fake_base_url or env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
    small = {
        "name": "small-model" if fake_base_url else env.get("SIRP_SMALL_MODEL", "gpt-4.1-mini"),
        "family": "qwen3" if fake_base_url else env.get("SIRP_SMALL_FAMILY", "none"),
        "base_url": default_url if fake_base_url else env.get("SIRP_SMALL_BASE_URL", default_url),
    }
    large = {
        "name": "large-model" if fake_base_url else env.get("SIRP_LARGE_MODEL", "o4-mini"),
        "family": "openai" if fake_base_url else env.get("SIRP_LARGE_FAMILY", "openai"),
        "base_url": default_url if fake_base_url else env.get("SIRP_LARGE_BASE_URL", default_url),
    }
    return RouterConfig.from_dict(
        {
            "tiers": [
                {"name": "slm", "model": small["name"], "reference_model": "Meta-Llama-3_1-8B-Instruct"},
                {"name": "llm", "model": large["name"], "reference_model": "Meta-Llama-3_1-70B-Instruct"},
            ],
            "models": [
                {**small, "tier": "slm", "api_key_env": key_env, "timeout_s": 60, "max_retries": 1},
                {**large, "tier": "llm", "api_key_env": key_env, "timeout_s": 120, "max_retries": 1},
            ],
            "categories": CATEGORIES,
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


def reasoning_on_the_wire(body: dict[str, Any]) -> str:
    """The reasoning fields a request carried, in its model family's syntax."""
    fields = {k: body[k] for k in ("chat_template_kwargs", "reasoning_effort", "thinking") if k in body}
    return ", ".join(f"{k}={v}" for k, v in fields.items()) or "none"


def main() -> None:
    with endpoints() as server:
        print("offline: a fake OpenAI-compatible server plays both models" if server else "using real endpoints")
        llm = ChatSemanticRouter(router_config=router_config(server.base_url if server else None))
        prompt = ChatPromptTemplate.from_messages(
            [("system", "Answer in one or two sentences."), ("human", "{question}")]
        )
        chain = prompt | llm
        for question in QUESTIONS:
            message = chain.invoke({"question": question})
            d = routing_decision(message)
            assert d is not None
            reasoning = f"on ({d.reasoning_effort})" if d.reasoning else "off"
            print(f"\nQ: {question}")
            print(f"   {d.category} {d.confidence:.2f} → tier {d.tier}, {d.model}, reasoning {reasoning}")
            if server is not None:
                print(f"   sent: {reasoning_on_the_wire(server.requests[-1].body)}")
            print(f"   A: {message.content}")

        # The decision can also steer the chain itself: maths questions get a worked-solution prompt.
        route = SemanticRouterRunnable(router=llm.semantic_router)
        worked = ChatPromptTemplate.from_messages([("system", "Show each step."), ("human", "{question}")])
        branching = RunnablePassthrough.assign(decision=(lambda x: x["question"]) | route) | RunnableBranch(
            (lambda x: x["decision"].category == "math", worked | llm | StrOutputParser()),
            prompt | llm | StrOutputParser(),
        )
        question = QUESTIONS[0]
        print(f"\nbranching on the category: {question!r} → {branching.invoke({'question': question})}")
        if server is not None:
            print(f"   system prompt sent: {server.requests[-1].body['messages'][0]['content']!r}")


if __name__ == "__main__":
    main()
