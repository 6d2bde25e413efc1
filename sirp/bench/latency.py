"""``sirp bench latency``: one-query latency and batch throughput, side by side.

Variants (each measured in its own process: in one process they disturb each other badly):

- ``router``: ``SemanticRouter.route`` end to end (prompt checks, tokenising, ONNX int8, policy);
- ``onnx-int8`` / ``onnx-fp32``: tokenising + the ONNX Runtime graph of that precision;
- ``pytorch-fp32``: tokenising + the same model in PyTorch (needs torch and the checkpoint);
- ``signals-routing`` / ``signals-pii`` / ``signals-jailbreak`` / ``signals-all``: the cost of each
  signal: ``SignalExtractor.extract`` (tokenising, the int8 graph, reading the heads back: PII
  span decoding included) on the model's graph cut down to the routing heads (category, success,
  embedding), to those plus the PII head, plus the jailbreak head, or with every head (needs the
  ``onnx`` package to cut the graph, and a model with guard heads).

All variants see the same prompts, in the same order, with the same thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sirp.bench.prompts import EVERYDAY_PROMPTS

__all__ = ["VARIANTS", "format_table", "run_benchmark"]

VARIANTS = (
    "router",
    "onnx-int8",
    "onnx-fp32",
    "pytorch-fp32",
    "signals-routing",
    "signals-pii",
    "signals-jailbreak",
    "signals-all",
)
#: The heads each ``signals-*`` variant keeps besides the routing ones.
SIGNAL_HEADS: dict[str, tuple[str, ...]] = {
    "signals-routing": (),
    "signals-pii": ("pii",),
    "signals-jailbreak": ("jailbreak",),
    "signals-all": ("pii", "jailbreak"),
}
_ROUTING_HEADS = ("category", "success", "embedding")


def cut_folder(folder: Any, heads: Sequence[str], where: Path) -> Any:
    """A copy of ``folder`` whose int8 graph computes only the routing heads and ``heads``.

    ``onnx.utils.extract_model`` keeps the nodes those outputs need and drops the rest, so the
    graph does exactly the work of a model with only these heads.
    """
    import shutil

    import onnx.utils

    from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder

    m = folder.manifest
    keep = {h: n for h, n in m.outputs.items() if h in _ROUTING_HEADS or h in heads}
    where.mkdir(parents=True, exist_ok=True)
    onnx.utils.extract_model(
        str(folder.onnx_path("int8")), str(where / "model.int8.onnx"), list(m.inputs), list(keep.values())
    )
    shutil.copy(folder.tokenizer_path, where / "tokenizer.json")
    sub = m.model_copy(update={"outputs": keep, "files": {"int8": "model.int8.onnx"}, "tokenizer": "tokenizer.json"})
    (where / MANIFEST_NAME).write_text(sub.model_dump_json(indent=2), encoding="utf-8")
    return ModelFolder.load(where)


def _timed(fn: Any, items: Sequence[Any], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        for it in items:
            t = time.perf_counter()
            fn(it)
            times.append((time.perf_counter() - t) * 1000)
    return times


def _measure(
    variant: str,
    model: Path,
    checkpoint: Path | None,
    threads: int,
    repeats: int,
    batch_size: int,
    texts: list[str],
    config: Path | None = None,
) -> dict[str, Any]:
    from sirp.backends.model_folder import ModelFolder
    from sirp.backends.tokenization import Tokenizer

    folder = ModelFolder.load(model)
    tok = Tokenizer.from_folder(folder)
    if variant == "router":
        from sirp.config.loader import config_from_yaml
        from sirp.router import SemanticRouter

        base = config_from_yaml(config).model_dump(mode="json") if config is not None else {}
        base.setdefault("classifier", {}).update(
            model=str(model), threads=threads, precision="int8" if "int8" in folder.manifest.files else "fp32"
        )
        router = SemanticRouter(base)

        def one(t: str) -> Any:
            return router.route(t)

        def many(ts: list[str]) -> Any:
            return router.route_batch(ts)
    elif variant.startswith("onnx-"):
        from sirp.backends.onnx import OnnxBackend

        backend = OnnxBackend(folder, precision=variant.split("-")[1], threads=threads)  # type: ignore[arg-type]

        def one(t: str) -> Any:
            return backend.run(tok.encode([t]))

        def many(ts: list[str]) -> Any:
            return backend.run(tok.encode(ts))
    elif variant in SIGNAL_HEADS:
        import tempfile

        from sirp.backends.onnx import OnnxBackend
        from sirp.signals.classifier import SignalExtractor

        sub = cut_folder(folder, SIGNAL_HEADS[variant], Path(tempfile.mkdtemp(prefix="sirp-bench-")))
        ext = SignalExtractor(sub, OnnxBackend(sub, precision="int8", threads=threads), Tokenizer.from_folder(sub))

        def one(t: str) -> Any:
            return ext.extract([t])

        def many(ts: list[str]) -> Any:
            return ext.extract(ts)
    elif variant == "pytorch-fp32":
        import torch

        from sirp.training.modeling import ModernBertForRouting

        if checkpoint is None:
            raise SystemExit("pytorch-fp32 needs --checkpoint")
        torch.set_num_threads(threads)
        net = ModernBertForRouting.from_pretrained(checkpoint, local_files_only=True, attn_implementation="sdpa").eval()

        def _run(ts: list[str]) -> Any:
            b = tok.encode(ts)
            with torch.inference_mode():
                return net(input_ids=torch.from_numpy(b.input_ids), attention_mask=torch.from_numpy(b.attention_mask))

        def one(t: str) -> Any:
            return _run([t])

        many = _run
    else:
        raise SystemExit(f"unknown variant {variant}")
    _timed(one, texts[:8], 1)  # warm-up: first runs allocate and pick kernels
    lat = np.array(_timed(one, texts, repeats))
    batches = [texts[i : i + batch_size] for i in range(0, len(texts), batch_size)]
    batches = [b for b in batches if len(b) == batch_size] or [texts]
    many(batches[0])
    t0 = time.perf_counter()
    n = 0
    for _ in range(max(1, repeats)):
        for b in batches:
            many(b)
            n += len(b)
    seconds = time.perf_counter() - t0
    return {
        "variant": variant,
        "n": int(lat.size),
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "mean_ms": round(float(lat.mean()), 3),
        "batch_size": len(batches[0]),
        "throughput_per_s": round(n / seconds, 1),
        "threads": threads,
    }


def run_benchmark(
    model: Path,
    *,
    checkpoint: Path | None = None,
    variants: Sequence[str] = VARIANTS,
    threads: int = 2,
    repeats: int = 5,
    batch_size: int = 32,
    texts: Sequence[str] = EVERYDAY_PROMPTS,
    config: Path | None = None,
) -> list[dict[str, Any]]:
    """Measure each variant in a fresh subprocess; variants that cannot run here are reported as skipped."""
    from sirp.backends.model_folder import ModelFolder

    files = ModelFolder.load(model).manifest.files
    results = []
    for v in variants:
        reason = None
        if v == "onnx-int8" and "int8" not in files:
            reason = "model folder has no int8 graph"
        elif v == "onnx-fp32" and "fp32" not in files:
            reason = "model folder has no fp32 graph"
        elif v in SIGNAL_HEADS:
            import importlib.util

            outputs = ModelFolder.load(model).manifest.outputs
            lacking = [h for h in SIGNAL_HEADS[v] if h not in outputs]
            if lacking:
                reason = f"the model has no {' and no '.join(lacking)} head"
            elif "int8" not in files:
                reason = "model folder has no int8 graph"
            elif importlib.util.find_spec("onnx") is None:
                reason = "the onnx package is not installed (it cuts the graph down to the heads)"
        elif v == "pytorch-fp32":
            if checkpoint is None:
                reason = "no --checkpoint (PyTorch weights) given"
            else:
                try:
                    import importlib.util

                    if importlib.util.find_spec("torch") is None:
                        reason = 'torch is not installed (pip install "sirp[train]")'
                except ValueError:
                    reason = "torch is not importable"
        if reason:
            results.append({"variant": v, "skipped": reason})
            continue
        cmd = [
            sys.executable,
            "-m",
            "sirp.bench.latency",
            "--variant",
            v,
            "--model",
            str(model),
            "--threads",
            str(threads),
            "--repeats",
            str(repeats),
            "--batch-size",
            str(batch_size),
            "--texts-json",
            json.dumps(list(texts)),
        ]
        if checkpoint is not None:
            cmd += ["--checkpoint", str(checkpoint)]
        if config is not None:
            cmd += ["--config", str(config)]
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            results.append(
                {"variant": v, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
            )
            continue
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results


def format_table(results: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of the results, with speed-ups against PyTorch fp32 when measured."""
    base = next((r for r in results if r.get("variant") == "pytorch-fp32" and "p50_ms" in r), None)
    lines = ["| variant | p50 ms | p99 ms | batch | throughput/s | vs PyTorch p50 |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        if "p50_ms" not in r:
            lines.append(f"| {r['variant']} | – | – | – | – | {r.get('skipped') or r.get('error')} |")
            continue
        speed = f"{base['p50_ms'] / r['p50_ms']:.1f}×" if base else "–"
        lines.append(
            f"| {r['variant']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['batch_size']} "
            f"| {r['throughput_per_s']:.0f} | {speed} |"
        )
    return "\n".join(lines)


def _child() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--variant", required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--checkpoint", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--texts-json", required=True)
    p.add_argument("--config", type=Path)
    a = p.parse_args()
    r = _measure(
        a.variant, a.model, a.checkpoint, a.threads, a.repeats, a.batch_size, json.loads(a.texts_json), a.config
    )
    print(json.dumps(r))


if __name__ == "__main__":
    _child()
