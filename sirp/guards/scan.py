"""What the guards read in a request, and how a masked copy of it is made.

Everything a request sends to a model can carry personal data, so the PII head reads the text
of every message (system, user, assistant and tool turns; text content parts joined by
newlines), not only the last user turn that routing classifies. A text longer than
``WINDOW_CHARS`` is read in overlapping windows so that nothing past the classifier's
``max_length`` goes unread. The jailbreak score of a request is the highest over the texts a
user or a tool wrote (user and tool messages): an injection hides in a pasted document or a
tool result as often as in the question itself, while system prompts are the deployer's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sirp.guards.pii import PiiSpan, mask_text

__all__ = ["OVERLAP_CHARS", "WINDOW_CHARS", "ScanWindow", "mask_messages", "merge_spans", "scan_windows"]

#: Longest text read in one piece: about 300–450 tokens of ordinary text, under the 512 of the
#: bundled model (digit-heavy text tokenises denser; a window cut at max_length is flagged).
WINDOW_CHARS = 1200
#: Overlap of consecutive windows, so that a value on a window edge is whole in one of them.
OVERLAP_CHARS = 200

#: Roles whose text counts for the jailbreak score.
ATTACK_ROLES = frozenset({"user", "tool", "function", None})


@dataclass(frozen=True)
class ScanWindow:
    """One piece of a request the guards read."""

    text: str
    message: int | None
    """index of the message it comes from; None for a plain string prompt"""
    offset: int
    """where the window starts in that message's text"""
    role: str | None
    """the message's role (None for a plain string prompt)"""


def _role_content(msg: Any) -> tuple[Any, Any]:
    if isinstance(msg, Mapping):
        return msg.get("role"), msg.get("content")
    return getattr(msg, "role", None), getattr(msg, "content", None)


def _parts(content: Any) -> list[str] | None:
    """The text parts of a content list (None when ``content`` is not a list of parts)."""
    if isinstance(content, str) or not isinstance(content, Sequence) or isinstance(content, (bytes, bytearray)):
        return None
    out = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif (
            isinstance(part, Mapping)
            and part.get("type") in ("text", "input_text")
            and isinstance(part.get("text"), str)
        ):
            out.append(part["text"])
    return out


def content_text(content: Any) -> str:
    """A message content's text, as the guards read it (text parts joined by newlines)."""
    if isinstance(content, str):
        return content
    parts = _parts(content)
    return "\n".join(parts) if parts is not None else ""


def _windows(text: str) -> list[tuple[int, str]]:
    if len(text) <= WINDOW_CHARS:
        return [(0, text)]
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + WINDOW_CHARS)
        if end < len(text):
            # cut at whitespace in the window's last fifth, so that a word is not split
            cut = text.rfind(" ", start + WINDOW_CHARS * 4 // 5, end)
            end = cut if cut > start else end
        out.append((start, text[start:end]))
        if end >= len(text):
            break
        start = max(end - OVERLAP_CHARS, start + 1)
    return out


def scan_windows(prompt: Any) -> list[ScanWindow]:
    """The windows of every text in ``prompt`` (a string, UTF-8 bytes or a message list).

    The prompt has been validated by routing already; content that is not text is skipped.
    """
    if isinstance(prompt, (bytes, bytearray)):
        prompt = bytes(prompt).decode("utf-8", errors="replace")
    if isinstance(prompt, str):
        return [ScanWindow(t, None, o, None) for o, t in _windows(prompt) if t.strip()]
    out: list[ScanWindow] = []
    for i, msg in enumerate(prompt):
        role, content = _role_content(msg)
        text = content_text(content)
        out.extend(ScanWindow(t, i, o, role) for o, t in _windows(text) if t.strip())
    return out


def merge_spans(spans: Sequence[PiiSpan]) -> list[PiiSpan]:
    """One span per value: overlapping spans of one message (from overlapping windows) become one.

    Of two overlapping spans of different types the surer one stays.
    """
    ordered = sorted(spans, key=lambda s: (-1 if s.message is None else s.message, s.start, -s.end))
    out: list[PiiSpan] = []
    for s in ordered:
        if out and out[-1].message == s.message and s.start < out[-1].end:
            last = out[-1]
            if last.entity == s.entity:
                out[-1] = PiiSpan(last.entity, last.start, max(last.end, s.end), max(last.score, s.score), last.message)
            elif s.score > last.score:
                out[-1] = s
            continue
        out.append(s)
    return out


def _mask_content(content: Any, spans: Sequence[PiiSpan]) -> Any:
    if isinstance(content, str):
        return mask_text(content, spans)
    parts = _parts(content)
    if parts is None:
        return content
    # Each text part covers a range of the joined text; mask each part with the spans over it.
    new, pos = [], 0
    for part in content:
        is_text = isinstance(part, str) or (
            isinstance(part, Mapping)
            and part.get("type") in ("text", "input_text")
            and isinstance(part.get("text"), str)
        )
        if not is_text:
            new.append(part)
            continue
        text = part if isinstance(part, str) else part["text"]
        local = [
            PiiSpan(s.entity, max(s.start, pos) - pos, min(s.end, pos + len(text)) - pos, s.score)
            for s in spans
            if s.start < pos + len(text) and s.end > pos
        ]
        masked = mask_text(text, local) if local else text
        new.append(masked if isinstance(part, str) else {**part, "text": masked})
        pos += len(text) + 1  # the newline that joins parts
    return new


def mask_messages(prompt: Any, spans: Sequence[PiiSpan]) -> Any:
    """A copy of ``prompt`` with every span replaced by its ``<ENTITY>`` placeholder.

    The caller's objects are not changed: a message that holds a span is copied (a mapping with
    its other keys, a pydantic message with ``model_copy``, anything else as ``{"role",
    "content"}``); the others are passed on as they are.
    """
    if not spans:
        return prompt
    if isinstance(prompt, (bytes, bytearray)):
        prompt = bytes(prompt).decode("utf-8", errors="replace")
    if isinstance(prompt, str):
        return mask_text(prompt, [s for s in spans if s.message is None])
    by_message: dict[int, list[PiiSpan]] = {}
    for s in spans:
        if s.message is not None:
            by_message.setdefault(s.message, []).append(s)
    out = []
    for i, msg in enumerate(prompt):
        if i not in by_message:
            out.append(msg)
            continue
        role, content = _role_content(msg)
        masked = _mask_content(content, by_message[i])
        if isinstance(msg, Mapping):
            out.append({**msg, "content": masked})
        elif hasattr(msg, "model_copy"):  # a pydantic message object: keep its other fields
            out.append(msg.model_copy(update={"content": masked}))
        else:
            out.append({"role": role, "content": masked})
    return out
