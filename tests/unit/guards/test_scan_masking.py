"""What the guards read in a request (windows of every message) and how a masked copy is made."""

from __future__ import annotations

import itertools
from typing import Any

from sirp.guards import scan
from sirp.guards.pii import PiiSpan
from sirp.guards.scan import mask_messages, merge_spans, scan_windows


def test_a_string_prompt_is_one_window() -> None:
    (w,) = scan_windows("call me at 555-0100")
    assert (w.text, w.message, w.offset, w.role) == ("call me at 555-0100", None, 0, None)


def test_every_message_with_text_is_read_with_its_role() -> None:
    msgs = [
        {"role": "system", "content": "You are a bank assistant."},
        {"role": "user", "content": [{"type": "text", "text": "my IBAN"}, {"type": "image_url", "image_url": {}}]},
        {"role": "assistant", "content": None},
        {"role": "tool", "content": "result: ok"},
    ]
    got = [(w.message, w.role, w.text) for w in scan_windows(msgs)]
    assert got == [(0, "system", "You are a bank assistant."), (1, "user", "my IBAN"), (3, "tool", "result: ok")]


def test_long_texts_are_read_in_overlapping_windows_that_cover_everything(monkeypatch: Any) -> None:
    monkeypatch.setattr(scan, "WINDOW_CHARS", 50)
    monkeypatch.setattr(scan, "OVERLAP_CHARS", 10)
    text = " ".join(f"word{i:03d}" for i in range(40))  # 319 characters
    ws = scan_windows(text)
    assert len(ws) > 5 and all(len(w.text) <= 50 for w in ws)
    for w in ws:
        assert text[w.offset : w.offset + len(w.text)] == w.text
    # every character is in some window, and consecutive windows overlap
    covered = set()
    for w in ws:
        covered.update(range(w.offset, w.offset + len(w.text)))
    assert covered == set(range(len(text)))
    assert all(b.offset < a.offset + len(a.text) for a, b in itertools.pairwise(ws))


def test_merge_spans_joins_the_same_value_seen_by_two_windows() -> None:
    spans = [PiiSpan("EMAIL", 10, 20, 0.9, 0), PiiSpan("EMAIL", 12, 24, 0.8, 0), PiiSpan("EMAIL", 12, 24, 0.8, 1)]
    assert merge_spans(spans) == [PiiSpan("EMAIL", 10, 24, 0.9, 0), PiiSpan("EMAIL", 12, 24, 0.8, 1)]


def test_merge_spans_keeps_the_surer_of_two_overlapping_types() -> None:
    spans = [PiiSpan("PHONE", 0, 10, 0.6, None), PiiSpan("NATIONAL_ID", 0, 10, 0.9, None)]
    assert merge_spans(spans) == [PiiSpan("NATIONAL_ID", 0, 10, 0.9, None)]


def test_mask_messages_masks_strings_parts_and_leaves_the_callers_list_alone() -> None:
    msgs: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "I am Anna Berg", "name": "u1"},
        {"role": "user", "content": [{"type": "text", "text": "mail a@b.io"}, {"type": "text", "text": "or c@d.io"}]},
    ]
    spans = [PiiSpan("PERSON", 5, 14, 0.9, 1), PiiSpan("EMAIL", 5, 11, 0.9, 2), PiiSpan("EMAIL", 15, 21, 0.9, 2)]
    out = mask_messages(msgs, spans)
    assert out[0] is msgs[0]
    assert out[1] == {"role": "user", "content": "I am <PERSON>", "name": "u1"}
    assert out[2]["content"] == [{"type": "text", "text": "mail <EMAIL>"}, {"type": "text", "text": "or <EMAIL>"}]
    assert msgs[1]["content"] == "I am Anna Berg"  # not changed in place


def test_mask_messages_on_a_string_prompt() -> None:
    assert mask_messages("call 555-0100 now", [PiiSpan("PHONE", 5, 13, 0.9)]) == "call <PHONE> now"
    assert mask_messages("nothing here", []) == "nothing here"
