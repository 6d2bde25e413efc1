"""PII spans: from the token-classification head's BIO logits to checked character spans, and masking.

The PII head tags every token (``O``, ``B-EMAIL``, ``I-EMAIL``, ...). :func:`decode_spans`
turns one text's tags into character spans with the tokenizer's offsets, widens a span that
stops inside a word to the whole word, and drops the spans that a deterministic check proves
wrong (:func:`valid`): a card number must pass the Luhn check, an IBAN the ISO 13616 mod-97
check, an IP address must parse as IPv4 or IPv6, an e-mail address needs an ``@`` and a dotted
domain. The checks only remove false positives; they never add a span.

:func:`mask_text` replaces spans with typed placeholders (``<EMAIL>``); nothing is kept to
restore them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ENTITIES", "PiiSpan", "decode_spans", "mask_text", "valid"]

#: The entity types of the bundled PII head.
ENTITIES = (
    "PERSON",
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "NATIONAL_ID",
    "IP_ADDRESS",
    "STREET_ADDRESS",
    "DATE_OF_BIRTH",
)

_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{10,30}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")
# Characters a span may run on to when the head stopped inside a "word" (e-mail addresses,
# IBANs and IP addresses are single words to a reader, several tokens to the tokenizer).
_WORD = re.compile(r"\w")
_WORD_OF = {
    "EMAIL": re.compile(r"[\w.@+%-]"),
    "IP_ADDRESS": re.compile(r"[0-9A-Fa-f:.]"),
}
_TRAILING = ".,;:!?)]}'\"-"
_LEADING = "([{'\"-:"


@dataclass(frozen=True)
class PiiSpan:
    """One piece of personal data in a text: its type, where it is, and how sure the head is.

    ``start``/``end`` are character offsets into the text that was scanned (``text[start:end]``
    is the value); for a message list, ``message`` is the index of the message whose text
    content (its text parts joined by newlines) holds it. The value itself is not stored, so a
    span can be logged or returned in a decision without leaking the data.
    """

    entity: str
    start: int
    end: int
    score: float
    message: int | None = None


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iban_ok(value: str) -> bool:
    s = re.sub(r"[\s-]", "", value).upper()
    if not _IBAN.fullmatch(s):
        return False
    moved = s[4:] + s[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1


def _ip_ok(value: str) -> bool:
    v = value.strip("[]")
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        pass
    # "10.0.0.5:8080" / "[2001:db8::1]:443": an address with a port
    host, _, port = v.rpartition(":")
    if port.isdigit() and host:
        try:
            ipaddress.ip_address(host.strip("[]"))
            return True
        except ValueError:
            return False
    return False


def valid(entity: str, value: str) -> bool:
    """Whether ``value`` can be an ``entity`` at all (types without a check are always valid)."""
    if entity == "CREDIT_CARD":
        digits = re.sub(r"\D", "", value)
        return 12 <= len(digits) <= 19 and _luhn(digits)
    if entity == "IBAN":
        return _iban_ok(value)
    if entity == "IP_ADDRESS":
        return _ip_ok(value)
    if entity == "EMAIL":
        return _EMAIL.fullmatch(value) is not None
    return True


def _widen(text: str, start: int, end: int, entity: str) -> tuple[int, int]:
    """Grow a span that starts or ends inside a word to the word's edges; trim edge punctuation."""
    word = _WORD_OF.get(entity, _WORD)
    while start > 0 and word.match(text[start - 1]) and word.match(text[start]):
        start -= 1
    while end < len(text) and word.match(text[end]) and word.match(text[end - 1]):
        end += 1
    while end > start and text[end - 1] in _TRAILING:
        end -= 1
    while start < end and text[start] in _LEADING:
        start += 1
    if entity == "PHONE" and start > 0 and text[start - 1] in "+(":
        start -= 1  # "+44 ..." and "(415) ..." keep their first character
    return start, end


# What may separate two tagged pieces of one value ("536 - 22 - 8421", "Calle Mayor 22, 28013").
_GAP = re.compile(r"[\s./-]{0,2}")
_ADDRESS_GAP = re.compile(r"[\s,./-]{0,3}")


