"""LangChain integration of sirp: semantic routing inside LangChain chains.

- :class:`SemanticRouterRunnable`: a ``Runnable`` from a prompt to sirp's
  :class:`~sirp.RoutingDecision`, for branching a chain by category or tier.
- :class:`ChatSemanticRouter`: a chat model that routes every call to the chat model of the
  chosen tier, with reasoning switched in that model family's syntax.
"""

from langchain_sirp.chat_models import DECISION_KEY, ChatSemanticRouter, routing_decision
from langchain_sirp.runnables import SemanticRouterRunnable

__all__ = ["DECISION_KEY", "ChatSemanticRouter", "SemanticRouterRunnable", "routing_decision"]
