"""A fake OpenAI-compatible server on loopback, for testing dispatch end to end over real HTTP.

Standard library only (``http.server`` in a background thread). It answers
``POST /v1/chat/completions`` (JSON, or server-sent events when ``stream`` is set, with usage in
a last chunk when ``stream_options.include_usage`` is) and ``GET /v1/models``, records every
request's headers and JSON body, and can be told, per model name, to misbehave::

    with FakeOpenAI() as server:
        server.behave("small", fail_status=503, times=2)          # two 503s, then answers
        server.behave("large", delay_s=5)                         # slow: clients time out
        server.behave("other", fail_status=429, retry_after="1")  # rate limited
        server.behave("junk", garbage=True)                       # 200 with a body that is not JSON
        server.behave("gone", drop=True)                          # closes the connection, no answer
        ... OpenAI(base_url=server.base_url, api_key="x") ...
        server.requests[-1].body                                  # exactly what the client sent

Answers echo the last user message and carry usage; when the request asks for reasoning in any
family's syntax (:func:`sirp.providers.reasoning.asks_for_reasoning`) they also carry
``reasoning_content`` and ``usage.completion_tokens_details.reasoning_tokens``.

Enough of the API is there for LangChain's and LlamaIndex's OpenAI clients to run their standard
tests against it, deterministically:

- **tool calls**: with ``tools`` and ``tool_choice`` ``"required"`` (or a named function) the
  answer calls that tool (the first one for ``"required"``), streamed as ``tool_calls`` deltas
  too; with ``tool_choice`` ``"auto"`` (or none) it does so only when the server was made with
  ``call_tools=True``, and never right after a tool result (then it answers in text);
- **structured output**: ``response_format`` ``json_schema`` answers a JSON document of that
  schema, ``json_object`` an object whose keys are the words quoted in the last user message;
- **stop**: the answer is cut before the first ``stop`` sequence.

A ``responder`` (constructor argument) can answer chat completions itself: it gets each request's
JSON body and returns ``None`` (answer as usual) or a list of ``(wait_s, JSON object)`` pairs: for a
plain request one pair, the completion, sent after its wait; for a streamed one the chunks, each
sent as an event after its wait (``behave()`` misbehaviour still comes first).
:mod:`sirp.testing.recorded` answers MMLU-Pro questions this way, from recorded outcomes.

Made-up values follow the last user message: integers and numbers are the numbers it contains,
in order; strings are its quoted phrases, in order, then the message itself. So "What is
magic_function(3)?" calls ``magic_function`` with ``{"input": 3}``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple

from sirp.providers.reasoning import asks_for_reasoning

__all__ = ["REASONING_TOKENS", "Behaviour", "FakeOpenAI", "RecordedRequest", "Responder"]

#: Reasoning tokens every answer that was asked to reason reports.
REASONING_TOKENS = 42
_REASONING_TEXT = "Let me think this through step by step."
_GARBAGE = b"<html><body>502 Bad Gateway? no: this is not JSON</body></html>"

#: Answers chat completions in a test's place: request body → ``None`` or ``(wait_s, JSON object)`` pairs.
Responder = Callable[[dict[str, Any]], Sequence[tuple[float, dict[str, Any]]] | None]


@dataclass
class Behaviour:
    """How the server treats requests for one model (the default: answer at once)."""

    delay_s: float = 0.0
    """wait this long before answering (a client with a shorter timeout gives up)"""
    fail_status: int | None = None
    """answer with this HTTP status and an OpenAI-style error body"""
    retry_after: str | None = None
    """``Retry-After`` header sent with ``fail_status``"""
    garbage: bool = False
    """answer 200 with a body that is not JSON"""
    drop: bool = False
    """close the connection without answering"""
    times: int | None = None
    """misbehave for this many requests only, then answer normally (``None``: always)"""
    content: str | None = None
    """the answer's text (default: an echo of the last user message)"""
    chunk_delay_s: float = 0.0
    """wait between streamed chunks"""
    break_stream_after: int | None = None
    """close a streamed answer's connection after this many chunks (a protocol error)"""
    end_stream_after: int | None = None
    """end a streamed answer cleanly after this many chunks, without finish_reason or ``[DONE]``"""


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)
    peer: tuple[str, int] | None = None
    """The client's address and port: one port per TCP connection, so reuse is visible."""

    @property
    def model(self) -> str | None:
        """The ``model`` field of the JSON body, if any."""
        return self.body.get("model") if isinstance(self.body, dict) else None


