"""Cache keys: what is compared by meaning, and what must match exactly."""

from __future__ import annotations

import pytest

from sirp.cache.keys import NOT_IN_FINGERPRINT, fingerprint, normalise, numbers, request_key
from sirp.errors import InputError, PromptTypeError

Q = "What is the height of Mt. Everest?"


def key(messages=Q, **params):
    return request_key(messages, params)


def test_normalise_collapses_whitespace_and_unicode_forms_but_keeps_case() -> None:
    assert normalise("  What\u00a0is\n\tthis?  ") == "What is this?"
    assert normalise("ﬁle") == "file"  # NFKC folds the ligature
    assert normalise("Python") != normalise("python")


def test_a_string_and_the_same_single_user_message_share_a_key() -> None:
    assert key(Q) == key([{"role": "user", "content": Q}])
    assert key(Q).text == Q


@pytest.mark.parametrize(
    "params",
    [
        {"model": "large"},
        {"temperature": 0.7},
        {"max_tokens": 10},
        {"tools": [{"type": "function", "function": {"name": "lookup"}}]},
        {"response_format": {"type": "json_object"}},
        {"reasoning": True},
        {"extra_body": {"chat_template_kwargs": {"enable_thinking": True}}},
        {"seed": 1},
    ],
)
def test_every_answer_shaping_parameter_separates_fingerprints(params) -> None:
    assert key(**params).fingerprint != key().fingerprint
    assert key(**params).text == key().text


def test_auto_and_no_model_are_the_same_choice_but_a_pin_is_not() -> None:
    assert key(model="auto").fingerprint == key().fingerprint == key(model="").fingerprint
    assert key(model="small").fingerprint != key(model="large").fingerprint


def test_delivery_parameters_do_not_change_the_fingerprint() -> None:
    plain = key().fingerprint
    for name in NOT_IN_FINGERPRINT:
        assert key(**{name: {"x": 1}}).fingerprint == plain, name


def test_system_prompt_and_earlier_turns_are_exact_parts_of_the_key() -> None:
    base = [{"role": "user", "content": Q}]
    sys_a = [{"role": "system", "content": "Be brief."}, *base]
    sys_b = [{"role": "system", "content": "Be thorough."}, *base]
    convo = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}, *base]
    fps = {key(m).fingerprint for m in (base, sys_a, sys_b, convo)}
    assert len(fps) == 4
    # the last user turn is what is compared by meaning, whatever surrounds it
    assert {key(m).text for m in (base, sys_a, sys_b, convo)} == {Q}


def test_the_last_user_turn_wording_is_not_in_the_fingerprint() -> None:
    a = key([{"role": "system", "content": "s"}, {"role": "user", "content": "first wording"}])
    b = key([{"role": "system", "content": "s"}, {"role": "user", "content": "second wording"}])
    assert a.fingerprint == b.fingerprint and a.text != b.text and a.id != b.id


def test_fingerprint_ignore_drops_named_parameters() -> None:
    a = request_key(Q, {"user": "alice"}, ignore=["user"])
    b = request_key(Q, {"user": "bob"}, ignore=["user"])
    assert a.fingerprint == b.fingerprint
    assert request_key(Q, {"user": "alice"}).fingerprint != request_key(Q, {"user": "bob"}).fingerprint


def test_fingerprint_is_stable_and_order_insensitive_for_params() -> None:
    ctx = [{"role": "user", "content": None}]
    assert fingerprint(ctx, {"a": 1, "b": 2}) == fingerprint(ctx, {"b": 2, "a": 1})
    assert len(fingerprint(ctx, {})) == 64


def test_bad_prompts_raise_the_prompt_errors() -> None:
    with pytest.raises(InputError):
        key([{"role": "system", "content": "no user turn"}])
    with pytest.raises(PromptTypeError):
        key({"role": "user", "content": "a dict, not a list"})
    with pytest.raises(InputError):
        key("   ")


def test_numbers_are_extracted_sorted() -> None:
    assert numbers("add 12 and 3.5, then 1,000") == ("1,000", "12", "3.5")
    assert numbers("no digits") == ()
    assert numbers("3 then 12") == numbers("12 then 3")


def test_polarity_counts_negations_and_opposites_with_contractions() -> None:
    from sirp.cache.keys import polarity

    assert polarity("Which of these doesn't hold, and which cannot?") == ("not", "not")
    assert polarity("Which is the LEAST likely?") == ("least",)
    assert polarity("What is the capital of France?") == ()


def test_names_are_capitalised_words_inside_sentences() -> None:
    from sirp.cache.keys import names

    assert names("Which claim would Leopold accept, according to Kant?") == {"leopold", "kant"}
    assert names("What is this? Nothing here.") == frozenset()  # sentence starts are not names


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("What is 12 times 7?", "What is 12 times 8?", False),
        ("What is 12 times 7?", "Times 7, what is 12?", True),
        ("Which of the following is true?", "Which of the following is not true?", False),
        ("Which option does not apply?", "Which option doesn't apply?", True),
        ("Which is the most likely cause?", "Which is the least likely cause?", False),
        ("Which claim would Leopold accept?", "Which claim would Singer accept?", False),
        ("What is the height of Mount Everest?", "what is the height of mount everest", True),
    ],
)
def test_same_details(a: str, b: str, same: bool) -> None:
    from sirp.cache.keys import same_details

    assert same_details(a, b) is same
    assert same_details(a, b, match_numbers=False, match_negations=False, match_names=False)
