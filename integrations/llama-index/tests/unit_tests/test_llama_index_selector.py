"""SemanticCategorySelector: picks a choice by sirp's decision, with no LLM call."""

from __future__ import annotations

import pytest
from llama_index.core.tools.types import ToolMetadata
from llama_index.llms.sirp import SemanticCategorySelector

from sirp import ConfigError, InputError

CHOICES = [
    ToolMetadata(name="math_notes", description="calculus notes"),
    ToolMetadata(name="history_notes", description="history notes"),
    ToolMetadata(name="general", description="anything else"),
]


def test_selects_by_category_with_a_reason(make_router, script) -> None:
    selector = SemanticCategorySelector({"math": "math_notes", "history": "history_notes"}, router=make_router())
    script.hard("math")
    result = selector.select(CHOICES, "What is the integral of x squared?")
    assert result.ind == 0
    assert result.reason.startswith("sirp: math (1.00), tier llm → math_notes")
    assert selector.last_decision is not None and selector.last_decision.category == "math"
    script.easy("history")
    assert selector.select(CHOICES, "Who won?").ind == 1


def test_default_and_indexes(make_router, script) -> None:
    selector = SemanticCategorySelector({"math": 0}, default="general", router=make_router())
    script.easy("law")
    result = selector.select(CHOICES, "Can I sue?")
    assert result.ind == 2 and result.reason.endswith("(default)")


def test_selects_by_tier(make_router, script) -> None:
    selector = SemanticCategorySelector({"slm": "general", "llm": "math_notes"}, by="tier", router=make_router())
    script.hard("law")
    assert selector.select(CHOICES, "q").ind == 0
    script.easy("law")
    assert selector.select(CHOICES, "q").ind == 2


def test_errors_say_what_to_fix(make_router, script) -> None:
    with pytest.raises(ConfigError, match="never gives; use biology"):
        SemanticCategorySelector({"maths": "math_notes"}, router=make_router()).select(CHOICES, "q")
    script.easy("law")
    with pytest.raises(InputError, match="no query engine for category 'law'"):
        SemanticCategorySelector({"math": "math_notes"}, router=make_router()).select(CHOICES, "q")
    with pytest.raises(InputError, match="no choice has that name"):
        SemanticCategorySelector({"law": "legal"}, router=make_router()).select(CHOICES, "q")
    with pytest.raises(InputError, match="there are 3 choices"):
        SemanticCategorySelector({"law": 7}, router=make_router()).select(CHOICES, "q")
    with pytest.raises(ConfigError, match=r"routes .* or a default"):
        SemanticCategorySelector({})
    with pytest.raises(ConfigError, match="by must be"):
        SemanticCategorySelector({"math": 0}, by="topic")  # type: ignore[arg-type]


async def test_async_select(make_router, script) -> None:
    selector = SemanticCategorySelector({"math": "math_notes"}, default=2, router=make_router())
    script.hard("math")
    result = await selector.aselect(CHOICES, "integral?")
    assert result.ind == 0


def test_has_no_prompts(make_router) -> None:
    assert SemanticCategorySelector({"math": 0}, router=make_router()).get_prompts() == {}
