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
_TRAILING = ".,;:!?)]}'\"-·|"
_APOSTROPHE_NAME = re.compile(r"['’][A-Z][a-z]+")
_LEADING = "([{'\"-:·|"


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


def _digits(value: str) -> int:
    return sum(c.isdigit() for c in value)


def valid(entity: str, value: str) -> bool:
    """Whether ``value`` can be an ``entity`` at all.

    Besides the checksums, plain shape rules: a phone number has 7–15 digits before any
    extension, a national id at least 5 digits, a street address and a birth date at least one
    (a house number, a postcode, a year), a person's name letters and no digit.
    """
    if entity == "PHONE":
        main = re.split(r"(?i)\s*(?:x|ext\.?)\s*\d+$", value)[0]
        return 7 <= _digits(main) <= 15 and re.fullmatch(r"[+(]?[\d\s().\-/]+", main) is not None
    if entity == "NATIONAL_ID":
        return _digits(value) >= 5
    if entity in ("STREET_ADDRESS", "DATE_OF_BIRTH"):
        return _digits(value) >= 1
    if entity == "PERSON":
        return _digits(value) == 0 and any(c.isalpha() for c in value)
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
    if entity == "PERSON":
        # O'Connor, D'Angelo: the tokenizer splits at the apostrophe, the name does not end there
        m = _APOSTROPHE_NAME.match(text, end)
        if m is not None and text[end - 1 : end].isupper():
            end = m.end()
    while end > start and (text[end - 1] in _TRAILING or text[end - 1].isspace()):
        end -= 1
    while start < end and (text[start] in _LEADING or text[start].isspace()):
        start += 1
    if entity == "PHONE" and start > 0 and text[start - 1] in "+(":
        start -= 1  # "+44 ..." and "(415) ..." keep their first character
    return start, end


#: Least mean probability for a second-choice type to be considered when the first fails its check.
_MIN_CANDIDATE = 0.15

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


def _repair(text: str, start: int, end: int, entity: str) -> tuple[int, int]:
    """The longest run of whole words inside a span that passes the check ((0, 0) if none).

    The head sometimes runs a tag over a neighbouring word ("cc anna@x.org"); dropping up to
    three words at the edges recovers the value.
    """
    words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    best: tuple[int, int] = (0, 0)
    for drop in range(1, min(3, len(words) - 1) + 1):
        for left in range(drop + 1):
            right = len(words) - (drop - left)
            s0, e0 = _widen(text, words[left][0], words[right - 1][1], entity)
            if e0 > s0 and valid(entity, text[s0:e0]):
                return s0, e0
    return best


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
    names = sorted({ent for _, ent in kinds if ent})
    # Each token's probability of each entity, whichever of its B/I tags: a span's type is the
    # entity with the most mass over its tokens, so "06 12 34" is not cut in three by a tag that
    # wavers between PHONE and NATIONAL_ID on one digit group.
    mass = np.zeros((n, len(names)))
    for j, (_, ent) in enumerate(kinds):
        if ent:
            mass[:, names.index(ent)] += probs[:, j]
    inside = np.array([kinds[int(t)][0] != "O" for t in tags])
    bounds = [(int(offsets[t][0]), int(offsets[t][1])) for t in range(n)]
    real = [e > s for s, e in bounds]
    # a lone "-", "/" or "." tagged O between two tagged tokens belongs to the value around it
    for t in range(1, n - 1):
        s, e = bounds[t]
        if not inside[t] and real[t] and inside[t - 1] and inside[t + 1] and text[s:e] in ("-", "/", "."):
            inside[t] = True
    runs: list[list[int]] = []
    for t in range(n):
        if not (real[t] and inside[t]):
            continue
        prefix, ent = kinds[int(tags[t])]
        last = runs[-1][-1] if runs else -2
        new_entity = prefix == "B" and kinds[int(tags[last])][1] != ent if last == t - 1 else False
        if last == t - 1 and not new_entity:
            runs[-1].append(t)
        else:
            runs.append([t])
    spans: list[PiiSpan] = []
    for run in runs:
        start, end = bounds[run[0]][0], bounds[run[-1]][1]
        # the surest type whose shape fits (a 16-digit Luhn-valid number the head half-calls a
        # phone number is a card); the checks only choose among the head's own candidates
        order = np.argsort(-mass[run].sum(axis=0))
        k = int(order[0])
        if check:
            for cand in order:
                c = int(cand)
                if mass[run, c].mean() < _MIN_CANDIDATE:
                    break
                c0, c1 = _widen(text, start, end, names[c])
                if valid(names[c], text[c0:c1]):
                    k = c
                    break
        spans.append(PiiSpan(names[k], start, end, float(mass[run, k].mean())))
    out: list[PiiSpan] = []
    for sp in _join(spans, text):
        start, end = _widen(text, sp.start, sp.end, sp.entity)
        if end > start and check and not valid(sp.entity, text[start:end]):
            start, end = _repair(text, start, end, sp.entity)
        if end <= start:
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
