"""The official ``openai`` client against a real server on loopback, which routes to fake upstreams over HTTP.

Two ways of running the server: the app on uvicorn in a thread (MockBackend: deterministic
routing, and a fake access layer where the test needs one), and ``sirp serve`` itself in a
subprocess with the bundled model. The upstream is ``sirp.testing.fake_openai`` on loopback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi", reason="the server needs the sirp[server] extra")
openai = pytest.importorskip("openai")
uvicorn = pytest.importorskip("uvicorn")

from sirp.backends.model_folder import MANIFEST_NAME, ModelManifest  # noqa: E402
from sirp.errors import AuthenticationError, RateLimitError  # noqa: E402
from sirp.testing.fake_openai import FakeOpenAI  # noqa: E402
from tests.synthetic import make_rows, make_tokenizer  # noqa: E402
from tests.unit.server.support import LONG, SHORT, build_app, make_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CATS = ["biology", "history", "law", "math"]


@pytest.fixture
def mock_folder(tmp_path: Path) -> Path:
    """A model folder MockBackend serves (as in tests/unit/conftest.py): its graph is never opened."""
    make_tokenizer(make_rows(200), tmp_path)
    (tmp_path / "model.int8.onnx").write_bytes(b"not used by MockBackend")
    manifest = ModelManifest(
        categories=CATS,
        reference_models=["small-model", "large-model"],
        embedding_dim=8,
        max_length=32,
        files={"int8": "model.int8.onnx"},
    )
    (tmp_path / MANIFEST_NAME).write_text(manifest.model_dump_json())
    return tmp_path


class Served:
    """An ASGI app served by uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", proxy_headers=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def served(mock_folder: Path, fake_openai: FakeOpenAI) -> Iterator[Served]:
    with Served(build_app(mock_folder, make_config(mock_folder, fake_openai))) as s:
        yield s


@pytest.fixture
def client(served: Served) -> Iterator[Any]:
    with openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


def msgs(text: str = SHORT) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


# -- chat completions --------------------------------------------------------------------------


def test_chat_sync_with_headers(client: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model="auto", messages=msgs())
    completion = raw.parse()
    assert completion.choices[0].message.content == f"Echo from small: {SHORT}"
    assert completion.model == "small" and completion.usage.total_tokens > 0
    assert raw.headers["x-sirp-decision"] == "model=small; tier=slm; reasoning=off"
    assert raw.headers["x-sirp-category"].split(";")[0] in CATS
    assert client.chat.completions.create(model="auto", messages=msgs(LONG)).model == "large"
    assert client.chat.completions.create(model="backup", messages=msgs()).model == "backup"


def test_chat_async_and_concurrent(served: Served) -> None:
    async def go() -> list[str]:
        async with openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0) as c:
            texts = [SHORT, LONG] * 5
            done = await asyncio.gather(*(c.chat.completions.create(model="auto", messages=msgs(t)) for t in texts))
            return [d.model for d in done]

    assert asyncio.run(go()) == ["small", "large"] * 5


def test_chat_streaming(client: Any) -> None:
    stream = client.chat.completions.create(
        model="auto", messages=msgs(), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Echo from small: {SHORT}"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_chat_async_streaming(served: Served) -> None:
    async def go() -> str:
        async with openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0) as c:
            stream = await c.chat.completions.create(model="auto", messages=msgs(LONG), stream=True)
            return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

    assert asyncio.run(go()).startswith("Echo from large: ")


def test_chat_tools_pass_through(client: Any) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    out = client.chat.completions.create(model="auto", messages=msgs(), tools=[tool], tool_choice="required")
    assert out.choices[0].message.tool_calls[0].function.name == "lookup"


# -- responses ---------------------------------------------------------------------------------


