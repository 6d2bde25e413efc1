"""From what a caller passes (a string or OpenAI-style messages) to the text sirp classifies.

A message list is routed on its last user turn. When that turn alone says little ("and why is
that?"), the router classifies it again together with up to ``window`` earlier user turns and
keeps whichever reading is surer (see :class:`~sirp.config.ConversationConfig`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

from sirp.errors import InputError, PromptTypeError

__all__ = ["Prompt", "RoutingText", "to_routing_text"]

#: A prompt: a string (``bytes`` must be UTF-8) or OpenAI-style chat messages.
Prompt = Union[str, bytes, Sequence[Mapping[str, Any]]]  # noqa: UP007 - a runtime alias, readable on 3.10


@dataclass(frozen=True)
class RoutingText:
    """The last user turn, and the same turn with earlier user turns before it (if any)."""

    text: str
    with_context: str | None = None


def _check_text(text: str, what: str, max_chars: int | None) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(
            f"{what} is not valid Unicode text (it holds an unpaired surrogate at position {err.start}); "
            "decode the bytes you received with errors='replace' or fix the source"
        ) from None
    if not text.strip():
        raise InputError(f"{what} is empty; send the text to route")
    if max_chars is not None and len(text) > max_chars:
        raise InputError(
            f"{what} has {len(text):,} characters, more than the limit of {max_chars:,}; shorten it, "
            "or raise classifier.max_prompt_chars (only the first max_length tokens are classified anyway)"
        )
    return text


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence) and not isinstance(content, (bytes, bytearray)):
        parts = []
        for j, part in enumerate(content):
            if (
                isinstance(part, Mapping)
                and part.get("type") in ("text", "input_text")
                and isinstance(part.get("text"), str)
            ):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
            elif not isinstance(part, Mapping):
                raise PromptTypeError(f"{where}.content[{j}] must be a content part object, got {type(part).__name__}")
        return "\n".join(parts)
    if content is None:
        return ""
    raise PromptTypeError(f"{where}.content must be a string or a list of content parts, got {type(content).__name__}")


def to_routing_text(prompt: Any, *, window: int = 3, max_chars: int | None = None) -> RoutingText:
    """Validate ``prompt`` and return the text(s) to classify.

    Raises:
        PromptTypeError: not a string, UTF-8 bytes or a list of message objects.
        InputError: empty, too long, not valid text, or no user turn.
    """
    if isinstance(prompt, (bytes, bytearray)):
        try:
            prompt = bytes(prompt).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(
                f"prompt bytes are not valid UTF-8 (byte {err.start}: {err.reason}); send text, or decode "
                "it yourself with the right encoding"
            ) from None
    if isinstance(prompt, str):
        return RoutingText(text=_check_text(prompt, "prompt", max_chars))
    if isinstance(prompt, Mapping):
        raise PromptTypeError("a single message was given; wrap it in a list: [{'role': 'user', 'content': ...}]")
    if not isinstance(prompt, Sequence):
        raise PromptTypeError(
            f"prompt must be a string or a list of chat messages ({{'role': ..., 'content': ...}}), "
            f"got {type(prompt).__name__}"
        )
    user_turns: list[str] = []
    for i, msg in enumerate(prompt):
        role = getattr(msg, "role", None) if not isinstance(msg, Mapping) else msg.get("role")
        content = getattr(msg, "content", None) if not isinstance(msg, Mapping) else msg.get("content")
        if role is None:
            raise PromptTypeError(
                f"messages[{i}] must be a message with a 'role' (and 'content'), got {type(msg).__name__}"
            )
        if role == "user":
            user_turns.append(_content_text(content, f"messages[{i}]"))
    if not user_turns:
        raise InputError("the message list has no user turn; sirp routes on the last message with role 'user'")
    last = _check_text(user_turns[-1], "the last user turn", max_chars)
    earlier = [t for t in user_turns[:-1] if t.strip()][-window:] if window > 0 else []
    with_context = None
    if earlier:
        joined = "\n".join([*earlier, last])
        if max_chars is not None:
            joined = joined[-max_chars:]
        with_context = joined
    return RoutingText(text=last, with_context=with_context)
