"""``sirp bench report``: the figures of every benchmark in one Markdown page and one PNG.

Each benchmark already writes JSON (``sirp eval --out``, ``sirp eval routing --out``,
``sirp bench latency --json``, ``sirp bench cache --json``, ``sirp bench reasoning --out``,
``sirp bench serve --json``, ``sirp bench extproc --json``). This module reads whichever of those
files it is given and lays them side by side, so the Benchmarks page shows one report made by
one command instead of numbers copied by hand. A file it has no dedicated section for is still
shown, as a table of its rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sirp.errors import InputError

__all__ = ["SECTIONS", "Report", "build_report", "load_inputs", "write_report"]

#: Input kinds with a dedicated section, in the order they appear.
SECTIONS = ("eval", "routing", "latency", "cache", "reasoning", "serve", "extproc")


@dataclass
class Report:
    """The report as Markdown lines, plus the data the summary plot draws."""

    lines: list[str] = field(default_factory=list)
    panels: dict[str, Any] = field(default_factory=dict)

    @property
    def markdown(self) -> str:
        """The report page."""
        return "\n".join(self.lines).rstrip() + "\n"


def load_inputs(paths: Mapping[str, Path]) -> dict[str, Any]:
    """Read each named JSON file; a missing or malformed file is an :class:`InputError`."""
    data: dict[str, Any] = {}
    for kind, path in paths.items():
        p = Path(path)
        if p.is_dir():
            p = p / "report.json"  # `--out` folders of sirp eval / eval routing / bench reasoning
        if not p.is_file():
            raise InputError(f"{kind}: {p} does not exist; run the benchmark with --out/--json first")
        try:
            data[kind] = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise InputError(f"{kind}: {p} is not JSON ({err}); pass the file the benchmark wrote") from err
    return data


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    if isinstance(v, Mapping):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items())
    if isinstance(v, list):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> list[str]:
    if not rows:
        return ["(no rows)", ""]
    cols = list(columns or [c for c in rows[0] if not isinstance(rows[0][c], (list, dict)) or c == "share"])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
    return [*out, ""]


def _rows_of(obj: Any) -> list[Mapping[str, Any]] | None:
    """The list of row dicts inside a benchmark's JSON, wherever it keeps them."""
    if isinstance(obj, list) and obj and all(isinstance(r, Mapping) for r in obj):
        return obj
    if isinstance(obj, Mapping):
        for key in ("rows", "results", "levels", "variants", "groups"):
            rows = _rows_of(obj.get(key))
            if rows:
                return rows
    return None


def _ci(d: Mapping[str, Any]) -> str:
    lo, hi = d["ci95"]
    return f"{d['pgr']:.3f} [{lo:.3f}, {hi:.3f}]"


def _eval(r: Report, d: Mapping[str, Any]) -> None:
    cat, rt = d["mmlu_pro"]["category"], d["mmlu_pro"]["routing"]
    r.lines += [
        "## Classifier quality (`sirp eval`)",
        "",
        f"Model `{Path(str(d.get('model', '?'))).name}`, {d.get('split', 'test')} split.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| MMLU-Pro category accuracy (n={cat['n']}) | {cat['accuracy']:.3f} |",
        f"| everyday questions accuracy (n={d['everyday']['n']}) | {d['everyday']['accuracy']:.3f} |",
        f"| AUC of 1 − success[{rt['small']}] for 'small wrong' | {rt['auc_small_wrong']:.3f} |",
        f"| PGR@50% {rt['small']} → {rt['large']} [95% CI] | {_ci(rt['pgr_at_50'])} |",
        f"| APGR | {rt['apgr']:.3f} |",
    ]
    if "gsm8k" in d:
        g = d["gsm8k"]
        r.lines.append(f"| GSM8K PGR@50% (n={g['n']}) [95% CI] | {_ci(g['pgr_at_50'])} |")
    r.lines.append("")
    r.panels["pgr"] = rt["curve"]


def _routing(r: Report, d: Mapping[str, Any]) -> None:
    r.lines += [f"## Routing policy on recorded outcomes (`sirp eval routing`, n={d.get('n', '?')})", ""]
    r.lines += _table(d["rows"], ["policy", "accuracy", "pgr", "mean_words", "cost_per_1k_usd", "share"])


def _latency(r: Report, d: Any) -> None:
    rows = _rows_of(d) or []
    r.lines += ["## Classifier latency (`sirp bench latency`)", ""]
    measured = [x for x in rows if "skipped" not in x]
    r.lines += _table(measured, ["variant", "threads", "p50_ms", "p99_ms", "mean_ms", "batch_size", "throughput_per_s"])
    r.lines += [f"- `{x['variant']}` skipped: {x['skipped']}" for x in rows if "skipped" in x]
    if len(measured) < len(rows):
        r.lines.append("")
    r.panels["latency"] = [(x["variant"], x["p50_ms"], x["p99_ms"]) for x in rows if "p50_ms" in x]