def test_responses_create_retrieve_chain_and_delete(client: Any, fake_openai: FakeOpenAI) -> None:
    first = client.responses.create(model="auto", input=SHORT, instructions="Be brief.")
    assert first.output_text == f"Echo from small: {SHORT}" and first.status == "completed"
    assert client.responses.retrieve(first.id).output_text == first.output_text
    second = client.responses.create(model="auto", input="and then?", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    sent = fake_openai.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    items = client.responses.input_items.list(second.id)
    assert [i.content[0].text for i in items.data] == ["and then?"]
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(first.id)


def test_responses_streaming(client: Any) -> None:
    events = list(client.responses.create(model="auto", input=SHORT, stream=True))
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == f"Echo from small: {SHORT}" == events[-1].response.output_text
    assert client.responses.retrieve(events[-1].response.id).output_text == deltas


def test_responses_stream_helper(client: Any) -> None:
    with client.responses.stream(model="auto", input=LONG) as stream:
        final = stream.get_final_response()
    assert final.output_text.startswith("Echo from large: ")


def test_responses_async(served: Served) -> None:
    async def go() -> tuple[str, str]:
        async with openai.AsyncOpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0) as c:
            r = await c.responses.create(model="auto", input=SHORT)
            again = await c.responses.create(model="auto", input="more", previous_response_id=r.id)
            return r.output_text, again.output_text

    first, second = asyncio.run(go())
    assert first.endswith(SHORT) and second.endswith("more")


def test_responses_function_call(client: Any) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    r = client.responses.create(model="auto", input="weather?", tools=[tool], tool_choice="required")
    call = next(i for i in r.output if i.type == "function_call")
    follow = client.responses.create(
        model="auto",
        previous_response_id=r.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        tools=[tool],
    )
    assert follow.output_text


# -- models, classify, metrics, probes ---------------------------------------------------------


def test_models(client: Any) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["auto", "small", "large", "backup"]
    large = client.models.retrieve("large")
    assert large.model_extra["capabilities"]["modalities"] == ["text", "image"]


def test_classify_metrics_and_probes(served: Served, client: Any) -> None:
    client.chat.completions.create(model="auto", messages=msgs())
    with httpx.Client(base_url=served.url) as h:
        one = h.post("/v1/classify", json={"input": LONG})
        assert one.json()["decision"]["tier"] == "llm" and one.headers["x-sirp-model"] == "large"
        batch = h.post("/v1/classify", json={"input": [SHORT, LONG]}).json()
        assert [d["decision"]["tier"] for d in batch["data"]] == ["slm", "llm"]
        metrics = h.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'sirp_requests_total{endpoint="/v1/chat/completions",method="POST",status="200"} 1.0' in metrics.text
        assert "sirp_classifier_latency_seconds_bucket" in metrics.text
        assert 'sirp_tokens_total{kind="prompt",model="small"}' in metrics.text
        assert h.get("/health").json() == {"status": "ok"}
        assert h.get("/ready").json()["status"] == "ready"


# -- errors ------------------------------------------------------------------------------------


def test_error_statuses_reach_the_client_as_its_exceptions(
    served: Served, client: Any, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(openai.NotFoundError) as nf:
        client.chat.completions.create(model="gpt-9", messages=msgs())
    assert nf.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="auto", messages=[{"role": "robot", "content": "x"}])
    assert bad.value.body["param"] == "messages[0].role"
    with pytest.raises(openai.APIStatusError) as big:
        client.chat.completions.create(model="auto", messages=msgs("x" * 9_000_000))
    assert big.value.status_code == 413
    fake_openai.behave("small", fail_status=500)
    fake_openai.behave("backup", fail_status=500)
    with pytest.raises(openai.InternalServerError) as upstream:
        client.chat.completions.create(model="auto", messages=msgs())
    assert upstream.value.status_code == 502 and upstream.value.body["type"] == "upstream_error"
    fake_openai.reset()
    assert client.chat.completions.create(model="auto", messages=msgs()).model == "small"


