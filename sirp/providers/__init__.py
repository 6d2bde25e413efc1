"""Calling the chosen model: reasoning syntax per family, retries, fallbacks, usage and cost.

Nothing here imports ``openai`` at import time; the ``sirp[client]`` extra provides it, and it
loads on the first call.
"""

from sirp.providers.client import AsyncRoutedStream, Dispatcher, RoutedStream
from sirp.providers.reasoning import FAMILIES, apply_reasoning, asks_for_reasoning
from sirp.providers.result import Attempt, RoutedCompletion
from sirp.providers.usage import Usage

__all__ = [
    "FAMILIES",
    "AsyncRoutedStream",
    "Attempt",
    "Dispatcher",
    "RoutedCompletion",
    "RoutedStream",
    "Usage",
    "apply_reasoning",
    "asks_for_reasoning",
]
