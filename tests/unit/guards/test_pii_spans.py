"""PII spans from BIO logits: decoding, word widening, deterministic checks, masking."""

from __future__ import annotations

import numpy as np
import pytest

from sirp.guards.pii import PiiSpan, decode_spans, mask_text, valid

LABELS = ["O", "B-EMAIL", "I-EMAIL", "B-PERSON", "I-PERSON", "B-CREDIT_CARD", "I-CREDIT_CARD"]


def logits_for(tags: list[str]) -> np.ndarray:
    """Logits that make ``tags`` the argmax, one row per token."""
    z = np.zeros((len(tags), len(LABELS)), np.float32)
    for i, t in enumerate(tags):
        z[i, LABELS.index(t)] = 6.0
    return z


def tokens(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Offsets of ``pieces`` found left to right in ``text``, between [CLS] and [SEP] (0, 0)."""
    out, pos = [(0, 0)], 0
    for p in pieces:
        s = text.index(p, pos)
        out.append((s, s + len(p)))
        pos = s + len(p)
    return [*out, (0, 0)]


def test_bio_tags_become_character_spans() -> None:
    text = "Hi Anna Berg, mail anna@x.org"
    offs = tokens(text, ["Hi", "Anna", "Berg", ",", "mail", "anna", "@", "x", ".", "org"])
    tags = ["O", "O", "B-PERSON", "I-PERSON", "O", "O", "B-EMAIL", "I-EMAIL", "I-EMAIL", "I-EMAIL", "I-EMAIL", "O"]
    spans = decode_spans(logits_for(tags), offs, LABELS, text)
    assert [(s.entity, text[s.start : s.end]) for s in spans] == [("PERSON", "Anna Berg"), ("EMAIL", "anna@x.org")]
    assert all(0.9 < s.score <= 1.0 for s in spans)


def test_an_i_tag_without_a_b_starts_a_span_and_a_new_b_splits_two() -> None:
    text = "Anna Berg and Bob Lee"
    offs = tokens(text, ["Anna", "Berg", "and", "Bob", "Lee"])
    tags = ["O", "I-PERSON", "I-PERSON", "O", "B-PERSON", "I-PERSON", "O"]
    spans = decode_spans(logits_for(tags), offs, LABELS, text)
    assert [text[s.start : s.end] for s in spans] == ["Anna Berg", "Bob Lee"]


def test_pieces_of_one_value_split_by_punctuation_are_joined() -> None:
    text = "card 4111-1111-1111-1111 ok"
    offs = tokens(text, ["card", "4111", "-", "1111", "-", "1111", "-", "1111", "ok"])
    b, i = "B-CREDIT_CARD", "I-CREDIT_CARD"
    # the head left the dashes out and restarted with B after each: still one card number
    tags = ["O", "O", b, "O", b, "O", b, "O", i, "O", "O"]
    (span,) = decode_spans(logits_for(tags), offs, LABELS, text)
    assert text[span.start : span.end] == "4111-1111-1111-1111"


def test_a_span_that_stops_inside_a_word_is_widened_to_the_word() -> None:
    text = "write to jo.doe@mail.com now"
    # the head tagged only "doe@mail": the e-mail address is still one value
    offs = tokens(text, ["write", "to", "jo", ".", "doe", "@", "mail", ".", "com", "now"])
    tags = ["O", "O", "O", "O", "O", "B-EMAIL", "I-EMAIL", "I-EMAIL", "O", "O", "O", "O"]
    (span,) = decode_spans(logits_for(tags), offs, LABELS, text)
    assert text[span.start : span.end] == "jo.doe@mail.com"


def test_trailing_punctuation_is_not_part_of_a_person() -> None:
    text = "Thanks, Grace."
    offs = tokens(text, ["Thanks", ",", "Grace", "."])
    tags = ["O", "O", "O", "B-PERSON", "I-PERSON", "O"]
    (span,) = decode_spans(logits_for(tags), offs, LABELS, text)
    assert text[span.start : span.end] == "Grace"


def test_checks_drop_a_card_number_that_fails_luhn_but_keep_a_valid_one() -> None:
    text = "cards 4111 1111 1111 1112 and 4111 1111 1111 1111"
    offs = tokens(text, ["cards", "4111", "1111", "1111", "1112", "and", "4111", "1111", "1111", "1111"])
    card = ["B-CREDIT_CARD", "I-CREDIT_CARD", "I-CREDIT_CARD", "I-CREDIT_CARD"]
    tags = ["O", "O", *card, "O", *card, "O"]
    spans = decode_spans(logits_for(tags), offs, LABELS, text)
    assert [text[s.start : s.end] for s in spans] == ["4111 1111 1111 1111"]
    assert len(decode_spans(logits_for(tags), offs, LABELS, text, check=False)) == 2


@pytest.mark.parametrize(
    ("entity", "value", "ok"),
    [
        ("CREDIT_CARD", "3782 822463 10005", True),
        ("CREDIT_CARD", "1234 5678 9012 3456", False),
        ("CREDIT_CARD", "42", False),
        ("IBAN", "DE89 3704 0044 0532 0130 00", True),
        ("IBAN", "DE89 3704 0044 0532 0130 01", False),
        ("IBAN", "GB82WEST12345698765432", True),
        ("IP_ADDRESS", "203.0.113.42", True),
        ("IP_ADDRESS", "2001:db8::8a2e:370:7334", True),
        ("IP_ADDRESS", "10.0.0.5:8080", True),
        ("IP_ADDRESS", "3.14.2", False),
        ("IP_ADDRESS", "300.1.2.3", False),
        ("EMAIL", "a.b@example.co.uk", True),
        ("EMAIL", "a.b@localhost", False),
        ("PERSON", "anything", True),
        ("PERSON", "R2D2", False),
        ("PHONE", "+44 7700 900123", True),
        ("PHONE", "(415) 555-0198", True),
        ("PHONE", "217-977-6317x066", True),
        ("PHONE", "947", False),
        ("PHONE", "0x80070005", False),
        ("NATIONAL_ID", "536-22-8421", True),
        ("NATIONAL_ID", "56", False),
        ("STREET_ADDRESS", "barked", False),
        ("STREET_ADDRESS", "Calle Mayor 22, 28013 Madrid", True),
        ("DATE_OF_BIRTH", "yesterday", False),
    ],
)
def test_deterministic_checks(entity: str, value: str, ok: bool) -> None:
    assert valid(entity, value) is ok


def test_mask_text_replaces_spans_with_typed_placeholders() -> None:
    text = "Mail anna@x.org or call +44 7700 900123."
    spans = [PiiSpan("EMAIL", 5, 15, 0.9), PiiSpan("PHONE", 24, 39, 0.8)]
    assert mask_text(text, spans) == "Mail <EMAIL> or call <PHONE>."


def test_mask_text_merges_overlapping_spans() -> None:
    text = "abcdefghij"
    masked = mask_text(text, [PiiSpan("PERSON", 2, 6, 0.9), PiiSpan("PERSON", 4, 8, 0.9)])
    assert masked == "ab<PERSON>ij"


def test_special_and_padding_rows_are_ignored() -> None:
    text = "Anna"
    offs = [(0, 0), (0, 4), (0, 0)]
    z = np.concatenate([logits_for(["O", "B-PERSON", "O"]), logits_for(["B-EMAIL"] * 3)])  # 3 padding rows
    spans = decode_spans(z, offs, LABELS, text)
    assert [(s.entity, s.start, s.end) for s in spans] == [("PERSON", 0, 4)]


def test_a_type_that_fails_its_check_gives_way_to_the_next_candidate() -> None:
    text = "pay with 4012888888881881 today"
    offs = tokens(text, ["pay", "with", "4012888888881881", "today"])
    z = logits_for(["O", "O", "O", "B-EMAIL", "O", "O"])
    z[3] = 0.0
    z[3, LABELS.index("B-EMAIL")] = 3.0  # the head's first guess cannot be an e-mail address
    z[3, LABELS.index("B-CREDIT_CARD")] = 2.5
    (span,) = decode_spans(z, offs, LABELS, text)
    assert (span.entity, text[span.start : span.end]) == ("CREDIT_CARD", "4012888888881881")


def test_a_span_type_is_the_entity_with_most_mass_over_its_tokens() -> None:
    text = "call 06 12 34 56"
    offs = tokens(text, ["call", "06", "12", "34", "56"])
    # one digit group wavers to PERSON: the run is still one value, typed by the majority
    labels = ["O", "B-PHONE", "I-PHONE", "B-PERSON", "I-PERSON"]
    z = np.zeros((7, 5), np.float32)
    z[:, 0] = 6.0
    for t, lab in zip(range(2, 6), ["B-PHONE", "I-PHONE", "I-PERSON", "I-PHONE"], strict=True):
        z[t] = 0.0
        z[t, labels.index(lab)] = 6.0
    (span,) = decode_spans(z, offs, labels, text, check=False)
    assert (span.entity, text[span.start : span.end]) == ("PHONE", "06 12 34 56")


def test_a_tag_run_over_a_neighbouring_word_is_cut_back_to_the_value() -> None:
    text = "and cc anna@x.org now"
    offs = tokens(text, ["and", "cc", "anna", "@", "x", ".", "org", "now"])
    tags = ["O", "O", "B-EMAIL", "B-EMAIL", "I-EMAIL", "I-EMAIL", "I-EMAIL", "I-EMAIL", "O", "O"]
    (span,) = decode_spans(logits_for(tags), offs, LABELS, text)
    assert text[span.start : span.end] == "anna@x.org"