def test_a_slow_upstream_and_bad_requests_do_not_block_others(served: Served, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("large", delay_s=30)  # far longer than everything below: ends when the fake stops
    slow_client = openai.OpenAI(base_url=served.url + "/v1", api_key="x", max_retries=0, timeout=60)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool, httpx.Client(base_url=served.url) as h:
        slow = pool.submit(slow_client.chat.completions.create, model="large", messages=msgs())
        while not fake_openai.requests_for("large"):  # the slow call has reached the upstream
            time.sleep(0.01)
        for body in (b"{", b"[]", b'{"model": "auto"}'):
            assert h.post("/v1/chat/completions", content=body).status_code == 400
        fast = h.post("/v1/chat/completions", json={"model": "auto", "messages": msgs()})
        assert fast.status_code == 200 and not slow.done()
        fake_openai.stop()  # abandons the slow answer
        with pytest.raises(openai.APIError):
            slow.result(timeout=30)
    slow_client.close()


@dataclass(frozen=True)
class _Admission:
    allowed_models: frozenset[str] | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: {"x-ratelimit-remaining-requests": "4"})
    upstream_headers: Mapping[str, str] = field(default_factory=dict)


class _Access:
    async def admit(self, headers: Mapping[str, str], peer: str | None, *, model: str, estimated_tokens: int) -> Any:
        token = headers.get("authorization", "")
        if token == "Bearer limited":
            raise RateLimitError(
                "over 5 requests per minute", retry_after=7, headers={"x-ratelimit-limit-requests": "5"}
            )
        if token != "Bearer good":
            raise AuthenticationError("invalid token")
        return _Admission()

    async def record_usage(self, admission: Any, tokens: int) -> None:
        return None

    async def aclose(self) -> None:
        return None


def test_access_errors_through_the_client(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    app = build_app(mock_folder, make_config(mock_folder, fake_openai), access=_Access())
    with Served(app) as s:
        url = s.url + "/v1"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=url, api_key="bad", max_retries=0).chat.completions.create(
                model="auto", messages=msgs()
            )
        with pytest.raises(openai.RateLimitError) as limited:
            openai.OpenAI(base_url=url, api_key="limited", max_retries=0).chat.completions.create(
                model="auto", messages=msgs()
            )
        assert limited.value.response.headers["retry-after"] == "7"
        assert limited.value.response.headers["x-ratelimit-limit-requests"] == "5"
        raw = openai.OpenAI(base_url=url, api_key="good", max_retries=0).chat.completions.with_raw_response.create(
            model="auto", messages=msgs()
        )
        assert raw.headers["x-ratelimit-remaining-requests"] == "4"


# -- sirp serve itself -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_sirp_serve_with_the_bundled_model(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    cfg = tmp_path / "router.yaml"
    cfg.write_text(
        "classifier: {threads: 1}\n"
        "models:\n"
        f"  - {{name: llama-3.1-8b-instruct, tier: slm, base_url: '{fake_openai.base_url}', family: qwen3}}\n"
        f"  - {{name: llama-3.1-70b-instruct, tier: llm, base_url: '{fake_openai.base_url}', family: openai}}\n"
        "server: {auto_model: router}\n"
    )
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sirp.cli.main",
            "serve",
            "--config",
            str(cfg),
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(base + "/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "sirp serve did not become ready"
            time.sleep(0.2)
        with openai.OpenAI(base_url=base + "/v1", api_key="x", max_retries=0) as c:
            raw = c.chat.completions.with_raw_response.create(
                model="router", messages=[{"role": "user", "content": "What is the height of Mt. Everest?"}]
            )
            assert raw.parse().choices[0].message.content.endswith("Mt. Everest?")
            assert raw.headers["x-sirp-model"] in ("llama-3.1-8b-instruct", "llama-3.1-70b-instruct")
            decision = json.loads(
                httpx.post(base + "/v1/classify", json={"input": "Prove that there are infinitely many primes."}).text
            )["decision"]
            assert decision["category"] in decision["scores"] and len(decision["scores"]) == 14
            assert next(m.id for m in c.models.list()) == "router"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
