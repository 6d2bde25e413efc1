"""``sirp bench reasoning`` figures: per mode and per category, comparisons, table and plots.

Accuracy counts a failed request as wrong (and reports how many failed); latency, time to first
token and tokens average over the requests that got an answer. Intervals are 95% percentile
bootstrap intervals over questions; a comparison of two modes resamples the questions both
answered, paired, so the interval is that of the difference.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sirp.bench.reasoning_results import Result

__all__ = ["bootstrap_mean", "format_table", "summarize", "write_plots"]

#: Which mode each other mode is compared with, when both ran (the paper's comparison first).
_COMPARISONS = (("routed", "reasoning"), ("routed", "direct"), ("reasoning", "direct"))


def bootstrap_mean(values: Sequence[float] | np.ndarray, *, n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``values`` (``nan`` for no values)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    # resample in blocks: one (n_boot × n) index matrix can be large for big runs
    means = []
    block = max(1, 2_000_000 // x.size)
    for start in range(0, n_boot, block):
        idx = rng.integers(0, x.size, size=(min(block, n_boot - start), x.size))
        means.append(x[idx].mean(axis=1))
    lo, hi = np.percentile(np.concatenate(means), [2.5, 97.5])
    return float(lo), float(hi)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _stats(results: Sequence[Result], *, n_boot: int, seed: int) -> dict[str, Any]:
    """The figures of one group of results (one mode, or one mode within one category)."""
    ok = [r for r in results if r.ok]
    correct = [1.0 if r.correct else 0.0 for r in results]
    # None rather than NaN: the report is JSON, and NaN is not
    lo, hi = bootstrap_mean(correct, n_boot=n_boot, seed=seed) if n_boot > 0 and results else (None, None)
    latency = [r.latency_ms for r in ok if r.latency_ms is not None]
    ttft = [r.ttft_ms for r in ok if r.ttft_ms is not None]
    models = Counter(r.model for r in ok if r.model is not None)
    return {
        "n": len(results),
        "errors": len(results) - len(ok),
        "unanswered": sum(1 for r in ok if r.answer is None),
        "accuracy": float(np.mean(correct)) if results else None,
        "accuracy_low": lo,
        "accuracy_high": hi,
        "latency_mean_ms": _mean(latency),
        "latency_p95_ms": float(np.percentile(latency, 95)) if latency else None,
        "ttft_mean_ms": _mean(ttft),
        "routing_mean_ms": _mean([r.routing_ms for r in ok if r.routing_ms is not None]),
        "prompt_tokens_mean": _mean([r.prompt_tokens for r in ok]),
        "completion_tokens_mean": _mean([r.completion_tokens for r in ok]),
        "reasoning_tokens_mean": _mean([r.reasoning_tokens for r in ok]),
        "reasoning_share": _mean([1.0 if r.reasoning else 0.0 for r in ok]),
        "models": {m: c / len(ok) for m, c in sorted(models.items())},
    }


def _change(new: float | None, old: float | None) -> float | None:
    """Relative change new vs old (−0.47 = 47% less)."""
    if new is None or old is None or old == 0:
        return None
    return new / old - 1


def _compare(
    by_mode: Mapping[str, dict[int, Result]], mode: str, against: str, *, n_boot: int, seed: int
) -> dict[str, Any]:
    common = sorted(set(by_mode[mode]) & set(by_mode[against]))
    a = [by_mode[mode][q] for q in common]
    b = [by_mode[against][q] for q in common]
    diff = np.array([float(x.correct) - float(y.correct) for x, y in zip(a, b, strict=True)])
    lo, hi = bootstrap_mean(diff, n_boot=n_boot, seed=seed) if n_boot > 0 and diff.size else (None, None)
    both = [(x, y) for x, y in zip(a, b, strict=True) if x.ok and y.ok]

    def change(attr: str) -> float | None:
        xs = [getattr(x, attr) for x, _ in both if getattr(x, attr) is not None]
        ys = [getattr(y, attr) for _, y in both if getattr(y, attr) is not None]
        return _change(_mean(xs), _mean(ys))

    return {
        "mode": mode,
        "against": against,
        "n": len(common),
        "accuracy_delta": float(diff.mean()) if diff.size else None,
        "accuracy_delta_low": lo,
        "accuracy_delta_high": hi,
        "latency_change": change("latency_ms"),
        "ttft_change": change("ttft_ms"),
        "completion_tokens_change": change("completion_tokens"),
    }


def summarize(
    results: Sequence[Result],
    modes: Sequence[str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON report of a run: ``meta`` as given, then per mode, per category and mode, comparisons."""
    by_mode: dict[str, dict[int, Result]] = {m: {} for m in modes}
    for r in results:
        if r.mode in by_mode:
            by_mode[r.mode][r.question_id] = r
    categories = sorted({r.category for r in results})
    per_category: dict[str, dict[str, Any]] = {}
    for c in categories:
        per_category[c] = {
            m: _stats([r for r in by_mode[m].values() if r.category == c], n_boot=n_boot, seed=seed) for m in modes
        }
    comparisons = [
        _compare(by_mode, a, b, n_boot=n_boot, seed=seed) for a, b in _COMPARISONS if a in by_mode and b in by_mode
    ]
    return {
        **(meta or {}),
        "questions": len({r.question_id for r in results}),
        "modes": {m: _stats(list(by_mode[m].values()), n_boot=n_boot, seed=seed) for m in modes},
        "categories": per_category,
        "comparisons": comparisons,
    }


def _f(value: float | None, fmt: str) -> str:
    return "–" if value is None or value != value else format(value, fmt)  # value != value: NaN


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1%}"


