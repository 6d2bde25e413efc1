"""The OpenAI Responses API over chat completions: request, items, answer and stream events.

The models sirp routes to speak Chat Completions (vLLM, Ollama, llama.cpp and most other
OpenAI-compatible servers); the multi-provider draft takes the Responses API as its reference
interface. This module translates, with no I/O:

- a Responses request (``input``, ``instructions``, ``tools``, ``text.format``, ...) into chat
  messages and parameters (:func:`input_items`, :func:`to_messages`, :func:`chat_params`);
- a chat completion into a Response object (:func:`output_items`, :func:`response_object`);
- a stream of chat chunks into Responses stream events (:class:`ResponseEvents`).

Only ``function`` tools exist here: hosted tools (web search, file search, ...) need OpenAI's
own servers, and asking for one is a 400.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sirp.providers.usage import Usage
from sirp.server.errors import APIError

__all__ = [
    "ResponseEvents",
    "chat_params",
    "input_items",
    "new_id",
    "output_items",
    "response_object",
    "to_messages",
    "usage_object",
]

# Request fields that have no chat-completions counterpart and do not change the answer.
_IGNORED = (
    "include",
    "truncation",
    "service_tier",
    "safety_identifier",
    "prompt_cache_key",
    "prompt_cache_retention",
    "max_tool_calls",
    "top_logprobs",
    "stream_options",
    "metadata",
    "store",
    "background",
)
# Request fields that need OpenAI's hosted state or features.
_UNSUPPORTED = ("conversation", "prompt")


def new_id(prefix: str) -> str:
    """A new object id, OpenAI style (``resp_…``, ``msg_…``, ``fc_…``)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def _bad(message: str, param: str) -> APIError:
    return APIError(400, message, code="invalid_value", param=param)


# -- request -----------------------------------------------------------------------------------


def _input_part(part: Any, where: str) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "input_text", "text": part}
    if not isinstance(part, Mapping) or not isinstance(part.get("type"), str):
        raise _bad("a content part must be an object with a 'type'", where)
    return dict(part)


