"""``sirp bench reasoning``: MMLU-Pro answered directly, always with reasoning, and as sirp routes it.

The reasoning-mode benchmark of the "When to Reason" paper behind vLLM Semantic Router. Each
question of a split (or a seeded sample) is sent once per mode through sirp's own dispatch,
:meth:`SemanticRouter.astream <sirp.SemanticRouter.astream>` (``acomplete`` with
``stream=False``), so every request is routed, written in the answering model's reasoning
syntax and accounted exactly as in production:

- ``direct``: ``reasoning=False`` forced (the model the router picks answers without thinking);
- ``reasoning``: ``reasoning=True`` forced;
- ``routed``: the router decides tier, model and reasoning.

The answer letter is read from the reply (:func:`~sirp.bench.mcq.extract_answer`) and kept with
latency, time to first token and prompt / completion / reasoning tokens
(:class:`~sirp.bench.reasoning_results.Result`). Requests run concurrently (an asyncio
semaphore), with a progress bar, and every finished one is appended to a results file, so a
killed run resumes where it stopped.

Offline (``offline=`` / ``--offline``) the config's models are pointed at a
:class:`~sirp.testing.fake_openai.FakeOpenAI` on loopback that replays MMLU-Pro's recorded
outcomes with a synthetic latency model (:mod:`sirp.testing.recorded`: read it for what that
replay is and is not). Online, the same command calls whatever the config's models point at:
vLLM, or any OpenAI-compatible provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sirp._imports import require
from sirp.bench.mcq import PROMPT_VERSION, SYSTEM_PROMPT, Question, extract_answer, load_questions, sample_questions
from sirp.bench.reasoning_report import summarize
from sirp.bench.reasoning_results import Result, ResultsLog
from sirp.config.loader import config_from_dict
from sirp.config.schema import RouterConfig
from sirp.errors import ConfigError, InputError, NoEligibleModelError, UpstreamError
from sirp.evaluation.datasets import Split

if TYPE_CHECKING:
    from sirp.backends.base import Backend
    from sirp.router import SemanticRouter
    from sirp.testing.recorded import LatencyModel, Replay

__all__ = [
    "MODES",
    "Offline",
    "RunSettings",
    "arun",
    "ask",
    "fingerprint",
    "offline_config",
    "replay_map",
    "run_benchmark",
]

#: The modes, in report order.
MODES = ("direct", "reasoning", "routed")

#: What each mode forces (``None``: the router decides).
_FORCED: dict[str, bool | None] = {"direct": False, "reasoning": True, "routed": None}


@dataclass(frozen=True)
class RunSettings:
    """How the requests of a run are made."""

    modes: tuple[str, ...] = MODES
    concurrency: int = 8
    """requests in flight at once"""
    stream: bool = True
    """stream each answer (needed for time to first token)"""
    temperature: float | None = 0.0
    """sent as ``temperature`` (``None``: the server's default)"""
    max_tokens: int | None = None
    """sent as ``max_tokens`` (``None``: the server's default; thinking models need room)"""
    progress: bool = True
    """show a progress bar on stderr"""

    def __post_init__(self) -> None:
        unknown = [m for m in self.modes if m not in _FORCED]
        if unknown or not self.modes:
            raise ConfigError(f"unknown or no modes {list(self.modes)}; choose from {', '.join(MODES)}")
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")


@dataclass(frozen=True)
class Offline:
    """Replay recorded outcomes instead of calling the config's endpoints (see :mod:`sirp.testing.recorded`)."""

    replay: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """served model name → (direct, reasoning) recorded models; the rest from the config's tiers"""
    time_scale: float = 1.0
    """every synthetic wait multiplied by this (1.0 = the latency model's own seconds; tests: 0.001)"""
    seed: int = 0
    """seeds the replay's wrong letters and latency jitter"""


def params_for(mode: str, settings: RunSettings) -> dict[str, Any]:
    """The ``SemanticRouter`` parameters of one request in ``mode``."""
    params: dict[str, Any] = {"cache": "bypass"}  # the same question comes once per mode: never from the cache
    forced = _FORCED[mode]
    if forced is not None:
        params["reasoning"] = forced
    if settings.temperature is not None:
        params["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        params["max_tokens"] = settings.max_tokens
    return params


async def ask(router: SemanticRouter, question: Question, mode: str, settings: RunSettings, run: str = "") -> Result:
    """Send ``question`` in ``mode`` through the router's dispatch; the answer, graded, with timings and tokens.

    An endpoint that fails (after sirp's retries and fallbacks) gives a result with ``error``
    set; other errors (bad config, bad prompt) are raised: they would fail every request alike.
    """
    base = Result(question_id=question.id, mode=mode, category=question.category, expected=question.answer, run=run)
    params = params_for(mode, settings)
    try:
        if settings.stream:
            stream = await router.astream(question.messages(), **params)
            out = await stream.until_done()
        else:
            out = await router.acomplete(question.messages(), **params)
    except (UpstreamError, NoEligibleModelError) as err:
        return replace(base, error=str(err))
    letter = extract_answer(out.content, len(question.options))
    usage = out.usage
    d = out.decision
    return replace(
        base,
        answer=letter,
        correct=letter == question.answer,
        model=out.model,
        tier=d.tier,
        reasoning=d.reasoning,
        effort=d.reasoning_effort if d.reasoning else None,
        latency_ms=out.latency_ms,
        ttft_ms=out.time_to_first_token_ms,
        routing_ms=d.latency_ms,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        reasoning_tokens=usage.reasoning_tokens if usage else 0,
    )


def _progress(total: int, initial: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety of the eval extra
        return None
    return tqdm(total=total, initial=initial, desc="bench reasoning", unit="req", file=sys.stderr, dynamic_ncols=True)


#: The warm-up request: not a benchmark question (a server's prefix cache must not learn one).
_WARM_UP = [{"role": "user", "content": "Warm-up request: reply with the single letter A."}]


async def _warm_up(router: SemanticRouter) -> None:
    """One tiny request per model, not recorded: first-call costs are not the benchmark's latency.

    The first call pays for importing ``openai``, making the HTTP client of the model's URL on
    this event loop, and the classifier's first pass; a failure here is left for the real
    requests to report.
    """
    require("openai", extra="client", purpose="The reasoning benchmark")
    for m in router.config.models:
        with contextlib.suppress(UpstreamError, NoEligibleModelError):
            await router.acomplete(_WARM_UP, model=m.name, reasoning=False, max_tokens=1, cache="bypass")


async def arun(
    router: SemanticRouter, questions: Sequence[Question], settings: RunSettings, log: ResultsLog
) -> list[Result]:
    """Ask every (question, mode) that ``log`` has no answer for yet; return the results of all of them.

    Each result is appended to ``log`` as soon as it is in. Cancelled (Ctrl-C, a kill), the run
    keeps what was appended; the next run skips it.
    """
    done = log.load()
    keys = [(q.id, m) for q in questions for m in settings.modes]
    # question by question, every mode: a partial run has all modes of its first questions
    todo = [(q, m) for q in questions for m in settings.modes if (q.id, m) not in done]
    if todo:
        await _warm_up(router)
    bar = _progress(len(keys), len(keys) - len(todo), settings.progress)
    sem = asyncio.Semaphore(settings.concurrency)

    async def one(q: Question, mode: str) -> None:
        async with sem:
            result = await ask(router, q, mode, settings, log.run)
        log.append(result)
        if bar is not None:
            bar.update()

    try:
        await asyncio.gather(*(one(q, m) for q, m in todo))
    finally:
        if bar is not None:
            bar.close()
    return [log.results[k] for k in keys if k in log.results]


def _config_identity(config: RouterConfig) -> dict[str, Any]:
    """What of a config decides the answers: not where endpoints live, their keys, timeouts or the server."""
    data = config.model_dump(mode="json")
    return {
        "classifier": data["classifier"],
        "conversation": data["conversation"],
        "tiers": data["tiers"],
        "policy": data["policy"],
        "categories": data["categories"],
        "models": [{k: m[k] for k in ("name", "tier", "family")} for m in data["models"]],
        "fallback": data["fallback"],
    }


def fingerprint(
    config: RouterConfig,
    *,
    split: str,
    settings: RunSettings,
    replay: Mapping[str, Any] | None = None,
) -> str:
    """A short hash of a run's set-up; results of another set-up are not resumed into it."""
    ident = {
        "config": _config_identity(config),
        "split": split,
        "prompt": [PROMPT_VERSION, SYSTEM_PROMPT],
        "stream": settings.stream,
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "replay": replay,
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def replay_map(config: RouterConfig, given: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Replay]:
    """Which recorded models answer for each of the config's models, offline.

    A model listed in ``given`` takes its (direct, reasoning) pair; any other answers directly
    as its tier's ``reference_model`` and, asked to reason, as that model's stand-in in
    :data:`~sirp.testing.recorded.REASONING_STAND_INS`.

    Raises:
        ConfigError: a model with neither (its tier is not configured, or its reference model
            has no default stand-in); the message says how to give one.
    """
    from sirp.testing.recorded import REASONING_STAND_INS, Replay

    given = dict(given or {})
    unknown = sorted(set(given) - {m.name for m in config.models})
    if unknown:
        raise ConfigError(f"--replay names {', '.join(unknown)}, which the config's models: do not list")
    refs = {t.name: t.reference_model for t in config.tiers}
    out: dict[str, Replay] = {}
    for m in config.models:
        if m.name in given:
            out[m.name] = Replay(*given[m.name])
            continue
        direct = refs.get(m.tier)
        reasoning = REASONING_STAND_INS.get(direct or "")
        if direct is None or reasoning is None:
            raise ConfigError(
                f"offline, model {m.name!r} needs recorded models to answer for it: its tier {m.tier} "
                + ("is not configured" if direct is None else f"stands for {direct}, which has no default stand-in")
                + f"; pass --replay '{m.name}=DIRECT,REASONING' with two models of mmlu-pro/outcomes.jsonl "
                f"(defaults exist for {', '.join(REASONING_STAND_INS)})"
            )
        out[m.name] = Replay(direct=direct, reasoning=reasoning)
    return out


def offline_config(config: RouterConfig, base_url: str) -> RouterConfig:
    """``config`` with every model served at ``base_url`` (one provider, no key)."""
    data = config.model_dump(mode="json")
    for m in data["models"]:
        m.update(base_url=base_url, providers=[], api_key_env=None)
    return config_from_dict(data, source="offline replay")


@contextmanager
def _serving(
    config: RouterConfig,
    questions: Sequence[Question],
    replay: Mapping[str, Replay] | None,
    latency: LatencyModel | None,
    seed: int,
) -> Iterator[RouterConfig]:
    """The config to call: as given, or (with a replay) pointed at a replaying fake server for the duration."""
    if replay is None:
        yield config
        return
    from sirp.testing.fake_openai import FakeOpenAI
    from sirp.testing.recorded import RecordedResponder

    with FakeOpenAI(responder=RecordedResponder(questions, replay, latency=latency, seed=seed)) as server:
        yield offline_config(config, server.base_url)


def _meta(
    config: RouterConfig,
    *,
    split: str,
    asked: int,
    available: int,
    seed: int,
    settings: RunSettings,
    offline: Offline | None,
    replay: Mapping[str, Replay] | None,
    latency: LatencyModel | None,
) -> dict[str, Any]:
    modes = ", ".join(settings.modes)
    meta: dict[str, Any] = {
        "title": f"MMLU-Pro {split}: {asked} questions (of {available}, seed {seed}) × {modes}; "
        f"concurrency {settings.concurrency}, {'streamed' if settings.stream else 'not streamed'}",
        "split": split,
        "sample": asked,
        "available": available,
        "seed": seed,
        "settings": asdict(settings),
        "models": [{"name": m.name, "tier": m.tier, "family": m.family} for m in config.models],
        "offline": offline is not None,
    }
    if offline is not None and replay is not None and latency is not None:
        pairs = "; ".join(f"{name}: direct {r.direct}, reasoning {r.reasoning}" for name, r in replay.items())
        meta["replay"] = {name: asdict(r) for name, r in replay.items()}
        meta["latency_model"] = asdict(latency)
        meta["plot_title"] = f"MMLU-Pro {split} (n={asked}), offline replay of recorded outcomes"
        meta["note"] = (
            "Offline replay, not live model calls: each answer is a recorded MMLU-Pro outcome "
            f"({pairs}); reasoning tokens are the stand-in's recorded answer length × 1.3. Latency is a synthetic "
            f"model (TTFT {latency.ttft_s * 1000:.0f} ms + {latency.prefill_s_per_token * 1000:.1f} ms per prompt "
            f"token, {latency.decode_s_per_token * 1000:.0f} ms per generated token, ±{latency.jitter:.0%} jitter) "
            + ("in real time" if latency.scale == 1 else f"at {latency.scale:g}× real time")
            + ", plus sirp's real routing and HTTP overhead on this machine."
        )
    else:
        meta["plot_title"] = f"MMLU-Pro {split} (n={asked})"
    return meta


def run_benchmark(
    config: RouterConfig,
    *,
    data_dir: Path,
    split: Split = "test",
    sample: int | None = None,
    seed: int = 0,
    settings: RunSettings | None = None,
    results_path: Path | None = None,
    offline: Offline | None = None,
    n_boot: int = 1000,
    backend: Backend | None = None,
) -> dict[str, Any]:
    """Run (or resume) the benchmark and return its JSON report (see :func:`~sirp.bench.reasoning_report.summarize`).

    ``backend`` replaces the classifier backend (tests pass a ``MockBackend``).

    Raises:
        ConfigError: the config has no models to call, unknown modes, or (offline) a model
            without recorded stand-ins; a results file of another set-up.
        InputError: a sample below 1, or no question left to ask.
    """
    from sirp.router import SemanticRouter

    settings = settings or RunSettings()
    if not config.models:
        raise ConfigError(
            "the reasoning benchmark calls models: add a models: list to the config (see examples/bench-reasoning.yaml)"
        )
    if sample is not None and sample < 1:
        raise InputError(f"--sample must be at least 1, got {sample}")
    questions = load_questions(data_dir, split)
    replay = replay_map(config, offline.replay) if offline is not None else None
    if replay is not None:
        # the replay can only answer questions every mapped recorded model answered
        recorded = {name for r in replay.values() for name in (r.direct, r.reasoning)}
        questions = [q for q in questions if recorded <= set(q.outcomes)]
    available = len(questions)
    chosen = sample_questions(questions, sample, seed)
    if not chosen:
        raise InputError(f"no MMLU-Pro {split} question to ask")
    replay_ident = None
    latency = None
    if offline is not None and replay is not None:
        from sirp.testing.recorded import LatencyModel

        latency = LatencyModel(scale=offline.time_scale)
        replay_ident = {"map": {k: asdict(v) for k, v in replay.items()}, "seed": offline.seed, **asdict(latency)}
    run = fingerprint(config, split=split, settings=settings, replay=replay_ident)

    async def main(serving: RouterConfig) -> list[Result]:
        async with SemanticRouter(serving, backend=backend) as router:
            with ResultsLog(results_path, run) as log:
                return await arun(router, chosen, settings, log)

    with _serving(config, chosen, replay, latency, offline.seed if offline is not None else 0) as serving:
        results = asyncio.run(main(serving))
    meta = _meta(
        config,
        split=split,
        asked=len(chosen),
        available=available,
        seed=seed,
        settings=settings,
        offline=offline,
        replay=replay,
        latency=latency,
    )
    return summarize(results, settings.modes, n_boot=n_boot, seed=seed, meta=meta)
