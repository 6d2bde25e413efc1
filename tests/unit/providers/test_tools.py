"""Tool pre-filtering: similarity ranking, top-k, tool_choice kept, cache, errors — with a fake embedder."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from sirp.config.schema import ToolsConfig
from sirp.errors import ConfigError, InputError
from sirp.providers.tools import ToolFilter, select_tools, tool_name, tool_text

VOCAB = ["weather", "rain", "stock", "price", "email", "send", "calendar", "meeting", "file", "flight"]


def bag(text: str) -> np.ndarray:
    """A bag-of-words 'embedding' over VOCAB: similar texts share words."""
    words = text.lower().replace(":", " ").replace("_", " ").split()
    return np.array([sum(w.startswith(v) for w in words) for v in VOCAB], dtype=np.float32) + 1e-3


class Embedder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: Sequence[str]) -> list[np.ndarray | None]:
        self.calls.append(list(texts))
        return [bag(t) for t in texts]


def tool(name: str, description: str = "") -> dict:
    fn: dict = {"name": name, "parameters": {"type": "object", "properties": {}}}
    if description:
        fn["description"] = description
    return {"type": "function", "function": fn}


TOOLS = [
    tool("get_weather", "Current weather and rain forecast for a city"),
    tool("get_stock_price", "Latest stock price for a ticker"),
    tool("send_email", "Send an email to someone"),
    tool("create_meeting", "Put a meeting in the calendar"),
    tool("read_file", "Read a file from disk"),
    tool("book_flight", "Book a flight"),
]


def test_tool_text_and_name() -> None:
    assert tool_text(TOOLS[0]) == "get_weather: Current weather and rain forecast for a city"
    assert tool_text(tool("ping")) == "ping"
    assert tool_text({"type": "function", "name": "flat", "description": "Responses  style\n tool"}) == (
        "flat: Responses style tool"
    )
    assert tool_name(TOOLS[1]) == "get_stock_price"
    with pytest.raises(InputError, match="each tool must be a mapping"):
        tool_text("get_weather")


def test_select_tools_keeps_the_most_similar_in_original_order() -> None:
    vecs = [bag(tool_text(t)) for t in TOOLS]
    kept, sims = select_tools(TOOLS, bag("will it rain? what is the weather in the calendar"), vecs, 2)
    assert kept == [0, 3]  # weather first, calendar second, in the list's order
    assert len(sims) == len(TOOLS) and sims[0] == max(sims)


def test_select_tools_always_keeps_the_named_tool() -> None:
    vecs = [bag(tool_text(t)) for t in TOOLS]
    kept, _ = select_tools(TOOLS, bag("weather and rain"), vecs, 2, keep=frozenset({"book_flight"}))
    assert kept == [0, 5]


def test_filter_is_off_by_default_and_only_above_top_k() -> None:
    assert not ToolFilter(ToolsConfig(), Embedder()).applies(TOOLS)
    on = ToolFilter(ToolsConfig(enabled=True, top_k=6), Embedder())
    assert not on.applies(TOOLS) and on.applies([*TOOLS, tool("x")]) and not on.applies(None)


def test_filter_traces_and_caches_tool_embeddings() -> None:
    embed = Embedder()
    f = ToolFilter(ToolsConfig(enabled=True, top_k=2), embed)
    kept, step = f.filter("send an email about the stock price", TOOLS)
    assert [tool_name(t) for t in kept] == ["get_stock_price", "send_email"]
    assert step.rule == "tools.filter" and "kept 2 of 6" in step.detail and "send_email" in step.detail
    assert len(embed.calls) == 1 and len(embed.calls[0]) == 7  # one pass: the prompt and every tool
    kept, _ = f.filter("weather?", TOOLS, {"type": "function", "function": {"name": "read_file"}})
    assert [tool_name(t) for t in kept] == ["get_weather", "read_file"]
    assert embed.calls[1] == ["weather?"]  # the tools came from the cache


def test_filter_needs_embeddings() -> None:
    with pytest.raises(ConfigError, match="needs the classifier's embeddings"):
        ToolFilter(ToolsConfig(enabled=True, top_k=1), None).filter("hi", TOOLS)
    with pytest.raises(ConfigError, match="needs a classifier model with an embedding output"):
        ToolFilter(ToolsConfig(enabled=True, top_k=1), lambda texts: [None for _ in texts]).filter("hi", TOOLS)