def input_items(value: Any) -> list[dict[str, Any]]:
    """The request's ``input`` as Responses items, each with an ``id`` (a string is one user message)."""
    if isinstance(value, str):
        value = [{"role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise _bad("input must be a string or a non-empty list of items", "input")
    items = []
    for i, raw in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(raw, Mapping):
            raise _bad("an input item must be an object", where)
        item = dict(raw)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise _bad(f"role must be user, system, developer or assistant, got {role!r}", f"{where}.role")
            content = item.get("content")
            if isinstance(content, str):
                part_type = "output_text" if role == "assistant" else "input_text"
                parts = [{"type": part_type, "text": content}]
            elif isinstance(content, list):
                parts = [_input_part(p, f"{where}.content[{j}]") for j, p in enumerate(content)]
            else:
                raise _bad("content must be a string or a list of content parts", f"{where}.content")
            item = {"type": "message", "role": role, "content": parts, "status": "completed"}
            item["id"] = raw.get("id") or new_id("msg")
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise _bad(f"a function_call item needs a string {key!r}", f"{where}.{key}")
            item.setdefault("id", new_id("fc"))
            item.setdefault("status", "completed")
        elif kind == "function_call_output":
            if not isinstance(item.get("call_id"), str):
                raise _bad("a function_call_output item needs a string 'call_id'", f"{where}.call_id")
            item.setdefault("id", new_id("fco"))
            item.setdefault("status", "completed")
        elif kind == "reasoning":
            item.setdefault("id", new_id("rs"))
        else:
            raise _bad(
                f"input items of type {kind!r} are not supported here (message, function_call, "
                "function_call_output and reasoning are)",
                f"{where}.type",
            )
        item["type"] = kind
        items.append(item)
    return items


def _chat_part(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal", ""))}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise _bad("input_image needs an image_url (URL or data: URL); file_id is not supported here", where)
        image: dict[str, Any] = {"url": url}
        if part.get("detail"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio", {})}
    if kind == "input_file":
        if not part.get("file_data"):
            raise _bad("input_file needs file_data (file_id and file_url are not supported here)", where)
        return {"type": "file", "file": {"file_data": part["file_data"], "filename": part.get("filename")}}
    raise _bad(f"content parts of type {kind!r} are not supported here", where)


def _text_only(parts: Sequence[dict[str, Any]]) -> bool:
    return all(p["type"] == "text" for p in parts)


def to_messages(items: Sequence[Mapping[str, Any]], instructions: str | None = None) -> list[dict[str, Any]]:
    """Chat messages for ``items`` (after ``instructions`` as a system message).

    Consecutive function calls become one assistant message with several ``tool_calls``;
    reasoning items are not sent back (the model reasons afresh).
    """
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    for i, item in enumerate(items):
        kind = item["type"]
        if kind == "message":
            parts = [_chat_part(p, f"input[{i}].content") for p in item["content"]]
            role = "system" if item["role"] == "developer" else item["role"]  # not every server knows 'developer'
            content: Any = "".join(p["text"] for p in parts) if _text_only(parts) else parts
            if role == "assistant" and not isinstance(content, str):
                content = "".join(p.get("text", "") for p in parts)
            messages.append({"role": role, "content": content})
        elif kind == "function_call":
            fn = {"name": item["name"], "arguments": item["arguments"]}
            call = {"id": item["call_id"], "type": "function", "function": fn}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls") and not last.get("content"):
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            if not isinstance(output, str):
                output = "".join(str(p.get("text", "")) for p in output if isinstance(p, Mapping))
            messages.append({"role": "tool", "tool_call_id": item["call_id"], "content": output})
    return messages


def _tool(tool: Any, i: int) -> dict[str, Any]:
    if not isinstance(tool, Mapping) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, Mapping) else type(tool).__name__
        raise _bad(f"only function tools are supported here, got {kind!r}", f"tools[{i}]")
    if not isinstance(tool.get("name"), str):
        raise _bad("a function tool needs a 'name'", f"tools[{i}].name")
    fn = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
    return {"type": "function", "function": fn}


def _tool_choice(choice: Any) -> Any:
    if choice is None or isinstance(choice, str):
        return choice
    if isinstance(choice, Mapping) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise _bad("tool_choice must be auto, none, required or {type: function, name}", "tool_choice")


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, Mapping) else None
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    raise _bad(f"text.format type {fmt.get('type')!r} is not supported", "text.format")


def chat_params(body: Mapping[str, Any]) -> dict[str, Any]:
    """The chat-completions parameters for a Responses request (without model, messages, stream).

    Fields with no counterpart that do not change the answer are dropped; any field this module
    does not know travels to the model as is (vendor extensions).

    Raises:
        APIError: 400 for what cannot be served here (hosted tools, background, conversation).
    """
    for name in _UNSUPPORTED:
        if body.get(name) is not None:
            raise _bad(f"{name} is not supported by this server; send the input itself", name)
    if body.get("background"):
        raise _bad("background responses are not supported by this server", "background")
    consumed = {"model", "input", "instructions", "previous_response_id", "stream", "reasoning", "text"}
    consumed |= {"tools", "tool_choice", "max_output_tokens", *_IGNORED}
    out: dict[str, Any] = {k: v for k, v in body.items() if k not in consumed}
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise _bad("tools must be a list", "tools")
        out["tools"] = [_tool(t, i) for i, t in enumerate(tools)]
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        out["tool_choice"] = choice
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    fmt = _response_format(body.get("text"))
    if fmt is not None:
        out["response_format"] = fmt
    return out


# -- answer ------------------------------------------------------------------------------------


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def _reasoning_text(message: Any) -> str | None:
    value = _get(message, "reasoning_content")
    extra = getattr(message, "model_extra", None) or {}
    value = value or extra.get("reasoning_content") or extra.get("reasoning")
    return value if isinstance(value, str) and value else None


def reasoning_item(text: str, item_id: str | None = None) -> dict[str, Any]:
    """A reasoning output item holding the model's reasoning text."""
    return {
        "type": "reasoning",
        "id": item_id or new_id("rs"),
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
        "status": "completed",
    }


def message_item(text: str, item_id: str | None = None, status: str = "completed") -> dict[str, Any]:
    """An assistant message output item with one text part."""
    return {
        "type": "message",
        "id": item_id or new_id("msg"),
        "role": "assistant",
        "status": status,
        "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}],
    }


def function_call_item(call_id: str, name: str, arguments: str, item_id: str | None = None) -> dict[str, Any]:
    """A function call output item."""
    return {
        "type": "function_call",
        "id": item_id or new_id("fc"),
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": "completed",
    }


def _status(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def output_items(completion: Any) -> tuple[list[dict[str, Any]], str, dict[str, str] | None]:
    """The output items of a chat completion's first choice, the response status and why it is incomplete."""
    choices = _get(completion, "choices") or []
    if not choices:
        return [], "completed", None
    choice = choices[0]
    message = _get(choice, "message")
    items: list[dict[str, Any]] = []
    reasoning = _reasoning_text(message)
    if reasoning:
        items.append(reasoning_item(reasoning))
    content = _get(message, "content")
    refusal = _get(message, "refusal")
    if content or refusal:
        items.append(message_item(content or refusal))
    for call in _get(message, "tool_calls") or []:
        fn = _get(call, "function")
        args = str(_get(fn, "arguments") or "")
        items.append(function_call_item(str(_get(call, "id")), str(_get(fn, "name")), args))
    status, incomplete = _status(_get(choice, "finish_reason"))
    return items, status, incomplete


def usage_object(usage: Usage | None, cached_tokens: int = 0) -> dict[str, Any] | None:
    """A Responses ``usage`` object."""
    if usage is None:
        return None
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def response_object(
    body: Mapping[str, Any],
    *,
    response_id: str,
    model: str,
    created_at: float,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    incomplete_details: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
    reasoning_effort: str | None = None,
) -> dict[str, Any]:
    """A Response object, echoing the request's settings as OpenAI does."""
    text = body.get("text") if isinstance(body.get("text"), Mapping) else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "completed_at": time.time() if status in ("completed", "incomplete") else None,
        "status": status,
        "model": model,
        "output": output,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": body.get("tools") or [],
        "max_output_tokens": body.get("max_output_tokens"),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": reasoning_effort, "summary": None},
        "store": body.get("store", True),
        "text": text or {"format": {"type": "text"}},
        "truncation": "disabled",
        "usage": usage,
        "user": body.get("user"),
        "background": False,
    }


# -- stream ------------------------------------------------------------------------------------


class ResponseEvents:
    """Turns chat completion chunks into Responses stream events (``response.output_text.delta``, ...).

    Call :meth:`start` once, :meth:`chunk` for every chunk, then :meth:`finish` (or :meth:`fail`);
    each returns the events to send, as ``(type, payload)`` pairs with ``sequence_number`` set.
    :attr:`output` holds the finished output items, with the ids the events used.
    """

    def __init__(self, base: dict[str, Any]) -> None:
        self.base = base
        self.output: list[dict[str, Any]] = []
        self._seq = 0
        self._open: dict[str, Any] | None = None  # the item being streamed, with its output index
        self._calls: dict[int, dict[str, Any]] = {}  # tool call index → its item
        self._finish: str | None = None

    def _event(self, kind: str, **payload: Any) -> tuple[str, dict[str, Any]]:
        event = {"type": kind, "sequence_number": self._seq, **payload}
        self._seq += 1
        return kind, event

    def _snapshot(self, status: str, **extra: Any) -> dict[str, Any]:
        return {**self.base, "status": status, "output": list(self.output), "completed_at": None, **extra}

    def start(self) -> list[tuple[str, dict[str, Any]]]:
        """``response.created`` and ``response.in_progress``."""
        return [
            self._event("response.created", response=self._snapshot("in_progress")),
            self._event("response.in_progress", response=self._snapshot("in_progress")),
        ]

    def _close(self) -> Iterator[tuple[str, dict[str, Any]]]:
        item, self._open = self._open, None
        if item is None:
            return
        index = self.output.index(item)
        if item["type"] == "message":
            part = item["content"][0]
            yield self._event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=part["text"],
                logprobs=[],
            )
            yield self._event(
                "response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part
            )
        elif item["type"] == "reasoning":
            yield self._event(
                "response.reasoning_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=item["content"][0]["text"],
            )
        elif item["type"] == "function_call":
            yield self._event(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        item["status"] = "completed"
        yield self._event("response.output_item.done", output_index=index, item=item)

    def _open_item(self, item: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from self._close()
        item["status"] = "in_progress"
        self.output.append(item)
        self._open = item
        index = len(self.output) - 1
        shown = dict(item)
        if item["type"] in ("message", "reasoning"):
            shown["content"] = []
        yield self._event("response.output_item.added", output_index=index, item=shown)
        if item["type"] == "message":
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            yield self._event(
                "response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part
            )

    def chunk(self, chunk: Any) -> list[tuple[str, dict[str, Any]]]:
        """The events for one chat chunk (its first choice)."""
        events: list[tuple[str, dict[str, Any]]] = []
        for choice in (_get(chunk, "choices") or [])[:1]:
            delta = _get(choice, "delta")
            if delta is not None:
                reasoning = _reasoning_text(delta)
                if reasoning:
                    events += self._text(reasoning, "reasoning")
                content = _get(delta, "content")
                if content:
                    events += self._text(content, "message")
                for call in _get(delta, "tool_calls") or []:
                    events += self._tool_call(call)
            if _get(choice, "finish_reason"):
                self._finish = _get(choice, "finish_reason")
        return events

    def _text(self, text: str, kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if self._open is None or self._open["type"] != kind:
            yield from self._open_item(reasoning_item("") if kind == "reasoning" else message_item(""))
        item = self._open
        assert item is not None
        item["content"][0]["text"] += text
        where = {"item_id": item["id"], "output_index": self.output.index(item), "content_index": 0}
        if kind == "reasoning":
            yield self._event("response.reasoning_text.delta", **where, delta=text)
        else:
            yield self._event("response.output_text.delta", **where, delta=text, logprobs=[])

    def _tool_call(self, call: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        index = _get(call, "index") or 0
        fn = _get(call, "function")
        item = self._calls.get(index)
        if item is None:
            item = function_call_item(str(_get(call, "id") or new_id("call")), str(_get(fn, "name") or ""), "")
            self._calls[index] = item
            yield from self._open_item(item)
        args = _get(fn, "arguments") if fn is not None else None
        if args:
            item["arguments"] += args
            yield self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=self.output.index(item),
                delta=args,
            )

    def finish(self, usage: dict[str, Any] | None) -> list[tuple[str, dict[str, Any]]]:
        """Close the open item; ``response.completed`` (or ``response.incomplete``) with the whole response."""
        events = list(self._close())
        status, incomplete = _status(self._finish)
        final = self._snapshot(status, usage=usage, incomplete_details=incomplete, completed_at=time.time())
        events.append(self._event(f"response.{status}", response=final))
        return events

    def fail(self, error: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """``response.failed``: the stream broke; ``error`` is ``{code, message}``."""
        return [self._event("response.failed", response=self._snapshot("failed", error=error))]