def format_table(report: Mapping[str, Any]) -> str:
    """The report as Markdown: per mode, comparisons, accuracy and completion tokens per category."""
    lines: list[str] = []
    head = report.get("title")
    if head:
        lines += [str(head), ""]
    lines += [
        "| mode | n | accuracy [95% CI] | mean latency ms | p95 latency ms | mean TTFT ms | of which routing ms | "
        "prompt tok | completion tok | reasoning tok | reasoning on | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, s in report["modes"].items():
        acc = f"{_f(s['accuracy'], '.3f')} [{_f(s['accuracy_low'], '.3f')}, {_f(s['accuracy_high'], '.3f')}]"
        lines.append(
            f"| {mode} | {s['n']} | {acc} | {_f(s['latency_mean_ms'], '.1f')} | {_f(s['latency_p95_ms'], '.1f')} | "
            f"{_f(s['ttft_mean_ms'], '.1f')} | {_f(s['routing_mean_ms'], '.1f')} | "
            f"{_f(s['prompt_tokens_mean'], '.1f')} | "
            f"{_f(s['completion_tokens_mean'], '.1f')} | {_f(s['reasoning_tokens_mean'], '.1f')} | "
            f"{_f(s['reasoning_share'], '.0%')} | {s['errors']} |"
        )
    if report["comparisons"]:
        lines += [
            "",
            "| comparison | n | accuracy Δ (points) [95% CI] | latency | TTFT | completion tokens |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for c in report["comparisons"]:
            d, lo, hi = c["accuracy_delta"], c["accuracy_delta_low"], c["accuracy_delta_high"]
            delta = "–" if d is None else f"{100 * d:+.1f}"
            if lo is not None and hi is not None:
                delta += f" [{100 * lo:+.1f}, {100 * hi:+.1f}]"
            lines.append(
                f"| {c['mode']} vs {c['against']} | {c['n']} | {delta} | {_pct(c['latency_change'])} | "
                f"{_pct(c['ttft_change'])} | {_pct(c['completion_tokens_change'])} |"
            )
    modes = list(report["modes"])
    if report["categories"]:
        lines += [
            "",
            "| category | n | " + " | ".join(f"{m} acc" for m in modes) + " | "
            + " | ".join(f"{m} compl. tok" for m in modes) + " |",
            "|---|---:|" + "---:|" * (2 * len(modes)),
        ]  # fmt: skip
        for cat, per_mode in report["categories"].items():
            n = max(s["n"] for s in per_mode.values())
            accs = " | ".join(_f(per_mode[m]["accuracy"], ".3f") for m in modes)
            toks = " | ".join(_f(per_mode[m]["completion_tokens_mean"], ".0f") for m in modes)
            lines.append(f"| {cat} | {n} | {accs} | {toks} |")
    note = report.get("note")
    if note:
        lines += ["", str(note)]
    return "\n".join(lines)


_COLOURS = {"direct": "#4C72B0", "reasoning": "#DD8452", "routed": "#55A868"}


def write_plots(report: Mapping[str, Any], out_dir: Path, *, prefix: str = "reasoning_") -> list[Path]:
    """Two PNGs in ``out_dir``: accuracy vs mean latency and vs mean completion tokens per mode
    (``<prefix>tradeoff.png``), and accuracy and completion tokens per category (``<prefix>categories.png``).
    """
    from sirp._imports import require

    plt = require("matplotlib.pyplot", extra="eval", purpose="Plotting the reasoning benchmark")
    out_dir.mkdir(parents=True, exist_ok=True)
    modes = {m: s for m, s in report["modes"].items() if s["accuracy"] is not None}
    title = str(report.get("plot_title") or "MMLU-Pro reasoning modes")
    paths = []

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, key, label in (
        (axes[0], "latency_mean_ms", "mean latency (ms)"),
        (axes[1], "completion_tokens_mean", "mean completion tokens (reasoning included)"),
    ):
        for m, s in modes.items():
            if s[key] is None:
                continue
            err = None
            if s["accuracy_low"] is not None:
                err = [[s["accuracy"] - s["accuracy_low"]], [s["accuracy_high"] - s["accuracy"]]]
            ax.errorbar([s[key]], [s["accuracy"]], yerr=err, fmt="o", ms=9, capsize=4, color=_COLOURS.get(m), label=m)
            ax.annotate(m, (s[key], s["accuracy"]), textcoords="offset points", xytext=(8, 6), fontsize=9)
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy (95% CI)")
        ax.grid(alpha=0.3)
        ax.margins(x=0.2, y=0.2)
    axes[0].legend(fontsize=8, loc="lower right")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = out_dir / f"{prefix}tradeoff.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    paths.append(path)

    cats = list(report["categories"])
    if cats:
        fig, axes = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True)
        width = 0.8 / max(1, len(modes))
        x = np.arange(len(cats))
        for i, m in enumerate(modes):
            acc = [report["categories"][c][m]["accuracy"] or 0.0 for c in cats]
            toks = [report["categories"][c][m]["completion_tokens_mean"] or 0.0 for c in cats]
            offset = (i - (len(modes) - 1) / 2) * width
            axes[0].bar(x + offset, acc, width, label=m, color=_COLOURS.get(m))
            axes[1].bar(x + offset, toks, width, label=m, color=_COLOURS.get(m))
        axes[0].set_ylabel("accuracy")
        axes[0].set_ylim(0, 1)
        axes[0].legend(fontsize=8, ncol=len(modes), loc="upper right")
        axes[1].set_ylabel("mean completion tokens")
        axes[1].set_xticks(x)
        axes[1].set_xticklabels(cats, rotation=35, ha="right")
        for ax in axes:
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle(f"{title}: per category", fontsize=11)
        fig.tight_layout()
        path = out_dir / f"{prefix}categories.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths
