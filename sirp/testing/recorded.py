"""MMLU-Pro answers replayed from recorded outcomes, with a synthetic latency model.

The offline back end of ``sirp bench reasoning``: a responder for
:class:`~sirp.testing.fake_openai.FakeOpenAI` that answers each MMLU-Pro question with what a
real model actually answered on it, so the benchmark runs end to end (sirp's routing, dispatch,
reasoning syntax, streaming, usage) without a GPU::

    replay = {"qwen3-30b-a3b": Replay(direct="Meta-Llama-3_1-8B-Instruct", reasoning="Meta-Llama-3_1-70B-Instruct")}
    with FakeOpenAI(responder=RecordedResponder(questions, replay, latency=LatencyModel(scale=0.01))) as server:
        ...  # point the config's models at server.base_url

**What is replayed, and what is not.** ``mmlu-pro/outcomes.jsonl`` records, per question and
model, whether the model's answer was correct and how many words it took, and every recorded
run is a 5-shot *chain-of-thought* run. No recording shows one model answering with thinking
on and off. So a served model maps to two recorded models (:class:`Replay`):

- answering **directly** (the request does not ask for reasoning, in any family's syntax: see
  :func:`~sirp.providers.reasoning.asks_for_reasoning`), it replies with the correct letter where
  the ``direct`` model's recorded answer was correct, and a fixed wrong letter where it was not;
  no reasoning tokens;
- asked to **reason**, a stronger recorded model (``reasoning``) *stands in* for the same model
  thinking: its recorded correctness decides the letter, and its recorded answer length
  (words × :data:`~sirp.evaluation.routing.TOKENS_PER_WORD`) is reported as reasoning tokens and
  streamed before the answer as ``reasoning_content``.

The accuracy gap between the modes is therefore the gap between two real recorded models,
question by question, not a measured effect of thinking; and recorded 5-shot chain-of-thought
answers are short (≈ 85–165 words on average), far shorter than a thinking model's reasoning,
so the token and latency cost of reasoning here is a lower bound.

**Latency** is synthetic (:class:`LatencyModel`): time to first token grows with the prompt,
then each generated token (reasoning included) costs a fixed decode time; a seeded log-normal
factor per request varies it. Every wait is multiplied by ``scale`` so that tests and CI run in
milliseconds. The same request always gets the same answer, tokens and waits.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sirp.bench.mcq import LETTERS, Question
from sirp.evaluation.routing import TOKENS_PER_WORD
from sirp.providers.reasoning import asks_for_reasoning

__all__ = ["REASONING_STAND_INS", "Answer", "LatencyModel", "RecordedResponder", "Replay"]

#: Default stand-in for "thinking" per recorded model: the larger model of the same family with
#: recorded answers (each answers more questions correctly on every split).
REASONING_STAND_INS: dict[str, str] = {
    "Meta-Llama-3_1-8B-Instruct": "Meta-Llama-3_1-70B-Instruct",
    "gemini-1.5-flash-002": "gemini-1.5-pro-002",
    "Qwen1.5-7B-Chat": "Qwen1.5-72B-Chat",
    "Mistral-7B-Instruct-v0.2": "Mixtral-8x7B-Instruct-v0.1",
    "Llama-2-7b-hf": "Llama-2-70b-hf",
}

#: The answer lines the replay writes, chosen per question: the benchmark must read all of them.
_ANSWER_LINES = ("The answer is ({letter}).", "Answer: {letter}", "So the answer is {letter}.")


@dataclass(frozen=True)
class Replay:
    """Which recorded models answer for one served model: directly, and when asked to reason."""

    direct: str
    reasoning: str


@dataclass(frozen=True)
class LatencyModel:
    """Synthetic timing of one answer: prefill, then a fixed time per generated token.

    ``time to first token = (ttft_s + prompt_tokens × prefill_s_per_token) × jitter`` and each
    later token ``decode_s_per_token × jitter'``, where the two jitter factors are log-normal
    with mean 1 and spread ``jitter``, drawn from a seed and the request (so the same request
    always waits the same). The defaults are of the order of a 30B-class model served by vLLM on
    one GPU under light load (≈ 50 tokens/s per stream); they are assumptions, not
    measurements. ``scale`` multiplies every wait (e.g. 0.001 in tests).
    """

    ttft_s: float = 0.15
    prefill_s_per_token: float = 0.0002
    decode_s_per_token: float = 0.02
    jitter: float = 0.25
    scale: float = 1.0
    chunk_tokens: int = 16
    """tokens per streamed chunk (real servers stream one token per event; fewer events keep the replay cheap)"""

    def timing(self, prompt_tokens: int, key: str) -> tuple[float, float]:
        """``(time to first token, seconds per later token)`` of one request, scaled."""
        rng = random.Random(key)
        sigma = self.jitter

        def factor() -> float:
            return math.exp(rng.gauss(0.0, sigma) - sigma * sigma / 2) if sigma > 0 else 1.0

        ttft = (self.ttft_s + prompt_tokens * self.prefill_s_per_token) * factor()
        return ttft * self.scale, self.decode_s_per_token * factor() * self.scale


@dataclass(frozen=True)
class Answer:
    """What the replay answers one question with, before timing and wire format."""

    content: str
    letter: str
    correct: bool
    recorded_model: str
    prompt_tokens: int
    answer_tokens: int
    reasoning_tokens: int

    @property
    def completion_tokens(self) -> int:
        """Answer plus reasoning tokens (how OpenAI-compatible servers count them)."""
        return self.answer_tokens + self.reasoning_tokens


def _tokens(words: int) -> int:
    return math.ceil(words * TOKENS_PER_WORD)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


def _digest(*parts: object) -> int:
    return int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:12], 16)


class RecordedResponder:
    """Answers chat completions about known MMLU-Pro questions from recorded outcomes.

    A request is answered when its model is in ``replay`` and its last user message is the
    user message of one of ``questions`` (:attr:`~sirp.bench.mcq.Question.user_message`); any
    other request, or a question without a recorded answer of the mapped model, gets ``None``
    (the fake server's usual echo, which names no option). ``latency`` is one model for every
    served model, or one per served model name (the others get the default).
    """

    def __init__(
        self,
        questions: Iterable[Question],
        replay: Mapping[str, Replay],
        *,
        latency: LatencyModel | Mapping[str, LatencyModel] | None = None,
        seed: int = 0,
    ) -> None:
        self.replay = dict(replay)
        self.seed = seed
        self._latency = latency if latency is not None else LatencyModel()
        self._questions: dict[str, Question] = {}
        for q in questions:
            # an exact duplicate prompt keeps its first question (load_questions drops them anyway)
            self._questions.setdefault(q.user_message, q)

    def latency_for(self, model: str) -> LatencyModel:
        """The latency model of a served model."""
        if isinstance(self._latency, LatencyModel):
            return self._latency
        return self._latency.get(model, LatencyModel())

    def question(self, body: Mapping[str, Any]) -> Question | None:
        """The known question a request body asks (its last user message), if any."""
        messages = body.get("messages")
        if not isinstance(messages, list):
            return None
        users = [_text(m.get("content")) for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
        return self._questions.get(users[-1].strip()) if users else None

    def answer(self, model: str, question: Question, *, reasoning: bool, prompt_tokens: int = 0) -> Answer | None:
        """The replayed answer of served ``model`` to ``question``; ``None`` without a recorded outcome."""
        spec = self.replay.get(model)
        if spec is None:
            return None
        recorded = spec.reasoning if reasoning else spec.direct
        correct = question.outcomes.get(recorded)
        if correct is None:
            return None
        n = len(question.options)
        if correct:
            letter = question.answer
        else:
            wrong = [c for c in LETTERS[:n] if c != question.answer]
            letter = wrong[_digest(self.seed, recorded, question.id) % len(wrong)]
        line = _ANSWER_LINES[_digest(self.seed, "line", question.id, reasoning) % len(_ANSWER_LINES)]
        content = line.format(letter=letter)
        return Answer(
            content=content,
            letter=letter,
            correct=bool(correct),
            recorded_model=recorded,
            prompt_tokens=prompt_tokens,
            answer_tokens=_tokens(len(content.split())),
            reasoning_tokens=_tokens(question.words.get(recorded, 0)) if reasoning else 0,
        )

    def __call__(self, body: dict[str, Any]) -> list[tuple[float, dict[str, Any]]] | None:
        """The fake server's hook: ``(wait_s, JSON object)`` pairs for a known question, else ``None``."""
        model = body.get("model")
        question = self.question(body)
        if not isinstance(model, str) or question is None:
            return None
        messages = body.get("messages") or []
        # roughly what a chat template makes of the messages: their words plus a few tokens each
        prompt_tokens = sum(
            _tokens(len(_text(m.get("content")).split())) + 4 for m in messages if isinstance(m, Mapping)
        )
        reasoning = asks_for_reasoning(body)
        answer = self.answer(model, question, reasoning=reasoning, prompt_tokens=prompt_tokens)
        if answer is None:
            return None
        ttft, per_token = self.latency_for(model).timing(
            prompt_tokens, f"{self.seed}:{model}:{question.id}:{reasoning}"
        )
        if body.get("stream"):
            return _stream(body, answer, ttft, per_token, self.latency_for(model).chunk_tokens)
        total = ttft + max(0, answer.completion_tokens - 1) * per_token
        return [(total, _completion(body, answer))]


def _usage(a: Answer) -> dict[str, Any]:
    return {
        "prompt_tokens": a.prompt_tokens,
        "completion_tokens": a.completion_tokens,
        "total_tokens": a.prompt_tokens + a.completion_tokens,
        "completion_tokens_details": {"reasoning_tokens": a.reasoning_tokens},
    }


def _reasoning_text(a: Answer) -> str:
    return f"[replayed reasoning: {a.reasoning_tokens} tokens, the length of {a.recorded_model}'s recorded answer] "


def _completion(body: Mapping[str, Any], a: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": a.content}
    if a.reasoning_tokens:
        message["reasoning_content"] = _reasoning_text(a)
    return {
        "id": f"chatcmpl-replay-{_digest(body.get('model'), a.recorded_model, a.content)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
        "usage": _usage(a),
    }


def _stream(
    body: Mapping[str, Any], a: Answer, ttft: float, per_token: float, chunk_tokens: int
) -> list[tuple[float, dict[str, Any]]]:
    base = {
        "id": f"chatcmpl-replay-{_digest(body.get('model'), a.recorded_model, a.content)}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body["model"],
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

    # (kind, tokens) per event: reasoning in chunk_tokens pieces, then the answer in one piece
    pieces: list[tuple[str, int]] = []
    left = a.reasoning_tokens
    while left > 0:
        pieces.append(("reasoning_content", min(chunk_tokens, left)))
        left -= chunk_tokens
    pieces.append(("content", a.answer_tokens))
    out: list[tuple[float, dict[str, Any]]] = [(0.0, chunk({"role": "assistant", "content": ""}))]
    first = True
    for kind, tokens in pieces:
        # the first token comes after the prefill; each further token after one decode step
        wait = ttft + (tokens - 1) * per_token if first else tokens * per_token
        first = False
        text = a.content if kind == "content" else (_reasoning_text(a) if len(out) == 1 else "… ")
        out.append((max(0.0, wait), chunk({kind: text})))
    out.append((0.0, chunk({}, "stop")))
    options = body.get("stream_options")
    if isinstance(options, Mapping) and options.get("include_usage"):
        out.append((0.0, {**base, "choices": [], "usage": _usage(a)}))
    return out