def _words(text: str) -> int:
    return len(text.split())


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")


class _Filler:
    """Made-up values for a JSON schema, taken from the last user message (see the module docstring)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.numbers = [float(n) for n in _NUMBER.findall(text)]
        self.quoted = [a or b for a, b in _QUOTED.findall(text)]

    def number(self) -> float:
        return self.numbers.pop(0) if self.numbers else 0.0

    def string(self) -> str:
        return self.quoted.pop(0) if self.quoted else (self.text or "fake")

    def value(self, schema: Any, defs: Mapping[str, Any], depth: int = 0) -> Any:
        if not isinstance(schema, Mapping) or depth > 8:
            return self.string()
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.value(defs.get(ref.rsplit("/", 1)[-1], {}), defs, depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            options = [o for o in schema.get(key) or [] if not (isinstance(o, Mapping) and o.get("type") == "null")]
            if options:
                return self.value(options[0], defs, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "object" or "properties" in schema:
            props = schema.get("properties") or {}
            return {name: self.value(sub, defs, depth + 1) for name, sub in props.items()}
        if kind == "array":
            return [self.value(schema.get("items") or {}, defs, depth + 1)]
        if kind == "integer":
            return int(self.number())
        if kind == "number":
            return self.number()
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.string()


def _schema_value(schema: Any, text: str) -> Any:
    defs: dict[str, Any] = {}
    if isinstance(schema, Mapping):
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _Filler(text).value(schema, defs)


class _Reply(NamedTuple):
    """What one answer holds, streamed or not."""

    content: str | None
    tool_calls: list[dict[str, Any]]
    reasoning: bool
    usage: dict[str, Any]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOpenAI

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up mid-answer are expected here, not errors.
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart (Nagle vs delayed ACK)
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing --------------------------------------------------------------------------

    def _send_json(self, status: int, data: Any, headers: Mapping[str, str] | None = None) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def _error(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
        self._send_json(status, {"error": {"message": message, "type": kind, "code": status}}, headers)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may be gone already
            self.connection.shutdown(socket.SHUT_RDWR)

    def _record(self, body: Any) -> None:
        req = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            peer=(str(self.client_address[0]), int(self.client_address[1])),
        )
        self.server.fake._record(req)

    # -- routes ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/") == "/v1/models":
            models = self.server.fake.model_names()
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "sirp-fake"} for m in models]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError:
            self._record(raw.decode("utf-8", "replace"))
            self._error(400, "request body is not JSON")
            return
        self._record(body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        if not isinstance(body, dict) or not isinstance(body.get("model"), str) or "messages" not in body:
            self._error(400, "a chat completion needs 'model' and 'messages'")
            return
        model = body["model"]
        fake = self.server.fake
        b = fake._behaviour_for(model)
        if b.delay_s and fake._stopping.wait(b.delay_s):
            return
        if b.drop:
            self._drop()
            return
        if b.fail_status is not None:
            headers = {"Retry-After": b.retry_after} if b.retry_after is not None else None
            self._error(b.fail_status, f"{model} is failing on purpose (HTTP {b.fail_status})", headers)
            return
        if b.garbage:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(_GARBAGE)))
            self.end_headers()
            self.wfile.write(_GARBAGE)
            return
        scripted = fake.responder(body) if fake.responder is not None else None
        if scripted is not None:
            self._scripted(body, scripted)
        elif body.get("stream"):
            self._stream(body, b)
        else:
            self._send_json(200, self._completion(body, b))

    # -- answers ---------------------------------------------------------------------------

    def _tool_calls(self, body: dict[str, Any], last_user: str) -> list[dict[str, Any]]:
        offered = body.get("tools") or []
        tools = [t for t in offered if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)]
        choice = body.get("tool_choice", "auto")
        if not tools or choice == "none":
            return []
        if isinstance(choice, Mapping):
            wanted = (choice.get("function") or {}).get("name")
            tool = next((t for t in tools if t["function"].get("name") == wanted), None)
            if tool is None:
                return []
        elif choice == "required":
            tool = tools[0]
        else:
            messages = body.get("messages") or []
            last_role = messages[-1].get("role") if messages and isinstance(messages[-1], Mapping) else None
            if not self.server.fake.call_tools or last_role == "tool":
                return []
            tool = tools[0]
        fn = tool["function"]
        args = _schema_value(fn.get("parameters") or {"type": "object"}, last_user)
        call_id = f"call_fake_{self.server.fake._next_id()}"
        arguments = json.dumps(args if isinstance(args, dict) else {}, ensure_ascii=False)
        return [{"id": call_id, "type": "function", "function": {"name": fn.get("name", ""), "arguments": arguments}}]

    @staticmethod
    def _structured(body: dict[str, Any], last_user: str) -> str | None:
        fmt = body.get("response_format")
        if not isinstance(fmt, Mapping):
            return None
        if fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
            return json.dumps(_schema_value(schema, last_user), ensure_ascii=False)
        if fmt.get("type") == "json_object":
            keys = [a or b for a, b in _QUOTED.findall(last_user)] or ["answer"]
            return json.dumps({k: f"fake {k}" for k in keys}, ensure_ascii=False)
        return None

    def _reply(self, body: dict[str, Any], b: Behaviour) -> _Reply:
        messages = body.get("messages") or []
        users = [_text(m.get("content")) for m in messages if isinstance(m, Mapping) and m.get("role") == "user"]
        last_user = users[-1] if users else ""
        tool_calls = self._tool_calls(body, last_user)
        content: str | None
        if b.content is not None:
            content = b.content
        elif tool_calls:
            content = None
        else:
            content = self._structured(body, last_user)
            if content is None:
                content = f"Echo from {body['model']}: {last_user}"
        stop = body.get("stop")
        for s in [stop] if isinstance(stop, str) else stop if isinstance(stop, list) else []:
            if isinstance(s, str) and s and content is not None and s in content:
                content = content[: content.index(s)]
        reasoning = asks_for_reasoning(body)
        prompt_tokens = sum(_words(_text(m.get("content"))) + 4 for m in messages if isinstance(m, Mapping))
        reasoning_tokens = REASONING_TOKENS if reasoning else 0
        answer_words = _words(content or "") + sum(_words(c["function"]["arguments"]) for c in tool_calls)
        completion_tokens = answer_words + reasoning_tokens
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        }
        return _Reply(content, tool_calls, reasoning, usage)

    def _completion(self, body: dict[str, Any], b: Behaviour) -> dict[str, Any]:
        reply = self._reply(body, b)
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        if reply.reasoning:
            message["reasoning_content"] = _REASONING_TEXT
        return {
            "id": f"chatcmpl-fake-{self.server.fake._next_id()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason, "logprobs": None}],
            "usage": reply.usage,
        }

    def _chunks(self, body: dict[str, Any], b: Behaviour) -> Iterator[dict[str, Any]]:
        reply = self._reply(body, b)
        base = {
            "id": f"chatcmpl-fake-{self.server.fake._next_id()}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        yield chunk({"role": "assistant", "content": ""})
        if reply.reasoning:
            yield chunk({"reasoning_content": _REASONING_TEXT})
        if reply.content is not None:
            words = reply.content.split(" ")
            for i, w in enumerate(words):
                yield chunk({"content": w if i == len(words) - 1 else w + " "})
        for i, call in enumerate(reply.tool_calls):
            # As OpenAI streams them: id, type and name first, then the arguments in pieces.
            fn = call["function"]
            head = {"index": i, "id": call["id"], "type": "function", "function": {"name": fn["name"], "arguments": ""}}
            yield chunk({"tool_calls": [head]})
            args = fn["arguments"]
            half = len(args) // 2
            for piece in (args[:half], args[half:]):
                if piece:
                    yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        yield chunk({}, reply.finish_reason)
        options = body.get("stream_options") or {}
        if isinstance(options, Mapping) and options.get("include_usage"):
            yield {**base, "choices": [], "usage": reply.usage}

    def _write_chunk(self, data: bytes) -> None:
        # Chunked transfer encoding, as real servers stream: a connection closed before the
        # terminating empty chunk is then a visible protocol error, not a normal end.
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, body: dict[str, Any], b: Behaviour) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        stopping = self.server.fake._stopping
        for n, c in enumerate(self._chunks(body, b)):
            if b.break_stream_after is not None and n >= b.break_stream_after:
                self._drop()
                return
            if b.end_stream_after is not None and n >= b.end_stream_after:
                self._write_chunk(b"")
                return
            if n and b.chunk_delay_s and stopping.wait(b.chunk_delay_s):
                return
            self._write_chunk(b"data: " + json.dumps(c).encode() + b"\n\n")
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _scripted(self, body: dict[str, Any], parts: Sequence[tuple[float, dict[str, Any]]]) -> None:
        """Send a responder's answer: the (last) completion after every wait, or each chunk after its own."""
        stopping = self.server.fake._stopping
        if not body.get("stream"):
            wait = sum(w for w, _ in parts)
            if wait > 0 and stopping.wait(wait):
                return
            self._send_json(200, parts[-1][1])
            return
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        for wait, data in parts:
            if wait > 0 and stopping.wait(wait):
                return
            self._write_chunk(b"data: " + json.dumps(data).encode() + b"\n\n")
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")


