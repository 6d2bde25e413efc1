"""Every code block of the tutorials runs, so the docs cannot rot.

Pages: ``docs/getting-started.md``, ``docs/concepts.md`` and ``docs/tutorials/*.md``. Each page runs
in its own Python process (this file, run as a script) in a fresh temporary folder, its blocks in
page order, like a reader typing them into one session and one shell:

======================  ==========================================================================
block                   what the test does with it
======================  ==========================================================================
``python``              executed in one namespace per page; what it prints is its output
``pycon``               run as a doctest in that namespace (``...`` matches anything)
``bash`` / ``console``  run with ``bash -eo pipefail`` in the page's folder (the venv's ``sirp``,
                        ``python`` first on PATH); its stdout is its output
``yaml title="f"``      written to the file ``f`` (also ``json``, ``jsonl``, ``text`` with a title)
``yaml``                validated: a router config (``RouterConfig``), or a Kubernetes manifest
                        (``apiVersion`` + ``kind``) against the 1.33 schemas, strictly
``json``                parsed
``text title="Output"`` compared with the output of the block before it (``...`` matches anything)
``text`` (no title)     prose, shown as is
======================  ==========================================================================

Markers, HTML comments on the line right before a block (invisible on the site):

- ``<!-- skip: REASON -->``: not run here (a cluster, Docker, a package install, the benchmark data);
  the reason is required, and the blocks skipped are counted (``test_every_block_is_accounted_for``).
- ``<!-- background: URL -->`` (bash): started in the background, the next block waits until ``URL``
  answers 200; stopped when the page ends.

A page may start with a hidden setup, ``<!-- setup`` ... ``-->``, Python run before its first block
(e.g. a throwaway Redis); ``__docs_stack__`` (an ``ExitStack``) closes what it opens at the end, and
``__docs_repo__`` is the repository root (to link ``deploy/`` or ``examples/`` into the page's folder).

A block in any other language, or an unmarked block this file cannot run, fails the accounting test:
there is no silent skip.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def pages() -> list[Path]:
    found = [DOCS / "getting-started.md", DOCS / "concepts.md", *sorted((DOCS / "tutorials").glob("*.md"))]
    return [p for p in found if p.is_file()]


# ---- parsing -----------------------------------------------------------------------------------------

RUNNABLE = {"python", "pycon", "bash", "file", "config", "k8s", "json", "output"}
LANGS = {
    "python": "python",
    "py": "python",
    "pycon": "pycon",
    "bash": "bash",
    "sh": "bash",
    "shell": "bash",
    "console": "bash",
    "yaml": "yaml",
    "yml": "yaml",
    "json": "json",
    "jsonl": "json",
    "text": "text",
    "": "text",
}


@dataclass
class Block:
    page: str
    line: int  # 1-based line of the opening fence
    lang: str  # the fence's language as written
    kind: str  # python, pycon, bash, file, config, k8s, json, output, prose, skipped, setup
    code: str
    title: str | None = None
    reason: str | None = None  # skip reason
    wait_for: str | None = None  # background bash: URL to poll

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


class SnippetError(Exception):
    pass


_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<name>skip|background)\s*:\s*(?P<value>.*?)\s*-->\s*$")
_INCLUDE = re.compile(r"^\s*--8<--\s+\"(?P<path>[^\"]+)\"\s*$")


def _include(code: str, root: Path) -> str:
    """Resolve pymdownx.snippets lines (``--8<-- "path"``, relative to the repository root)."""
    out = []
    for line in code.splitlines():
        m = _INCLUDE.match(line)
        out.append((root / m["path"]).read_text().rstrip("\n") if m else line)
    return "\n".join(out) + "\n"


def parse_page(path: Path, root: Path = ROOT) -> list[Block]:
    rel = str(path.relative_to(root))
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    marker: tuple[str, str] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("<!-- setup"):
            end = next((j for j in range(i, len(lines)) if lines[j].strip().endswith("-->")), None)
            if end is None:
                raise SnippetError(f"{rel}:{i + 1}: unclosed <!-- setup comment")
            body = "\n".join(lines[i + 1 : end])
            blocks.append(Block(rel, i + 1, "python", "setup", textwrap.dedent(body)))
            i = end + 1
            continue
        m = _MARKER.match(line)
        if m:
            marker = (m["name"], m["value"])
            i += 1
            continue
        fence = _FENCE.match(line)
        if not fence:
            if line.strip():
                marker = None  # a marker applies to the block right after it only
            i += 1
            continue
        indent, ticks, info = fence["indent"], fence["fence"], fence["info"].strip()
        end = next(
            (j for j in range(i + 1, len(lines)) if lines[j].strip() == ticks and lines[j].startswith(indent)), None
        )
        if end is None:
            raise SnippetError(f"{rel}:{i + 1}: unclosed code block")
        code = _include(textwrap.dedent("\n".join(lines[i + 1 : end])), root)
        lang = info.split()[0].lstrip(".") if info else ""
        title_m = re.search(r'title="([^"]*)"', info)
        title = title_m[1] if title_m else None
        block = Block(rel, i + 1, lang, "", code, title)
        block.kind = _kind(block, marker)
        if marker and marker[0] == "skip":
            block.reason = marker[1]
        if marker and marker[0] == "background":
            block.wait_for = marker[1]
        blocks.append(block)
        marker = None
        i = end + 1
    return blocks


def _kind(block: Block, marker: tuple[str, str] | None) -> str:
    if marker and marker[0] == "skip":
        if not marker[1]:
            raise SnippetError(f"{block.where}: <!-- skip: ... --> needs a reason")
        return "skipped"
    lang = LANGS.get(block.lang)
    if lang is None:
        raise SnippetError(
            f"{block.where}: a ```{block.lang} block cannot be run here; mark it <!-- skip: why --> or use "
            f"one of {sorted(LANGS)}"
        )
    if marker and marker[0] == "background" and lang != "bash":
        raise SnippetError(f"{block.where}: only bash blocks run in the background")
    if lang == "text":
        if block.title == "Output":
            return "output"
        return "file" if block.title else "prose"
    if lang in ("yaml", "json") and block.title:
        return "file"
    if lang == "yaml":
        return (
            "k8s"
            if re.search(r"^apiVersion:", block.code, re.M) and re.search(r"^kind:", block.code, re.M)
            else "config"
        )
    return lang


def check_outputs_follow_runs(blocks: list[Block]) -> None:
    previous: Block | None = None
    for b in blocks:
        if b.kind == "output" and (previous is None or previous.kind not in ("python", "bash")):
            raise SnippetError(f"{b.where}: an Output block must follow a python or bash block that runs")
        if b.kind != "prose":
            previous = b


# ---- running (in the page's own process) ----------------------------------------------------------------


def matches(expected: str, actual: str) -> bool:
    """``actual`` fits ``expected``, where ``...`` stands for any text; line-end spaces are ignored."""

    def norm(s: str) -> str:
        return "\n".join(line.rstrip() for line in s.strip("\n").splitlines())

    pattern = ".*?".join(re.escape(part) for part in norm(expected).split("..."))
    return re.fullmatch(pattern, norm(actual), re.DOTALL) is not None


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SnippetError(
                f"the background command exited ({proc.returncode}) before {url} answered:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SnippetError(f"{url} did not answer within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _validate_k8s(code: str) -> None:
    import kubernetes_validate
    import yaml

    for doc in yaml.safe_load_all(code):
        if doc:
            kubernetes_validate.validate(doc, "1.33.0", strict=True)


def run_blocks(blocks: list[dict[str, Any]], report: Path) -> int:
    """Run one page's blocks in order in this process and folder; write what happened to ``report``."""
    from sirp import RouterConfig

    results: list[dict[str, Any]] = []
    stack = contextlib.ExitStack()
    namespace: dict[str, Any] = {"__name__": "__main__", "__docs_stack__": stack, "__docs_repo__": ROOT}
    background: list[tuple[subprocess.Popen[bytes], Path]] = []
    last_output = ""
    status = 0
    try:
        for raw in blocks:
            b = Block(**raw)
            started = time.perf_counter()
            result: dict[str, Any] = {"where": b.where, "kind": b.kind, "ok": True}
            try:
                if b.kind in ("python", "setup"):
                    out = io.StringIO()
                    with contextlib.redirect_stdout(out):
                        exec(compile(b.code, b.where, "exec"), namespace)
                    last_output = out.getvalue()
                    sys.stdout.write(last_output)
                elif b.kind == "pycon":
                    test = doctest.DocTestParser().get_doctest(b.code, namespace, b.where, b.page, b.line)
                    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
                    out = io.StringIO()
                    runner.run(test, out=out.write, clear_globs=False)
                    if runner.failures:
                        raise SnippetError(out.getvalue())
                elif b.kind == "bash" and b.wait_for:
                    log = Path(f".background-{b.line}.log")
                    proc = subprocess.Popen(
                        ["bash", "-eo", "pipefail", "-c", b.code],
                        stdout=log.open("wb"),
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                    background.append((proc, log))
                    _wait(b.wait_for, proc, log)
                    last_output = ""
                elif b.kind == "bash":
                    p = subprocess.run(
                        ["bash", "-eo", "pipefail", "-c", b.code], capture_output=True, text=True, timeout=300
                    )
                    last_output = p.stdout
                    sys.stdout.write(p.stdout + p.stderr)
                    if p.returncode != 0:
                        raise SnippetError(f"exit status {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
                elif b.kind == "file":
                    target = Path(b.title or "")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(b.code)
                elif b.kind == "config":
                    import yaml

                    RouterConfig.from_dict(yaml.safe_load(b.code) or {})
                elif b.kind == "k8s":
                    _validate_k8s(b.code)
                elif b.kind == "json":
                    for line in b.code.splitlines() if b.lang == "jsonl" else [b.code]:
                        if line.strip():
                            json.loads(line)
                elif b.kind == "output" and not matches(b.code, last_output):
                    raise SnippetError(f"output differs.\n--- expected:\n{b.code}\n--- got:\n{last_output}")
            except BaseException as err:
                import traceback

                result.update(ok=False, error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc()[-4000:])
                status = 1
            result["seconds"] = round(time.perf_counter() - started, 2)
            if b.kind in ("python", "bash", "setup"):
                result["output"] = last_output[-4000:]
            results.append(result)
            if not result["ok"]:
                break
    finally:
        for proc, _log in background:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc, _log in background:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        stack.close()
        report.write_text(json.dumps(results, indent=1))
    return status


# ---- the tests ----------------------------------------------------------------------------------------

import pytest  # noqa: E402  (the script part above runs without pytest)

EXECUTED = {"python", "pycon", "bash", "setup"}


def test_every_block_is_accounted_for() -> None:
    """Every block is run, written, validated or compared, or skipped with a reason; nothing else."""
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    assert pages(), "no tutorial pages found"
    for page in pages():
        blocks = parse_page(page)
        check_outputs_follow_runs(blocks)
        for b in blocks:
            assert b.kind in RUNNABLE | {"prose", "skipped", "setup"}, b
            counts[b.kind] += 1
            if b.kind == "skipped":
                reasons[b.reason or ""] += 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    print(f"\ndocs snippets: {summary}\nskipped, by reason: {dict(reasons)}")
    assert counts["python"] + counts["pycon"] + counts["bash"] > counts["skipped"], summary


def test_fixed_ports_are_found(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("```python\nFakeOpenAI(port=8001).start()\n```\n\n```bash\nsirp serve --port 8000\n```\n")
    assert fixed_ports(parse_page(page, tmp_path)) == {8000, 8001}


def test_output_matching() -> None:
    assert matches("a ... c", "a b c")
    assert matches("x\n...\nz", "x\ny1\ny2\nz\n")
    assert not matches("a b", "a c")
    assert matches("latency ... ms  ", "latency 2.1 ms")


def test_markers_are_checked(tmp_path: Path) -> None:
    page = tmp_path / "p.md"
    page.write_text("<!-- skip: -->\n```bash\nkubectl apply\n```\n")
    with pytest.raises(SnippetError, match="needs a reason"):
        parse_page(page, tmp_path)
    page.write_text("```dockerfile\nFROM x\n```\n")
    with pytest.raises(SnippetError, match="cannot be run here"):
        parse_page(page, tmp_path)
    page.write_text("<!-- skip: needs a cluster -->\n```bash\nkubectl apply\n```\n\n```bash\nsirp --version\n```\n")
    kinds = [b.kind for b in parse_page(page, tmp_path)]
    assert kinds == ["skipped", "bash"]  # a marker covers the next block only


def fixed_ports(blocks: list[Block]) -> set[int]:
    """The loopback ports a page listens on as written (``port=8001``, ``--port 8000``)."""
    ports: set[int] = set()
    for b in blocks:
        if b.kind in ("python", "bash", "setup"):
            ports.update(int(n) for n in re.findall(r"(?:port=|--port\s+)(\d{2,5})\b", b.code))
    return ports


def busy(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@pytest.mark.slow
@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_page_runs(page: Path, tmp_path: Path) -> None:
    blocks = parse_page(page)
    check_outputs_follow_runs(blocks)
    taken = sorted(port for port in fixed_ports(blocks) if busy(port))
    if taken:
        pytest.fail(
            f"{page.relative_to(ROOT)} listens on port(s) {taken} as its readers would, but something else "
            "listens there now (another server, e.g. `mkdocs serve` on 8000): stop it to run this page",
            pytrace=False,
        )
    todo = [asdict(b) for b in blocks if b.kind in RUNNABLE | {"setup"}]
    if not todo:
        pytest.skip(f"{page.name} has no block to run")
    plan, report = tmp_path / "plan.json", tmp_path / "report.json"
    plan.write_text(json.dumps(todo))
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "SIRP_", "ANTHROPIC_", "GEMINI_"))}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TQDM_DISABLE="1",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
    )
    p = subprocess.run(
        [sys.executable, __file__, str(plan), str(report)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    results = json.loads(report.read_text()) if report.is_file() else []
    failed = [r for r in results if not r["ok"]]
    if p.returncode != 0 or failed or len(results) != len(todo):
        detail = failed[0] if failed else {"stderr": p.stderr[-4000:]}
        pytest.fail(
            f"{page.relative_to(ROOT)}: block at {detail.get('where', '?')} failed: {detail.get('error', '')}\n"
            f"{detail.get('traceback', '')}{detail.get('stderr', '')}\n--- page output:\n{p.stdout[-3000:]}",
            pytrace=False,
        )


if __name__ == "__main__":
    sys.exit(run_blocks(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])))
