"""LlamaIndex integration of sirp: semantic routing inside LlamaIndex.

- :class:`SemanticRouterLLM`: an LLM that routes every call to the LLM of the chosen tier, with
  reasoning switched in that model family's syntax.
- :class:`SemanticCategorySelector`: a ``RouterQueryEngine`` selector that picks the query engine
  by sirp's category (or tier) decision, with no LLM call.
"""

from llama_index.llms.sirp.base import DECISION_KEY, SemanticRouterLLM, routing_decision
from llama_index.llms.sirp.selectors import SemanticCategorySelector

__all__ = ["DECISION_KEY", "SemanticCategorySelector", "SemanticRouterLLM", "routing_decision"]