def _cache(r: Report, d: Mapping[str, Any]) -> None:
    r.lines += ["## Semantic cache (`sirp bench cache`)", ""]
    quality = d.get("quality", {})
    picked = []
    for enc, q in quality.items():
        for mode in ("plain", "guards"):
            at = q.get(mode, {}).get("at_picked")
            if at:
                picked.append({"encoder": enc, "guards": mode == "guards", **{k: at[k] for k in at if k != "by_kind"}})
    if picked:
        r.lines += ["Hit and false-hit rate at the picked threshold (held-out half of the pairs):", ""]
        r.lines += _table(picked)
    if d.get("latency"):
        r.lines += ["Lookup latency:", ""]
        r.lines += _table(d["latency"], ["backend", "entries", "p50_ms", "p99_ms", "cpu_p50_ms", "put_p50_ms"])
    r.panels["cache"] = {
        f"{enc} ({mode})": (q[mode]["tune"]["false_hit_rate"], q[mode]["tune"]["hit_rate"])
        for enc, q in quality.items()
        for mode in ("plain", "guards")
        if mode in q and "tune" in q[mode]
    }


def _reasoning(r: Report, d: Mapping[str, Any]) -> None:
    r.lines += [f"## Reasoning modes (`sirp bench reasoning`): {d.get('title', '')}", ""]
    if d.get("offline"):
        r.lines += ["Offline replay of recorded outcomes with a synthetic latency model, not live model calls.", ""]
    modes = [{"mode": m, **v} for m, v in d["modes"].items()]
    r.lines += _table(
        modes,
        [
            *("mode", "n", "accuracy", "accuracy_low", "accuracy_high"),
            *("latency_mean_ms", "latency_p95_ms", "ttft_mean_ms"),
            *("completion_tokens_mean", "reasoning_tokens_mean", "reasoning_share"),
        ],
    )
    r.panels["reasoning"] = [(m["mode"], m["latency_mean_ms"], m["accuracy"]) for m in modes]


def _generic(title: str) -> Any:
    def section(r: Report, d: Any) -> None:
        r.lines += [f"## {title}", ""]
        rows = _rows_of(d)
        if rows is not None:
            r.lines += _table(rows)
        elif isinstance(d, Mapping):
            r.lines += _table([{"figure": k, "value": v} for k, v in d.items() if not isinstance(v, (list, dict))])
        else:
            r.lines += ["(unrecognised JSON)", ""]

    return section


_SECTION = {
    "eval": _eval,
    "routing": _routing,
    "latency": _latency,
    "cache": _cache,
    "reasoning": _reasoning,
    "serve": _generic("Server under load (`sirp bench serve`)"),
    "extproc": _generic("Envoy external processor (`sirp bench extproc`)"),
}


def build_report(data: Mapping[str, Any], *, title: str = "sirp benchmark report") -> Report:
    """The Markdown report of every input given, in :data:`SECTIONS` order, then any others."""
    report = Report(lines=[f"# {title}", ""])
    kinds = [k for k in SECTIONS if k in data] + [k for k in data if k not in SECTIONS]
    for kind in kinds:
        try:
            _SECTION.get(kind, _generic(kind))(report, data[kind])
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(
                f"{kind}: the JSON does not look like the output of that benchmark ({type(err).__name__}: {err}); "
                "pass the file its --out/--json wrote"
            ) from err
    if report.panels:
        report.lines += ["![summary](summary.png)", ""]
    return report


def _plot(report: Report, path: Path) -> None:
    from sirp._imports import require

    plt = require("matplotlib.pyplot", extra="eval", purpose="Plotting the benchmark report")
    panels = report.panels
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (name, data) in zip(axes[0], panels.items(), strict=True):
        if name == "pgr":
            share = [p["share"] for p in data]
            ax.plot(share, [p["pgr"] for p in data], marker="o", label="sirp")
            ax.fill_between(share, [p["low"] for p in data], [p["high"] for p in data], alpha=0.2)
            ax.plot([0, 1], [0, 1], ls="--", c="grey", label="random")
            ax.set(xlabel="share sent to the large tier", ylabel="PGR", title="Routing quality (MMLU-Pro test)")
            ax.legend()
        elif name == "latency":
            names = [v for v, _, _ in data]
            ax.bar(names, [p99 for _, _, p99 in data], color="#bbb", label="p99")
            ax.bar(names, [p50 for _, p50, _ in data], label="p50")
            ax.set(ylabel="ms per query", title="Classifier latency")
            ax.tick_params(axis="x", rotation=30)
            ax.legend()
        elif name == "cache":
            for label, (fhr, hr) in data.items():
                ax.plot(fhr, hr, marker=".", label=label)
            ax.set(xlabel="false-hit rate", ylabel="hit rate", title="Semantic cache: thresholds")
            ax.legend(fontsize=7)
        elif name == "reasoning":
            for mode, lat, acc in data:
                ax.scatter(lat, acc, s=60)
                ax.annotate(mode, (lat, acc), textcoords="offset points", xytext=(5, 5))
            ax.set(xlabel="mean latency (ms)", ylabel="accuracy", title="Reasoning modes")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(report: Report, out: Path) -> list[Path]:
    """Write ``report.md`` (and ``summary.png`` when there is something to draw) into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md"]
    written[0].write_text(report.markdown, encoding="utf-8")
    if report.panels:
        _plot(report, out / "summary.png")
        written.append(out / "summary.png")
    return written