class FakeOpenAI:
    """An OpenAI-compatible HTTP server on ``127.0.0.1`` (a free port) in a background thread.

    Use as a context manager, or :meth:`start` / :meth:`stop`. Thread-safe: requests are
    served concurrently and recorded in arrival order in :attr:`requests`. ``call_tools=True``
    makes it call a tool whenever a request offers tools with ``tool_choice`` "auto", as an agent
    loop expects (see the module docstring).
    """

    def __init__(
        self,
        *,
        models: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        call_tools: bool = False,
        responder: Responder | None = None,
    ) -> None:
        #: With ``tools`` and ``tool_choice`` "auto": call the first tool (unless answering a tool result).
        self.call_tools = call_tools
        #: Answers chat completions instead of the built-in echo where it returns something (module docstring).
        self.responder = responder
        self._host = host
        self._port = port
        self._models = list(models)
        self._lock = threading.Lock()
        self._behaviours: dict[str, Behaviour] = {}
        self._requests: list[RecordedRequest] = []
        self._ids = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        """Start serving; returns ``self``."""
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.fake = self
        self._server = server
        # A short poll interval makes stop() quick (the default waits up to half a second).
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; slow answers in progress are abandoned."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on (once started)."""
        if self._server is None:
            raise RuntimeError("the fake server is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: the ``base_url`` for an OpenAI client."""
        return f"http://{self._host}:{self.port}/v1"

    # -- behaviour and records -------------------------------------------------------------

    def behave(self, model: str, **kwargs: Any) -> None:
        """Set how requests for ``model`` are treated (see :class:`Behaviour`); replaces earlier settings."""
        with self._lock:
            self._behaviours[model] = Behaviour(**kwargs)

    def reset(self) -> None:
        """Forget behaviours and recorded requests."""
        with self._lock:
            self._behaviours.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        """The chat-completion requests for ``model``."""
        return [r for r in self.requests if r.model == model]

    def model_names(self) -> list[str]:
        """The models ``GET /v1/models`` lists: those given, those configured, those asked for."""
        with self._lock:
            seen = [*self._models, *self._behaviours, *(r.model for r in self._requests if r.model)]
        return list(dict.fromkeys(seen))

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(req)

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    def _behaviour_for(self, model: str) -> Behaviour:
        """The behaviour for this request; a limited one (``times``) counts down and then lapses."""
        with self._lock:
            b = self._behaviours.get(model)
            if b is None:
                return Behaviour()
            if b.times is not None:
                if b.times <= 0:
                    return Behaviour(content=b.content)
                b.times -= 1
            return b