def _join(spans: list[PiiSpan], text: str) -> list[PiiSpan]:
    """Join consecutive pieces of one entity that only punctuation or a space separates."""
    out: list[PiiSpan] = []
    for sp in spans:
        if out and out[-1].entity == sp.entity:
            gap = _ADDRESS_GAP if sp.entity == "STREET_ADDRESS" else _GAP
            if gap.fullmatch(text[out[-1].end : sp.start]):
                prev = out.pop()
                out.append(PiiSpan(sp.entity, prev.start, sp.end, min(prev.score, sp.score)))
                continue
        out.append(sp)
    return out


def decode_spans(
    logits: np.ndarray,
    offsets: Sequence[tuple[int, int]] | np.ndarray,
    labels: Sequence[str],
    text: str,
    *,
    check: bool = True,
) -> list[PiiSpan]:
    """Character spans of one text from its BIO tag logits.

    Args:
        logits: ``(tokens, tags)`` logits of the PII head (padding rows may follow; they are
            read only as far as ``offsets`` goes).
        offsets: ``(start, end)`` character offsets of each token; ``(0, 0)`` for special tokens.
        labels: the tag names in logit order (``"O"``, ``"B-EMAIL"``, ``"I-EMAIL"``, ...).
        text: the text the offsets refer to.
        check: drop spans that fail :func:`valid`.
    """
    n = min(len(offsets), logits.shape[0])
    if n == 0:
        return []
    z = logits[:n].astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=-1, keepdims=True)
    tags = probs.argmax(axis=-1)
    kinds = [lab.split("-", 1) if "-" in lab else ("O", "") for lab in labels]
    spans: list[PiiSpan] = []
    cur: list[object] | None = None  # [entity, start, end, [scores]]

    def close() -> None:
        nonlocal cur
        if cur is not None:
            entity, s, e, scores = cur
            spans.append(PiiSpan(str(entity), int(s), int(e), float(np.mean(scores))))  # type: ignore[call-overload, arg-type]
        cur = None

    for t in range(n):
        s, e = int(offsets[t][0]), int(offsets[t][1])
        if e <= s:  # special token
            close()
            continue
        prefix, entity = kinds[int(tags[t])]
        if prefix == "O":
            close()
            continue
        # probability of the entity, whichever of its B/I tags: a split between B and I is not doubt
        p = float(sum(probs[t, j] for j, (_, ent) in enumerate(kinds) if ent == entity))
        if prefix == "I" and cur is not None and cur[0] == entity:
            cur[2] = e
            cur[3].append(p)  # type: ignore[attr-defined]
            continue
        close()
        cur = [entity, s, e, [p]]
    close()
    out: list[PiiSpan] = []
    for sp in _join(spans, text):
        start, end = _widen(text, sp.start, sp.end, sp.entity)
        if end <= start or (check and not valid(sp.entity, text[start:end])):
            continue
        if out and out[-1].entity == sp.entity and start <= out[-1].end:
            # widening made two pieces of one value touch: one span
            prev = out.pop()
            sp = PiiSpan(sp.entity, prev.start, max(end, prev.end), min(prev.score, sp.score))
            start, end = sp.start, sp.end
        out.append(PiiSpan(sp.entity, start, end, sp.score))
    return out


def mask_text(text: str, spans: Iterable[PiiSpan]) -> str:
    """``text`` with every span replaced by ``<ENTITY>``; overlapping spans are merged first."""
    ordered = sorted(spans, key=lambda s: (s.start, -s.end))
    merged: list[PiiSpan] = []
    for s in ordered:
        if merged and s.start < merged[-1].end:
            last = merged[-1]
            if s.end > last.end:
                merged[-1] = PiiSpan(last.entity, last.start, s.end, last.score)
            continue
        merged.append(s)
    out, pos = [], 0
    for s in merged:
        out.append(text[pos : s.start])
        out.append(f"<{s.entity}>")
        pos = s.end
    out.append(text[pos:])
    return "".join(out)
