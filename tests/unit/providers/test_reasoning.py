"""apply_reasoning: the exact request body each model family gets, reasoning on and off."""

from __future__ import annotations

import copy

import pytest

from sirp.errors import ConfigError, InputError
from sirp.providers.reasoning import COT_INSTRUCTION, FAMILIES, apply_reasoning, asks_for_reasoning

MSGS = [{"role": "user", "content": "Prove that sqrt(2) is irrational."}]


def base() -> dict:
    return {"model": "m", "messages": copy.deepcopy(MSGS), "temperature": 0.2}


def test_qwen3() -> None:
    assert apply_reasoning(base(), "qwen3", True, "high") == {
        **base(),
        "chat_template_kwargs": {"enable_thinking": True},
    }
    assert apply_reasoning(base(), "qwen3", False) == {**base(), "chat_template_kwargs": {"enable_thinking": False}}


def test_deepseek() -> None:
    assert apply_reasoning(base(), "deepseek", True, "low") == {**base(), "chat_template_kwargs": {"thinking": True}}
    assert apply_reasoning(base(), "deepseek", False) == {**base(), "chat_template_kwargs": {"thinking": False}}


def test_openai() -> None:
    assert apply_reasoning(base(), "openai", True, "high") == {**base(), "reasoning_effort": "high"}
    assert apply_reasoning(base(), "openai", True) == {**base(), "reasoning_effort": "medium"}
    assert apply_reasoning(base(), "openai", False, "high") == {**base(), "reasoning_effort": "minimal"}


def test_gpt_oss() -> None:
    assert apply_reasoning(base(), "gpt-oss", True, "medium") == {**base(), "reasoning_effort": "medium"}
    assert apply_reasoning(base(), "gpt-oss", False) == {**base(), "reasoning_effort": "low"}


def test_anthropic() -> None:
    assert apply_reasoning(base(), "anthropic", True, "low", budget_tokens=2048) == {
        **base(),
        "thinking": {"type": "enabled", "budget_tokens": 2048},
    }
    # no configured budget: the effort's default; below Anthropic's minimum: raised to it
    assert apply_reasoning(base(), "anthropic", True, "high")["thinking"] == {"type": "enabled", "budget_tokens": 24576}
    assert apply_reasoning(base(), "anthropic", True, "low", 100)["thinking"]["budget_tokens"] == 1024
    assert apply_reasoning(base(), "anthropic", False, budget_tokens=2048) == {
        **base(),
        "thinking": {"type": "disabled"},
    }


def test_gemini() -> None:
    assert apply_reasoning(base(), "gemini", True, "low", budget_tokens=1500) == {
        **base(),
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 1500}}},
    }
    assert apply_reasoning(base(), "gemini", False, budget_tokens=1500) == {
        **base(),
        "extra_body": {"google": {"thinking_config": {"thinking_budget": 0}}},
    }
    on = apply_reasoning(base(), "gemini", True, "medium")
    assert on["extra_body"]["google"]["thinking_config"]["thinking_budget"] == 8192
    # neither effort nor budget: Gemini's dynamic budget
    assert apply_reasoning(base(), "gemini", True)["extra_body"]["google"]["thinking_config"] == {"thinking_budget": -1}


def test_gemini_keeps_other_google_settings() -> None:
    p = {**base(), "extra_body": {"google": {"thinking_config": {"include_thoughts": True}, "x": 1}}}
    out = apply_reasoning(p, "gemini", False)
    assert out["extra_body"] == {
        "google": {"thinking_config": {"include_thoughts": True, "thinking_budget": 0}, "x": 1}
    }
    assert p["extra_body"]["google"]["thinking_config"] == {"include_thoughts": True}  # input untouched


def test_prompt() -> None:
    assert apply_reasoning(base(), "prompt", True) == {
        **base(),
        "messages": [{"role": "system", "content": COT_INSTRUCTION}, *MSGS],
    }
    assert apply_reasoning(base(), "prompt", False) == base()


def test_prompt_merges_into_an_existing_system_message_and_hints_the_budget() -> None:
    p = {**base(), "messages": [{"role": "system", "content": "Be brief."}, *MSGS]}
    out = apply_reasoning(p, "prompt", True, budget_tokens=500)
    assert out["messages"] == [
        {"role": "system", "content": COT_INSTRUCTION + " Keep the reasoning under about 500 tokens.\n\nBe brief."},
        *MSGS,
    ]
    assert p["messages"][0]["content"] == "Be brief."


def test_none() -> None:
    assert apply_reasoning(base(), "none", True, "high", 4096) == base()
    assert apply_reasoning(base(), "none", False) == base()


def test_caller_chat_template_kwargs_are_kept() -> None:
    p = {**base(), "chat_template_kwargs": {"custom": 1, "enable_thinking": True}}
    assert apply_reasoning(p, "qwen3", False)["chat_template_kwargs"] == {"custom": 1, "enable_thinking": False}


def test_input_is_not_modified() -> None:
    p = base()
    for family in FAMILIES:
        apply_reasoning(p, family, True, "high", 2048)
    assert p == base()


@pytest.mark.parametrize("family", FAMILIES)
def test_asks_for_reasoning_reads_every_family(family: str) -> None:
    on = apply_reasoning(base(), family, True, "medium", 2048)
    off = apply_reasoning(base(), family, False)
    assert asks_for_reasoning(off) is (family == "gpt-oss")  # gpt-oss's "off" is low effort
    if family == "none":
        assert not asks_for_reasoning(on)
    else:
        assert asks_for_reasoning(on)


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="unknown reasoning family 'claude'"):
        apply_reasoning(base(), "claude", True)
    with pytest.raises(InputError, match="effort must be"):
        apply_reasoning(base(), "openai", True, "extreme")
    with pytest.raises(InputError, match="at least 1 token"):
        apply_reasoning(base(), "anthropic", True, budget_tokens=0)
