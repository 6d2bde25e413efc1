"""``sirp bench serve``: a bounded loopback load test of ``sirp serve``, with the direct path beside it.

What runs, all on ``127.0.0.1``:

- the **upstream**: :class:`~sirp.testing.fake_openai.FakeOpenAI` in a thread of this process
  (its request log is read at the end);
- the **router**: ``sirp serve`` itself, in a **subprocess** (``python -m sirp.cli.main serve``):
  the real command path (config file, CLI, ``uvicorn.run``), and above all its own interpreter.
  In a thread of this process it would share one GIL with the load generator and the fake
  upstream, and the client's own JSON and SSE work would be billed to the router;
- the **load**: the official ``openai`` ``AsyncOpenAI`` client, ``concurrency`` requests in
  flight, a seeded mix of routed (``model: "auto"``), pinned (a configured model name) and
  streamed requests (either kind) over the bundled everyday prompts.

**Added latency** is measured side by side in the same run: the requests go in blocks
(``concurrency × 5`` requests); each block is sent through the router, then the same requests are
sent straight to the upstream (same messages, same stream flag, the model that answered through
the router) at the same concurrency. A request's added latency is its router latency minus its
direct latency; p50/p99 are taken over those differences. End to end means to the last byte (the
last event of a stream).

**Lost requests**: every request carries an id (``X-Request-Id`` and a tag in its user message,
which the upstream echoes). Through the router, the answer must carry that id in its
``X-Request-Id`` header and in its text; directly, in its text. An answer without its own id, or
an id answered twice, is lost. The upstream's request log must hold every id exactly once and
nothing else (a retry or a fallback would show there).

The router's config is the given one with every model pointed at the fake upstream (one
provider, no key, no retries), the semantic cache off and the ``server:`` section replaced but
for ``auto_model`` (no access layer, in-memory response store, default header names).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sirp._imports import require
from sirp.bench.prompts import EVERYDAY_PROMPTS
from sirp.config.schema import RouterConfig
from sirp.errors import ConfigError, SirpError

__all__ = ["BenchRequest", "bench_config", "format_table", "plan_requests", "run_benchmark"]

#: Requests per block (router pass, then direct pass) = concurrency × this.
BLOCK_FACTOR = 5
_TAG = re.compile(r"\[((?:r|d|w)-[0-9a-f]+-\d+)\]")
_KINDS = ("auto", "pinned", "stream")


@dataclass(frozen=True)
class BenchRequest:
    """One request of the load: its index, prompt, model name (the auto model or a pin) and stream flag."""

    index: int
    prompt: str
    model: str
    stream: bool
    auto_model: str = "auto"

    @property
    def kind(self) -> str:
        """``stream`` (routed or pinned), ``pinned`` or ``auto``: the rows of the report."""
        return "stream" if self.stream else "auto" if self.model == self.auto_model else "pinned"


@dataclass
class _Outcome:
    rid: str
    latency_ms: float = 0.0
    model: str | None = None
    error: str | None = None
    detail: str | None = None
    id_ok: bool = False


def plan_requests(
    n: int,
    *,
    models: Sequence[str],
    auto_model: str = "auto",
    stream_share: float = 0.2,
    pinned_share: float = 0.2,
    seed: int = 0,
    prompts: Sequence[str] = EVERYDAY_PROMPTS,
) -> list[BenchRequest]:
    """The seeded request mix: each is streamed with ``stream_share``, pinned with ``pinned_share``."""
    if n < 1:
        raise ConfigError(f"--requests must be at least 1, got {n}")
    for name, share in (("--stream-share", stream_share), ("--pinned-share", pinned_share)):
        if not 0 <= share <= 1:
            raise ConfigError(f"{name} must be between 0 and 1, got {share}")
    if pinned_share > 0 and not models:
        raise ConfigError("pinned requests need configured models; set --pinned-share 0 or add models")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        stream = rng.random() < stream_share
        model = rng.choice(list(models)) if rng.random() < pinned_share else auto_model
        out.append(BenchRequest(i, rng.choice(list(prompts)), model, stream, auto_model))
    return out


def bench_config(config: RouterConfig, upstream_url: str, port: int) -> dict[str, Any]:
    """``config`` as the benchmark serves it: every model at ``upstream_url``, no cache, a plain server section.

    Without ``models:`` each tier's model is added, answering for its tier (the first tier's as a
    local Qwen3, the others as OpenAI reasoning models, so both reasoning syntaxes are exercised).
    """
    data = config.model_dump(mode="json")
    if data["models"]:
        for m in data["models"]:
            m.update(base_url=upstream_url, providers=[], api_key_env=None, max_retries=0)
    else:
        data["models"] = [
            {
                "name": t["model"],
                "tier": t["name"],
                "base_url": upstream_url,
                "family": "qwen3" if i == 0 else "openai",
                "local": i == 0,
                "max_retries": 0,
            }
            for i, t in enumerate(data["tiers"])
        ]
    data["cache"] = {"enabled": False}
    data["server"] = {"host": "127.0.0.1", "port": port, "auto_model": config.server.auto_model}
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) the process has used so far; ``None`` where ``/proc`` does not tell."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@contextlib.contextmanager
def _sirp_serve(config: dict[str, Any], *, startup_timeout_s: float = 180.0) -> Iterator[tuple[str, int]]:
    """Run ``sirp serve`` on ``config`` in a subprocess; yield its base URL and pid once ``/ready`` answers 200."""
    httpx = require("httpx", extra="server", purpose="sirp bench serve")
    with tempfile.TemporaryDirectory(prefix="sirp-bench-serve-") as tmp:
        path = Path(tmp) / "router.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        log = (Path(tmp) / "serve.log").open("w+", encoding="utf-8")
        cmd = [sys.executable, "-m", "sirp.cli.main", "serve", "--config", str(path), "--log-level", "warning"]
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        base = f"http://127.0.0.1:{config['server']['port']}"
        try:
            deadline = time.monotonic() + startup_timeout_s
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(base + "/ready", timeout=2).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = "\n".join(log.read().strip().splitlines()[-15:])
                    raise SirpError(f"sirp serve did not become ready (exit status {proc.poll()}):\n{tail}")
                time.sleep(0.2)
            yield base, proc.pid
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()


def _progress(total: int, enabled: bool) -> Any:
    if not enabled:
        return None
    try:
        tqdm = require("tqdm", extra="eval", purpose="The benchmark's progress bar").tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="req", desc="sirp bench serve", leave=False)


async def _send(client: Any, req: BenchRequest, rid: str, model: str, *, routed: bool) -> _Outcome:
    """One request, timed to its last byte; ``id_ok`` when the answer carries ``rid`` (header and text)."""
    out = _Outcome(rid)
    kw: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": f"[{rid}] {req.prompt}"}],
        "extra_headers": {"X-Request-Id": rid},
    }
    t0 = time.perf_counter()
    try:
        if req.stream:
            stream = await client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kw)
            parts: list[str] = []
            answered: str | None = None
            async for chunk in stream:
                answered = answered or chunk.model
                parts.extend(c.delta.content or "" for c in chunk.choices)
            headers, text = stream.response.headers, "".join(parts)
        else:
            raw = await client.chat.completions.with_raw_response.create(**kw)
            completion = raw.parse()
            headers, text, answered = raw.headers, completion.choices[0].message.content or "", completion.model
        out.latency_ms = (time.perf_counter() - t0) * 1000
    except Exception as err:  # every failure is counted, by kind, never raised
        status = getattr(err, "status_code", None)
        out.error = type(err).__name__ + (f" {status}" if status else "")
        cause = err.__cause__ or err.__context__
        out.detail = f"{err}" + (f" ({type(cause).__name__}: {cause})" if cause is not None else "")
        return out
    out.model = headers.get("x-sirp-model") if routed else answered
    out.id_ok = f"[{rid}]" in text and (not routed or headers.get("x-request-id") == rid)
    return out


async def _pass(
    client: Any, jobs: Sequence[tuple[BenchRequest, str, str]], concurrency: int, *, routed: bool, bar: Any
) -> tuple[list[_Outcome], float]:
    """Send ``jobs`` (request, id, model) with ``concurrency`` in flight; the outcomes in order and the wall time."""
    results: list[_Outcome | None] = [None] * len(jobs)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(jobs)):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            req, rid, model = jobs[i]
            results[i] = await _send(client, req, rid, model, routed=routed)
            if bar is not None:
                bar.update(1)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(jobs)))))
    return [r for r in results if r is not None], time.perf_counter() - t0


async def _load(
    router_url: str, upstream_url: str, plan: Sequence[BenchRequest], concurrency: int, token: str, progress: bool
) -> dict[str, Any]:
    openai = require("openai", extra="client", purpose="sirp bench serve")
    httpx = require("httpx", extra="client", purpose="sirp bench serve")

    def client(base_url: str) -> Any:
        # No retries: every failure counts. Idle connections are dropped after 2 s, before the
        # server's keep-alive timeout (uvicorn: 5 s, httpx's default expiry: 5 s too), else a
        # request can go out on a connection the server is closing at that moment (while the
        # direct pass runs, the router's connections sit idle for seconds).
        limits = httpx.Limits(
            max_connections=max(1000, 2 * concurrency),
            max_keepalive_connections=max(100, concurrency),
            keepalive_expiry=2.0,
        )
        http = openai.DefaultAsyncHttpxClient(limits=limits, timeout=120.0)
        return openai.AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=0, http_client=http)

    router = client(router_url + "/v1")
    direct = client(upstream_url)
    bar = _progress(2 * len(plan), progress)
    routed_out: list[_Outcome] = []
    direct_out: list[_Outcome] = []
    walls = {"routed": 0.0, "direct": 0.0}
    try:
        # warm-up, not counted: connections on both paths, the classifier's first runs
        warm = plan[:concurrency]
        w_out, _ = await _pass(
            router, [(r, f"w-{token}-{r.index}", r.model) for r in warm], concurrency, routed=True, bar=None
        )
        w_jobs = [(r, f"w-{token}-{len(plan) + r.index}", o.model or r.model) for r, o in zip(warm, w_out, strict=True)]
        await _pass(direct, w_jobs, concurrency, routed=False, bar=None)
        block = max(1, concurrency * BLOCK_FACTOR)
        for start in range(0, len(plan), block):
            part = plan[start : start + block]
            r_out, r_wall = await _pass(
                router, [(r, f"r-{token}-{r.index}", r.model) for r in part], concurrency, routed=True, bar=bar
            )
            # the same requests straight to the upstream, with the model that answered through the router
            jobs = [(r, f"d-{token}-{r.index}", o.model or r.model) for r, o in zip(part, r_out, strict=True)]
            d_out, d_wall = await _pass(direct, jobs, concurrency, routed=False, bar=bar)
            routed_out += r_out
            direct_out += d_out
            walls["routed"] += r_wall
            walls["direct"] += d_wall
    finally:
        if bar is not None:
            bar.close()
        await router.close()
        await direct.close()
    return {"routed": routed_out, "direct": direct_out, "walls": walls}


def _stats(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p99_ms": None, "mean_ms": None}
    a = np.asarray(values, dtype=float)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "mean_ms": round(float(a.mean()), 2),
    }


def _lost(outcomes: Sequence[_Outcome]) -> int:
    """Requests that came back without their own id, or whose id came back more than once (errors apart)."""
    back = Counter(o.rid for o in outcomes if o.error is None and o.id_ok)
    answered = [o for o in outcomes if o.error is None]
    return sum(1 for o in answered if back[o.rid] != 1)


def _upstream_check(log: Sequence[Any], expected: set[str], errored: frozenset[str] = frozenset()) -> dict[str, int]:
    """Every expected id exactly once in the upstream's log, and no request it cannot place.

    A request that failed before it reached the upstream (``errored``, already counted as an
    error) is counted apart, as ``errored_not_seen``, not as a mismatch.
    """
    seen: Counter[str] = Counter()
    unplaced = 0
    for req in log:
        body = req.body if isinstance(req.body, dict) else {}
        users = [
            m.get("content") for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"
        ]
        match = _TAG.match(users[-1]) if users and isinstance(users[-1], str) else None
        if match is None:
            unplaced += 1
        elif not match.group(1).startswith("w-"):
            seen[match.group(1)] += 1
    not_seen = {rid for rid in expected if seen[rid] == 0}
    mismatched = (
        len(not_seen - errored)
        + sum(1 for rid in expected if seen[rid] > 1)
        + sum(1 for rid in seen if rid not in expected)
    )
    return {"requests": len(log), "mismatched": mismatched + unplaced, "errored_not_seen": len(not_seen & errored)}


def run_benchmark(
    config: RouterConfig | None = None,
    *,
    requests: int = 2000,
    concurrency: int = 50,
    stream_share: float = 0.2,
    pinned_share: float = 0.2,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Start the fake upstream and ``sirp serve``, send the load, and report (see the module docstring)."""
    from sirp.config.loader import config_from_dict
    from sirp.testing.fake_openai import FakeOpenAI

    if concurrency < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {concurrency}")
    config = config if config is not None else config_from_dict({})
    token = os.urandom(3).hex()
    with FakeOpenAI() as upstream:
        # socketserver listens with a backlog of 5: at 50 connections in flight the kernel drops
        # SYNs and the client retries a second later. Listen again on this instance's socket.
        fake_server = getattr(upstream, "_server", None)
        if fake_server is not None:
            fake_server.socket.listen(1024)
        served = config_from_dict(bench_config(config, upstream.base_url, _free_port()), source="sirp bench serve")
        models = [m.name for m in served.models]
        plan = plan_requests(
            requests,
            models=models,
            auto_model=served.server.auto_model,
            stream_share=stream_share,
            pinned_share=pinned_share,
            seed=seed,
        )
        t0 = time.perf_counter()
        with _sirp_serve(served.model_dump(mode="json")) as (url, pid):
            startup_s = time.perf_counter() - t0
            cpu0 = _cpu_s(pid)
            res = asyncio.run(_load(url, upstream.base_url, plan, concurrency, token, progress))
            cpu1 = _cpu_s(pid)
        routed: list[_Outcome] = res["routed"]
        direct: list[_Outcome] = res["direct"]
        expected = {f"{p}-{token}-{r.index}" for r in plan for p in ("r", "d")}
        errored = frozenset(o.rid for o in (*routed, *direct) if o.error is not None)
        upstream_check = _upstream_check(upstream.requests, expected, errored)
    by_kind: dict[str, Any] = {}
    for kind in ("all", *_KINDS):
        idx = [i for i, r in enumerate(plan) if kind in ("all", r.kind)]
        ok = [i for i in idx if routed[i].error is None and direct[i].error is None]
        by_kind[kind] = {
            "requests": len(idx),
            "router": _stats([routed[i].latency_ms for i in idx if routed[i].error is None]),
            "direct": _stats([direct[i].latency_ms for i in idx if direct[i].error is None]),
            "added": _stats([routed[i].latency_ms - direct[i].latency_ms for i in ok]),
        }
    errors = Counter(
        f"{path}: {o.error}" for path, outs in (("router", routed), ("direct", direct)) for o in outs if o.error
    )
    walls = res["walls"]
    return {
        "requests": requests,
        "concurrency": concurrency,
        "stream_share": stream_share,
        "pinned_share": pinned_share,
        "seed": seed,
        "mix": dict(Counter(r.kind for r in plan)),
        "router_models": dict(Counter(o.model for o in routed if o.model)),
        "classifier": {"model": str(config.classifier.model or "bundled"), "threads": config.classifier.threads},
        "startup_s": round(startup_s, 1),
        # the router process's CPU time over the load (warm-up included), per request through it
        "router_cpu_ms_per_request": (
            round((cpu1 - cpu0) * 1000 / (len(plan) + min(concurrency, len(plan))), 2)
            if cpu0 is not None and cpu1 is not None
            else None
        ),
        "throughput_per_s": {
            "router": round(len(routed) / walls["routed"], 1) if walls["routed"] else None,
            "direct": round(len(direct) / walls["direct"], 1) if walls["direct"] else None,
        },
        "latency": by_kind,
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "error_examples": {
            f"{path}: {o.error}": o.detail
            for path, outs in (("router", routed), ("direct", direct))
            for o in outs
            if o.error
        },
        "lost": {"router": _lost(routed), "direct": _lost(direct)},
        "upstream": upstream_check,
    }


