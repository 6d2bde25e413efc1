"""Prompt normalisation: strings, bytes, message lists, and every kind of bad input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sirp.errors import InputError, PromptTypeError
from sirp.prompts import to_routing_text


def test_string_passes_through() -> None:
    assert to_routing_text("Why is the sky blue?").text == "Why is the sky blue?"


def test_utf8_bytes_are_decoded() -> None:
    assert to_routing_text("Größe?".encode()).text == "Größe?"


def test_invalid_utf8_bytes() -> None:
    with pytest.raises(InputError, match="not valid UTF-8"):
        to_routing_text(b"\xff\xfe broken")


def test_lone_surrogate_is_rejected() -> None:
    with pytest.raises(InputError, match="unpaired surrogate"):
        to_routing_text("bad \udcff text")


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_empty(empty: str) -> None:
    with pytest.raises(InputError, match="empty"):
        to_routing_text(empty)


@pytest.mark.parametrize("bad", [42, 3.5, None, {"a": 1}, object()])
def test_wrong_type(bad: object) -> None:
    with pytest.raises(PromptTypeError):
        to_routing_text(bad)


def test_huge_prompt_is_refused_with_the_limit_named() -> None:
    with pytest.raises(InputError, match=r"100,000 characters.*50,000"):
        to_routing_text("x" * 100_000, max_chars=50_000)


def test_last_user_turn_and_context() -> None:
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "Tell me about black holes."},
        {"role": "assistant", "content": "They are regions of spacetime..."},
        {"role": "user", "content": [{"type": "text", "text": "and why is that?"}]},
    ]
    r = to_routing_text(msgs)
    assert r.text == "and why is that?"
    assert r.with_context == "Tell me about black holes.\nand why is that?"


def test_window_limits_context() -> None:
    msgs = [{"role": "user", "content": f"turn {i}"} for i in range(6)]
    assert to_routing_text(msgs, window=2).with_context == "turn 3\nturn 4\nturn 5"
    assert to_routing_text(msgs, window=0).with_context is None


def test_no_user_turn() -> None:
    with pytest.raises(InputError, match="no user turn"):
        to_routing_text([{"role": "system", "content": "hi"}, {"role": "assistant", "content": "hello"}])


def test_single_message_dict_gets_a_hint() -> None:
    with pytest.raises(PromptTypeError, match="wrap it in a list"):
        to_routing_text({"role": "user", "content": "hi"})


def test_message_without_role() -> None:
    with pytest.raises(PromptTypeError, match=r"messages\[0\]"):
        to_routing_text([{"content": "hi"}])


def test_bad_content_type() -> None:
    with pytest.raises(PromptTypeError, match=r"messages\[0\]\.content"):
        to_routing_text([{"role": "user", "content": 12}])


@given(st.text(min_size=1, max_size=200))
def test_any_text_either_routes_or_fails_cleanly(text: str) -> None:
    try:
        r = to_routing_text(text, max_chars=1000)
    except InputError:
        return
    assert r.text == text
