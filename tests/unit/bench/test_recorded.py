"""The recorded-outcome replay: answers, tokens, the latency model, and the fake server hook over HTTP."""

from __future__ import annotations

import math

import pytest

from sirp.bench.mcq import Question, extract_answer
from sirp.providers.reasoning import apply_reasoning
from sirp.testing.fake_openai import FakeOpenAI
from sirp.testing.recorded import LatencyModel, RecordedResponder, Replay
from tests.unit.bench.conftest import LARGE, SMALL

REPLAY = {"hybrid": Replay(direct=SMALL, reasoning=LARGE)}


def body(q: Question, *, reasoning: bool, stream: bool = False, model: str = "hybrid") -> dict:
    payload = {"model": model, "messages": q.messages()}
    if stream:
        payload |= {"stream": True, "stream_options": {"include_usage": True}}
    return apply_reasoning(payload, "qwen3", reasoning)


def test_direct_answers_replay_the_direct_model(questions: list[Question]) -> None:
    r = RecordedResponder(questions, REPLAY)
    for q in questions:
        a = r.answer("hybrid", q, reasoning=False)
        assert a is not None and a.recorded_model == SMALL
        assert a.correct == q.outcomes[SMALL]
        # the letter is right exactly when the recording was, and always one of the options
        assert (a.letter == q.answer) == q.outcomes[SMALL]
        assert a.letter in "ABCDEFGHIJ"[: len(q.options)]
        assert extract_answer(a.content, len(q.options)) == a.letter
        assert a.reasoning_tokens == 0 and a.completion_tokens == a.answer_tokens > 0


def test_reasoning_answers_replay_the_stand_in_with_its_length(questions: list[Question]) -> None:
    r = RecordedResponder(questions, REPLAY)
    for q in questions:
        a = r.answer("hybrid", q, reasoning=True)
        if LARGE not in q.outcomes:
            assert a is None  # no recording, no made-up answer
            continue
        assert a is not None and a.recorded_model == LARGE and a.correct == q.outcomes[LARGE]
        assert a.reasoning_tokens == math.ceil(q.words[LARGE] * 1.3)
        assert a.completion_tokens == a.answer_tokens + a.reasoning_tokens


def test_wrong_letters_are_fixed_per_seed(questions: list[Question]) -> None:
    wrong = [q for q in questions if not q.outcomes[SMALL]]
    one = [RecordedResponder(questions, REPLAY, seed=0).answer("hybrid", q, reasoning=False) for q in wrong]
    again = [RecordedResponder(questions, REPLAY, seed=0).answer("hybrid", q, reasoning=False) for q in wrong]
    other = [RecordedResponder(questions, REPLAY, seed=7).answer("hybrid", q, reasoning=False) for q in wrong]
    assert [a.letter for a in one] == [a.letter for a in again]  # type: ignore[union-attr]
    assert [a.letter for a in one] != [a.letter for a in other]  # type: ignore[union-attr]


def test_unknown_model_or_question_is_left_to_the_server(questions: list[Question]) -> None:
    r = RecordedResponder(questions, REPLAY)
    assert r(body(questions[0], reasoning=False, model="other")) is None
    assert r({"model": "hybrid", "messages": [{"role": "user", "content": "Not a benchmark question"}]}) is None
    assert r({"model": "hybrid", "messages": "not a list"}) is None


def test_the_latency_model_is_seeded_scaled_and_grows_with_the_prompt() -> None:
    m = LatencyModel()
    assert m.timing(100, "k") == m.timing(100, "k")
    assert m.timing(100, "k") != m.timing(100, "other")
    flat = LatencyModel(jitter=0)
    ttft, per_token = flat.timing(1000, "k")
    assert ttft == pytest.approx(0.15 + 1000 * 0.0002) and per_token == pytest.approx(0.02)
    scaled = LatencyModel(jitter=0, scale=0.001).timing(1000, "k")
    assert scaled == pytest.approx((ttft / 1000, per_token / 1000))
    # jitter has mean 1: the average over many requests stays near the nominal time
    mean = sum(LatencyModel(jitter=0.25).timing(0, f"q{i}")[0] for i in range(2000)) / 2000
    assert mean == pytest.approx(0.15, rel=0.05)


def test_a_plain_answer_waits_for_every_token(questions: list[Question]) -> None:
    latency = LatencyModel(jitter=0)
    r = RecordedResponder(questions, REPLAY, latency=latency)
    q = questions[0]
    for reasoning in (False, True):
        [(wait, completion)] = r(body(q, reasoning=reasoning))  # type: ignore[misc]
        usage = completion["usage"]
        ttft, per_token = latency.timing(usage["prompt_tokens"], "unused")
        assert wait == pytest.approx(ttft + (usage["completion_tokens"] - 1) * per_token)
        assert usage["completion_tokens_details"]["reasoning_tokens"] == (
            math.ceil(q.words[LARGE] * 1.3) if reasoning else 0
        )
        message = completion["choices"][0]["message"]
        assert ("reasoning_content" in message) == reasoning


def test_a_stream_sends_reasoning_first_then_the_answer_then_usage(questions: list[Question]) -> None:
    latency = LatencyModel(jitter=0, chunk_tokens=16)
    r = RecordedResponder(questions, REPLAY, latency=latency)
    q = questions[0]
    parts = r(body(q, reasoning=True, stream=True))
    assert parts is not None
    deltas = [c["choices"][0]["delta"] if c["choices"] else None for _, c in parts]
    kinds = [next((k for k in ("reasoning_content", "content") if d and d.get(k)), None) for d in deltas]
    n_reasoning = math.ceil(math.ceil(q.words[LARGE] * 1.3) / 16)
    assert kinds == [None] + ["reasoning_content"] * n_reasoning + ["content", None, None]
    usage = parts[-1][1]["usage"]
    ttft, per_token = latency.timing(usage["prompt_tokens"], "unused")
    # the first token after the prefill, every later one a decode step: the same total as a plain answer
    assert parts[1][0] == pytest.approx(ttft + 15 * per_token)
    assert sum(w for w, _ in parts) == pytest.approx(ttft + (usage["completion_tokens"] - 1) * per_token)
    direct = r(body(q, reasoning=False, stream=True))
    assert direct is not None and not any(
        c["choices"] and "reasoning_content" in c["choices"][0]["delta"] for _, c in direct
    )


def test_replayed_over_http_through_the_fake_server(questions: list[Question]) -> None:
    from openai import OpenAI

    r = RecordedResponder(questions, REPLAY, latency=LatencyModel(scale=0.001))
    with FakeOpenAI(responder=r) as server:
        client = OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
        q = questions[1]
        assert not q.outcomes[SMALL] and q.outcomes[LARGE]  # the two modes disagree on this one
        plain = client.chat.completions.create(
            model="hybrid", messages=q.messages(), extra_body={"chat_template_kwargs": {"enable_thinking": False}}
        )
        got = extract_answer(plain.choices[0].message.content, len(q.options))
        assert got is not None and got != q.answer
        assert plain.usage is not None and plain.usage.completion_tokens_details.reasoning_tokens == 0
        chunks = list(
            client.chat.completions.create(
                model="hybrid",
                messages=q.messages(),
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"chat_template_kwargs": {"enable_thinking": True}},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert extract_answer(text, len(q.options)) == q.answer
        assert chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == math.ceil(q.words[LARGE] * 1.3)
        # a request it does not know gets the server's usual echo
        other = client.chat.completions.create(model="hybrid", messages=[{"role": "user", "content": "hello"}])
        assert other.choices[0].message.content == "Echo from hybrid: hello"