def format_table(result: dict[str, Any]) -> str:
    """The report as Markdown: one row per request kind, then throughput, errors and lost requests."""

    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v:.1f}"

    lines = [
        f"sirp bench serve: {result['requests']} requests at concurrency {result['concurrency']} "
        f"(mix {result['mix']}), classifier {result['classifier']['model']}",
        "",
        "| requests | n | router p50 ms | router p99 ms | direct p50 ms | direct p99 ms "
        "| added p50 ms | added p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, row in result["latency"].items():
        r, d, a = row["router"], row["direct"], row["added"]
        lines.append(
            f"| {kind} | {row['requests']} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {ms(d['p50_ms'])} "
            f"| {ms(d['p99_ms'])} | {ms(a['p50_ms'])} | {ms(a['p99_ms'])} |"
        )
    t = result["throughput_per_s"]
    up = result["upstream"]
    lines += [
        "",
        f"throughput: router {t['router']} req/s, direct {t['direct']} req/s; "
        f"router CPU per request: {result['router_cpu_ms_per_request']} ms",
        f"errors: {result['errors']}" + (f" {result['errors_by_kind']}" if result["errors"] else ""),
        *(f"  {kind}: {detail}" for kind, detail in result.get("error_examples", {}).items()),
        f"lost requests: router {result['lost']['router']}, direct {result['lost']['direct']}; "
        f"upstream log: {up['requests']} requests, {up['mismatched']} mismatched"
        + (f", {up['errored_not_seen']} failed before reaching it" if up.get("errored_not_seen") else ""),
    ]
    return "\n".join(lines)
