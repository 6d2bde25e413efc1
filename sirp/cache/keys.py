"""Cache keys: the normalised last user turn (compared by meaning) and an exact fingerprint of the rest.

Two requests may share an answer only when everything that shapes the answer apart from the
wording of the last user turn is identical: the caller's model choice (``"auto"`` or a pin),
forced reasoning, the system prompt and every earlier turn, tools, response format and every
sampling parameter. That part is hashed exactly (:func:`fingerprint`); only the last user turn
is compared by embedding similarity.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sirp.errors import InputError, PromptTypeError
from sirp.prompts import to_routing_text

__all__ = [
    "NOT_IN_FINGERPRINT",
    "CacheKey",
    "fingerprint",
    "names",
    "normalise",
    "numbers",
    "polarity",
    "request_key",
    "same_details",
]

#: Request parameters that change how an answer is delivered or how sirp behaves, not what the
#: answer is: a streamed and a plain request for the same question share an answer.
NOT_IN_FINGERPRINT = frozenset(
    {"stream", "stream_options", "timeout", "time_budget_s", "extra_headers", "extra_query", "pii", "cache"}
)

#: Bumped whenever the fingerprint's recipe changes, so that old entries stop matching.
_VERSION = 1


def normalise(text: str) -> str:
    """The text a cache compares: Unicode NFKC, whitespace runs collapsed to one space, ends stripped.

    Case is kept: the encoders sirp uses lower-case their input themselves, and code or names may
    mean something else in another case.
    """
    return " ".join(unicodedata.normalize("NFKC", text).split())


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def numbers(text: str) -> tuple[str, ...]:
    """The numbers written in ``text`` (digits, with inner ``.`` or ``,``), sorted: order may change, values may not."""
    return tuple(sorted(_NUMBER.findall(text)))


#: Words that flip or bound a question's meaning while barely moving its embedding
#: ("Which is true" / "Which is not true", "most" / "least").
_POLARITY = frozenset(
    {
        "not", "no", "never", "none", "nor", "neither", "nothing", "without", "except",
        "true", "false", "correct", "incorrect", "most", "least", "maximum", "minimum",
        "highest", "lowest", "largest", "smallest", "increase", "decrease", "before", "after",
    }
)  # fmt: skip
_CONTRACTION = re.compile(r"(?i)\b(can)not\b|n't\b")
_WORD = re.compile(r"[a-z]+")
# A capitalised word after a lower-case word, comma or colon: a name, not a sentence start.
_NAME = re.compile(r"(?<=[a-z,;:] )([A-Z][a-zA-Z]{2,})\b")


def polarity(text: str) -> tuple[str, ...]:
    """Negations and opposites in ``text`` ("doesn't" counts as "not"), sorted, with repeats."""
    expanded = _CONTRACTION.sub(lambda m: f"{m.group(1) or ''} not", text.lower())
    return tuple(sorted(w for w in _WORD.findall(expanded) if w in _POLARITY))


def names(text: str) -> frozenset[str]:
    """Capitalised words inside sentences (names of people, places, things), lower-cased."""
    return frozenset(m.group(1).lower() for m in _NAME.finditer(text))


def same_details(
    a: str, b: str, *, match_numbers: bool = True, match_negations: bool = True, match_names: bool = True
) -> bool:
    """Whether two texts agree on what embeddings blur: numbers, negations/opposites, names.

    Names are compared loosely so that a lower-cased paraphrase still matches: every name in
    one text must appear as a word in the other, in any case.
    """
    if match_numbers and numbers(a) != numbers(b):
        return False
    if match_negations and polarity(a) != polarity(b):
        return False
    if match_names:
        words_a, words_b = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
        if not (names(a) <= words_b and names(b) <= words_a):
            return False
    return True


def _jsonable(value: Any) -> Any:
    # Tool definitions and messages may be pydantic objects (openai types) rather than dicts.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    if isinstance(value, (set, frozenset)):
        return sorted(str(v) for v in value)
    return repr(value)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)


def fingerprint(context: Sequence[Any], params: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> str:
    """Exact hash of everything but the last user turn's wording.

    Args:
        context: the messages with the last user turn's content replaced by a placeholder (so
            the system prompt, earlier turns and their order all count).
        params: the caller's chat-completions parameters (``model``, ``temperature``, ``tools``, ...).
        ignore: parameter names left out besides :data:`NOT_IN_FINGERPRINT` (e.g. ``user``).
    """
    skip = NOT_IN_FINGERPRINT | set(ignore)
    kept = {k: v for k, v in params.items() if k not in skip}
    # "auto" and an absent model both mean "let sirp route"; a pin is part of the key.
    if kept.get("model") in (None, "", "auto"):
        kept["model"] = "auto"
    blob = _canonical({"v": _VERSION, "context": list(context), "params": kept})
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """What a request is looked up and stored under."""

    text: str
    """the normalised last user turn (compared by embedding similarity)"""
    fingerprint: str
    """exact hash of everything else that shapes the answer"""

    @property
    def id(self) -> str:
        """Identity of an entry: the same text under the same fingerprint replaces the older entry."""
        return hashlib.sha256(f"{self.fingerprint}\n{self.text}".encode()).hexdigest()[:32]


def _role(msg: Any) -> Any:
    return msg.get("role") if isinstance(msg, Mapping) else getattr(msg, "role", None)


def request_key(messages: Any, params: Mapping[str, Any], *, ignore: Iterable[str] = ()) -> CacheKey:
    """The cache key of a request: its messages (a string or chat messages) and its parameters.

    Raises:
        InputError, PromptTypeError: the messages are not a valid prompt (no user turn, wrong type).
    """
    text = normalise(to_routing_text(messages, window=0).text)
    if not text:
        raise InputError("the last user turn is empty; there is nothing to look up")
    if isinstance(messages, (str, bytes, bytearray)):
        context: list[Any] = [{"role": "user", "content": None}]
    else:
        if isinstance(messages, Mapping) or not isinstance(messages, Sequence):
            raise PromptTypeError(
                f"messages must be a string or a list of chat messages, got {type(messages).__name__}"
            )
        context = list(messages)
        last = max(i for i, m in enumerate(context) if _role(m) == "user")
        # Keep the turn's position and any other fields (name, ...); only its wording is compared by meaning.
        turn = context[last]
        fields = dict(turn) if isinstance(turn, Mapping) else _jsonable(turn)
        context[last] = {**(fields if isinstance(fields, dict) else {}), "content": None}
    return CacheKey(text=text, fingerprint=fingerprint(context, params, ignore=ignore))
