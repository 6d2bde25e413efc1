"""``sirp eval routing``: what a config's policy would have scored on recorded answers, and what it costs.

MMLU-Pro's recorded outcomes (``mmlu-pro/outcomes.jsonl``) hold, for each question, whether each
of 17 real models answered it correctly and how many words its answer took. So a router can be
scored offline: route every question of a split with the config's policy, look up what the
chosen tier's ``reference_model`` actually did, and count accuracy, words and cost. Baselines on
the same questions: every tier alone ("always-small", "always-large", ...), a random mix with
the router's tier shares, and the oracle (per question the cheapest tier that answered
correctly). Sweeping ``gain_threshold`` (or shifting the complexity cut-points) draws the
router's accuracy–cost frontier.

Cost is an estimate: output tokens ≈ words × :data:`TOKENS_PER_WORD` (1.3, the usual ratio for
English text with a BPE tokenizer), priced at the chosen model's ``price_output_per_m``. Input
tokens are left out: every policy sends the same question, and the recorded runs do not say
how many tokens each model's prompt took. The recorded answers are 5-shot chain-of-thought runs,
so the reasoning switch is not scored here; only the tier choice is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sirp.config.schema import RouterConfig
from sirp.decision import RoutingDecision
from sirp.errors import InputError
from sirp.evaluation.datasets import Example
from sirp.policy.default import DefaultPolicy, PolicyOutcome
from sirp.signals.classifier import ClassifierSignals

if TYPE_CHECKING:
    from sirp.router import SemanticRouter

__all__ = [
    "TOKENS_PER_WORD",
    "TierOutcomes",
    "evaluate_routing",
    "format_table",
    "score_choices",
    "sweep_values",
    "tier_outcomes",
    "write_frontier",
]

#: Output tokens per whitespace word, for the cost estimate.
TOKENS_PER_WORD = 1.3

#: gain_threshold values of the router's curve (the config's own value is added).
_GAIN_GRID = tuple(round(x, 3) for x in np.arange(-0.3, 0.7001, 0.025))
#: shifts of every complexity cut-point, for configs with tier_rule complexity.
_SHIFT_GRID = tuple(round(x, 3) for x in np.arange(-1.0, 1.0001, 0.05))


@dataclass(frozen=True)
class TierOutcomes:
    """What each configured tier's reference model did on each question that all of them answered.

    ``correct`` and ``words`` have one row per kept question and one column per tier (config
    order, cheapest first); ``price`` is each tier model's USD per 1M output tokens.
    """

    tiers: list[str]
    models: list[str]
    reference_models: list[str]
    price: np.ndarray
    correct: np.ndarray
    words: np.ndarray
    examples: list[Example]
    skipped: int


def tier_outcomes(config: RouterConfig, examples: Sequence[Example]) -> TierOutcomes:
    """Line up the recorded outcome of each tier's reference model, question by question.

    Questions lacking a recorded answer of any tier's reference model are skipped (counted).

    Raises:
        InputError: a reference model never appears in the outcomes (the message lists those that do).
    """
    refs = [t.reference_model for t in config.tiers]
    seen: set[str] = set()
    for e in examples:
        seen.update(e.outcomes)
    missing = [r for r in refs if r not in seen]
    if missing:
        raise InputError(
            f"the recorded outcomes have no answers of {', '.join(missing)} (reference models of the config's "
            f"tiers); they hold: {', '.join(sorted(seen)) or 'nothing'}. Point each tier's reference_model at "
            "one of those"
        )
    kept = [e for e in examples if all(r in e.outcomes for r in refs)]
    price = []
    for t in config.tiers:
        endpoint = config.endpoint(t.model)
        price.append(endpoint.price_output_per_m if endpoint is not None else 0.0)
    return TierOutcomes(
        tiers=[t.name for t in config.tiers],
        models=[t.model for t in config.tiers],
        reference_models=refs,
        price=np.array(price, dtype=np.float64),
        correct=np.array([[e.outcomes[r] for r in refs] for e in kept], dtype=bool).reshape(len(kept), len(refs)),
        words=np.array([[e.words.get(r, 0) for r in refs] for e in kept], dtype=np.float64).reshape(
            len(kept), len(refs)
        ),
        examples=kept,
        skipped=len(examples) - len(kept),
    )


def _cost_usd(words: np.ndarray, price_per_m: np.ndarray) -> np.ndarray:
    out: np.ndarray = words * TOKENS_PER_WORD * price_per_m / 1e6
    return out


def score_choices(
    name: str, choice: np.ndarray, outcomes: TierOutcomes, price: np.ndarray | None = None
) -> dict[str, Any]:
    """Accuracy, mean words, cost and tier shares of answering question ``i`` with tier ``choice[i]``.

    ``price`` (USD per 1M output tokens, per question) defaults to the chosen tier model's price;
    pass it when a policy may choose another model of a tier (a category's model scores).
    """
    n = len(choice)
    rows = np.arange(n)
    ok = outcomes.correct[rows, choice]
    words = outcomes.words[rows, choice]
    p = outcomes.price[choice] if price is None else price
    cost = _cost_usd(words, p)
    return {
        "policy": name,
        "n": n,
        "accuracy": float(ok.mean()) if n else 0.0,
        "mean_words": float(words.mean()) if n else 0.0,
        "cost_usd": float(cost.sum()),
        "cost_per_1k_usd": float(cost.mean() * 1000) if n else 0.0,
        "share": {t: float((choice == i).mean()) if n else 0.0 for i, t in enumerate(outcomes.tiers)},
    }


def _oracle_choice(outcomes: TierOutcomes) -> np.ndarray:
    """Per question the cheapest tier that answered correctly; the cheapest of all when none did."""
    cost = _cost_usd(outcomes.words, outcomes.price[None, :])
    # wrong answers cost "infinitely" more, so argmin picks among the correct ones when any is;
    # ties keep the earlier (cheaper) tier, which is what argmin does
    penalised = np.where(outcomes.correct, cost, cost + 1e9)
    out: np.ndarray = np.argmin(penalised, axis=1)
    return out


def _random_mix(router_row: dict[str, Any], tier_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The expected result of sending each question to a random tier with the router's shares."""
    shares = router_row["share"]
    mix = {k: sum(shares[r["tier"]] * r[k] for r in tier_rows) for k in ("accuracy", "mean_words", "cost_per_1k_usd")}
    return {
        "policy": "random mix (same shares)",
        "n": router_row["n"],
        **mix,
        "cost_usd": mix["cost_per_1k_usd"] * router_row["n"] / 1000,
        "share": dict(shares),
    }


def _tier_index(d: RoutingDecision | PolicyOutcome, tiers: list[str]) -> int:
    if d.tier not in tiers:
        raise InputError(
            f"the policy chose {d.model} (tier {d.tier}), but no tier {d.tier} is configured, so no recorded "
            "outcome stands for it; add the tier, or drop the model from the category's model_scores"
        )
    return tiers.index(d.tier)


def _signals_of(d: RoutingDecision, config: RouterConfig) -> ClassifierSignals:
    """The signals a decision was made from, as far as the policy reads them (no embedding)."""
    return ClassifierSignals(
        scores=dict(d.scores),
        success={t.reference_model: d.success[t.name] for t in config.tiers},
        embedding=None,
        truncated=d.truncated,
    )


def sweep_values(config: RouterConfig, decisions: Sequence[RoutingDecision] = ()) -> tuple[str, list[float]]:
    """What the frontier sweep varies for this config's tier rule, and its values.

    Besides a fixed grid, the gain sweep takes every 5th percentile of the requests' best
    predicted gain (``decisions``): the gains of a real classifier bunch in a narrow band, and
    a fixed grid alone would leave the curve with few distinct points there.
    """
    p = config.policy
    if p.tier_rule == "complexity":
        return "cut-point shift", sorted({*_SHIFT_GRID, 0.0})
    values = {*_GAIN_GRID, p.gain_threshold}
    names = [t.name for t in config.tiers]
    if decisions and len(names) > 1:
        gains = [max(d.success[t] for t in names[1:]) - d.success[names[0]] for d in decisions]
        values |= {round(float(q), 4) for q in np.percentile(gains, np.arange(0, 101, 5))}
    return "gain_threshold", sorted(values)


def _policy_at(config: RouterConfig, value: float) -> DefaultPolicy:
    p = config.policy
    if p.tier_rule == "complexity":
        cuts = {t: min(1.0, max(0.0, c + value)) for t, c in p.complexity_cutpoints.items()}
        varied = p.model_copy(update={"complexity_cutpoints": cuts})
    else:
        varied = p.model_copy(update={"gain_threshold": value})
    refs = [t.reference_model for t in config.tiers]
    return DefaultPolicy(config.tiers, varied, refs, categories=config.categories, models=config.models)


def _price_of(d: RoutingDecision | PolicyOutcome, config: RouterConfig, tier_price: float) -> float:
    endpoint = config.endpoint(d.model)
    return endpoint.price_output_per_m if endpoint is not None else tier_price


def _route_all(router: SemanticRouter, texts: list[str], chunk: int = 256) -> list[RoutingDecision]:
    # Similar lengths share a batch: each batch is padded to its longest text.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the progress bar is a nicety of the eval extra
        starts: Any = range(0, len(order), chunk)
    else:
        starts = tqdm(range(0, len(order), chunk), desc="routing", unit="batch", leave=False)
    out: list[RoutingDecision | None] = [None] * len(texts)
    for s in starts:
        idx = order[s : s + chunk]
        for i, d in zip(idx, router.route_batch([texts[i] for i in idx]), strict=True):
            out[i] = d
    return [d for d in out if d is not None]


def evaluate_routing(router: SemanticRouter, examples: Sequence[Example], *, split: str = "test") -> dict[str, Any]:
    """Route every example with ``router``'s policy and score it on the recorded outcomes.

    Returns a JSON-serialisable report: the router's row, one row per tier alone, the random
    mix with the router's tier shares, the oracle, and the frontier sweep.
    """
    config = router.config
    outcomes = tier_outcomes(config, examples)
    if not outcomes.examples:
        raise InputError("no question has a recorded answer of every tier's reference model; nothing to score")
    decisions = _route_all(router, [e.text for e in outcomes.examples])
    tiers = outcomes.tiers
    choice = np.array([_tier_index(d, tiers) for d in decisions], dtype=np.int64)
    price = np.array(
        [_price_of(d, config, outcomes.price[c]) for d, c in zip(decisions, choice, strict=True)], dtype=np.float64
    )
    router_row = score_choices("sirp router", choice, outcomes, price)
    tier_rows = []
    for i, t in enumerate(tiers):
        row = score_choices(f"always {t} ({outcomes.models[i]})", np.full(len(choice), i), outcomes)
        tier_rows.append({**row, "tier": t})
    oracle = score_choices("oracle (cheapest correct)", _oracle_choice(outcomes), outcomes)

    swept, values = sweep_values(config, decisions)
    signals = [_signals_of(d, config) for d in decisions]
    curve = []
    for v in values:
        policy = _policy_at(config, v)
        ds = [policy.decide(s) for s in signals]
        c = np.array([_tier_index(d, tiers) for d in ds], dtype=np.int64)
        p = np.array([_price_of(d, config, outcomes.price[i]) for d, i in zip(ds, c, strict=True)], dtype=np.float64)
        curve.append({"value": v, **score_choices(f"{swept} {v}", c, outcomes, p)})

    small, large = tier_rows[0], tier_rows[-1]
    gap = large["accuracy"] - small["accuracy"]
    rows = [router_row, *tier_rows, _random_mix(router_row, tier_rows), oracle]
    for r in rows:
        r["pgr"] = (r["accuracy"] - small["accuracy"]) / gap if len(tiers) > 1 and abs(gap) > 1e-12 else None
    return {
        "split": split,
        "n": len(outcomes.examples),
        "skipped": outcomes.skipped,
        "tokens_per_word": TOKENS_PER_WORD,
        "tier_rule": config.policy.tier_rule,
        "tiers": [
            {"tier": t, "model": m, "reference_model": r, "price_output_per_m": float(p)}
            for t, m, r, p in zip(tiers, outcomes.models, outcomes.reference_models, outcomes.price, strict=True)
        ],
        "priced": bool(outcomes.price.any()),
        "rows": rows,
        "sweep": {"varies": swept, "current": _current(config), "curve": curve},
    }


def _current(config: RouterConfig) -> float:
    return 0.0 if config.policy.tier_rule == "complexity" else config.policy.gain_threshold


def format_table(report: dict[str, Any]) -> str:
    """The report as a Markdown table, with a line on the data and the cost estimate."""
    lines = [
        f"Routing on MMLU-Pro {report['split']} (n={report['n']}"
        + (f", {report['skipped']} skipped: no recorded answer" if report["skipped"] else "")
        + f"); tier rule: {report['tier_rule']}; cost ≈ output words × {report['tokens_per_word']} tokens "
        "× the model's price_output_per_m",
        "",
        "| policy | accuracy | PGR | mean words | cost / 1k questions (USD) | tier shares |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in report["rows"]:
        pgr = "–" if r["pgr"] is None else f"{r['pgr']:.3f}"
        shares = ", ".join(f"{t} {s:.0%}" for t, s in r["share"].items())
        lines.append(
            f"| {r['policy']} | {r['accuracy']:.3f} | {pgr} | {r['mean_words']:.1f} | "
            f"{r['cost_per_1k_usd']:.4f} | {shares} |"
        )
    if not report["priced"]:
        lines += ["", "No model has a price_output_per_m: configure models: with prices to compare costs."]
    tiers = ", ".join(f"{t['tier']} = {t['model']} (as {t['reference_model']})" for t in report["tiers"])
    lines += ["", f"Tiers: {tiers}."]
    return "\n".join(lines)


def write_frontier(report: dict[str, Any], path: Path) -> Path:
    """The accuracy–cost frontier as a PNG: the router's swept curve, its configured point, the baselines."""
    from sirp._imports import require

    plt = require("matplotlib.pyplot", extra="eval", purpose="Plotting the routing frontier")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Without prices, words are the cost that is known.
    key, label = ("cost_per_1k_usd", "cost per 1,000 questions (USD, estimated)")
    if not report["priced"]:
        key, label = ("mean_words", "mean words per answer")
    fig, ax = plt.subplots(figsize=(7, 5))
    curve = report["sweep"]["curve"]
    ax.plot(
        [p[key] for p in curve],
        [p["accuracy"] for p in curve],
        marker=".",
        lw=1.2,
        label=f"sirp router, {report['sweep']['varies']} swept",
    )
    rows = {r["policy"]: r for r in report["rows"]}
    router = rows["sirp router"]
    ax.scatter([router[key]], [router["accuracy"]], marker="*", s=220, zorder=5, label="sirp router (this config)")
    tier_rows = [r for r in report["rows"] if r["policy"].startswith("always ")]
    ax.plot(
        [r[key] for r in tier_rows], [r["accuracy"] for r in tier_rows], "k--", lw=0.8, label="random mixes of tiers"
    )
    for r in [*tier_rows, rows["oracle (cheapest correct)"]]:
        ax.scatter([r[key]], [r["accuracy"]], s=40, zorder=4)
        # short labels ("always llm", "oracle"): model names would run off the axes
        short = r["policy"].split(" (")[0]
        ax.annotate(short, (r[key], r["accuracy"]), textcoords="offset points", xytext=(6, -12), fontsize=8)
    ax.margins(x=0.12, y=0.08)
    ax.set_xlabel(label)
    ax.set_ylabel("accuracy (recorded answers)")
    ax.set_title(f"MMLU-Pro {report['split']}: accuracy vs cost (n={report['n']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
