"""The Responses API: create, stream, store, get, delete, input items, chaining, tools."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sirp.testing.fake_openai import REASONING_TOKENS, FakeOpenAI
from tests.unit.server.support import LONG, SHORT, build_app

TOOL = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}


def create(client: TestClient, **body: Any) -> Any:
    return client.post("/v1/responses", json={"model": "auto", "input": SHORT, **body})


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_a_response_is_created_routed_and_stored(client: TestClient) -> None:
    r = create(client, instructions="Answer briefly.", metadata={"k": "v"}, temperature=0.5)
    assert r.status_code == 200
    resp = r.json()
    assert resp["object"] == "response" and resp["id"].startswith("resp_") and resp["status"] == "completed"
    assert resp["model"] == "small" and r.headers["x-sirp-model"] == "small"
    (message,) = resp["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0] == {
        "type": "output_text",
        "text": f"Echo from small: {SHORT}",
        "annotations": [],
        "logprobs": [],
    }
    assert resp["usage"]["input_tokens"] > 0 and resp["usage"]["total_tokens"] == (
        resp["usage"]["input_tokens"] + resp["usage"]["output_tokens"]
    )
    assert (resp["instructions"], resp["metadata"], resp["temperature"]) == ("Answer briefly.", {"k": "v"}, 0.5)
    assert client.get(f"/v1/responses/{resp['id']}").json() == resp


def test_the_request_becomes_chat_messages(client: TestClient, fake_openai: FakeOpenAI) -> None:
    items = [
        {"role": "developer", "content": "Be exact."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is 2+2?"}]},
    ]
    assert create(client, input=items, instructions="Answer briefly.", max_output_tokens=20).status_code == 200
    sent = fake_openai.requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "system", "content": "Be exact."},
        {"role": "user", "content": "What is 2+2?"},
    ]
    assert sent["max_tokens"] == 20 and "max_output_tokens" not in sent and "instructions" not in sent


def test_chaining_continues_the_conversation(client: TestClient, fake_openai: FakeOpenAI) -> None:
    first = create(client, instructions="Only for the first turn.").json()
    second = create(client, input="and then?", previous_response_id=first["id"]).json()
    assert second["previous_response_id"] == first["id"] and second["instructions"] is None
    assert fake_openai.requests[-1].body["messages"] == [
        {"role": "user", "content": SHORT},
        {"role": "assistant", "content": f"Echo from small: {SHORT}"},
        {"role": "user", "content": "and then?"},
    ]
    third = create(client, input="last", previous_response_id=second["id"])
    assert third.status_code == 200
    assert [m["content"] for m in fake_openai.requests[-1].body["messages"]][-3:] == [
        "and then?",
        "Echo from small: and then?",
        "last",
    ]


def test_a_chain_outlives_its_deleted_ancestor(client: TestClient, fake_openai: FakeOpenAI) -> None:
    first = create(client).json()
    second = create(client, input="more", previous_response_id=first["id"]).json()
    assert client.delete(f"/v1/responses/{first['id']}").json() == {
        "id": first["id"],
        "object": "response.deleted",
        "deleted": True,
    }
    assert client.get(f"/v1/responses/{first['id']}").status_code == 404
    assert create(client, input="again", previous_response_id=second["id"]).status_code == 200
    assert len(fake_openai.requests[-1].body["messages"]) == 5


def test_unknown_ids_are_404(client: TestClient) -> None:
    r = create(client, previous_response_id="resp_nope")
    assert r.status_code == 404 and r.json()["error"]["param"] == "previous_response_id"
    assert client.get("/v1/responses/resp_nope").json()["error"]["code"] == "response_not_found"
    assert client.delete("/v1/responses/resp_nope").status_code == 404
    assert client.get("/v1/responses/resp_nope/input_items").status_code == 404


def test_store_false_keeps_nothing(client: TestClient) -> None:
    resp = create(client, store=False).json()
    assert resp["store"] is False
    assert client.get(f"/v1/responses/{resp['id']}").status_code == 404


def test_input_items_are_listed_and_paginated(client: TestClient) -> None:
    items = [{"role": "user", "content": f"turn {i}"} for i in range(5)]
    resp = create(client, input=items).json()
    url = f"/v1/responses/{resp['id']}/input_items"
    page = client.get(url).json()
    assert page["object"] == "list" and not page["has_more"]
    texts = [i["content"][0]["text"] for i in page["data"]]
    assert texts == [f"turn {i}" for i in reversed(range(5))]  # newest first by default
    assert all(i["id"].startswith("msg_") and i["type"] == "message" for i in page["data"])
    first = client.get(url, params={"order": "asc", "limit": 2}).json()
    assert [i["content"][0]["text"] for i in first["data"]] == ["turn 0", "turn 1"] and first["has_more"]
    rest = client.get(url, params={"order": "asc", "after": first["last_id"]}).json()
    assert [i["content"][0]["text"] for i in rest["data"]] == ["turn 2", "turn 3", "turn 4"]
    assert client.get(url, params={"limit": 0}).status_code == 400
    assert client.get(url, params={"order": "sideways"}).json()["error"]["param"] == "order"
    assert client.get(url, params={"after": "msg_unknown"}).status_code == 400


def test_streaming_emits_the_event_sequence_and_stores_the_result(client: TestClient) -> None:
    r = create(client, stream=True)
    assert r.status_code == 200 and r.headers["x-sirp-model"] == "small"
    got = sse_events(r.text)
    kinds = [k for k, _ in got]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for _, e in got] == list(range(len(got)))
    assert all(k == e["type"] for k, e in got)
    deltas = "".join(e["delta"] for k, e in got if k == "response.output_text.delta")
    assert deltas == f"Echo from small: {SHORT}"
    final = got[-1][1]["response"]
    assert final["status"] == "completed" and final["output"][0]["content"][0]["text"] == deltas
    assert final["usage"]["output_tokens"] > 0
    assert client.get(f"/v1/responses/{final['id']}").json()["output"] == final["output"]


def test_reasoning_comes_back_as_a_reasoning_item(client: TestClient) -> None:
    resp = create(client, input=LONG, reasoning={"effort": "high"}).json()
    kinds = [i["type"] for i in resp["output"]]
    assert kinds == ["reasoning", "message"]
    assert resp["output"][0]["content"][0]["type"] == "reasoning_text"
    assert resp["usage"]["output_tokens_details"]["reasoning_tokens"] == REASONING_TOKENS
    assert resp["reasoning"]["effort"] is not None
    streamed = sse_events(create(client, input=LONG, reasoning={"effort": "high"}, stream=True).text)
    assert "response.reasoning_text.delta" in [k for k, _ in streamed]
    assert [i["type"] for i in streamed[-1][1]["response"]["output"]] == ["reasoning", "message"]


def test_function_tools_round_trip(client: TestClient, fake_openai: FakeOpenAI) -> None:
    resp = create(client, input="weather in 'Paris'?", tools=[TOOL], tool_choice="required").json()
    (call,) = [i for i in resp["output"] if i["type"] != "reasoning"]
    assert call["type"] == "function_call" and call["name"] == "get_weather" and call["call_id"]
    sent = fake_openai.requests[-1].body
    assert sent["tools"] == [
        {"type": "function", "function": {"name": "get_weather", "parameters": TOOL["parameters"]}}
    ]
    follow = create(
        client,
        input=[{"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"}],
        previous_response_id=resp["id"],
        tools=[TOOL],
    )
    assert follow.status_code == 200 and follow.json()["output"][-1]["type"] == "message"
    messages = fake_openai.requests[-1].body["messages"]
    assert messages[-2]["tool_calls"][0]["id"] == call["call_id"]
    assert messages[-1] == {"role": "tool", "tool_call_id": call["call_id"], "content": "sunny"}
    named = create(client, input="x", tools=[TOOL], tool_choice={"type": "function", "name": "get_weather"})
    assert fake_openai.requests[-1].body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert named.json()["output"][-1]["type"] == "function_call"


def test_a_streamed_function_call(client: TestClient) -> None:
    got = sse_events(create(client, input="x", tools=[TOOL], tool_choice="required", stream=True).text)
    kinds = [k for k, _ in got]
    assert "response.function_call_arguments.delta" in kinds
    done = next(e for k, e in got if k == "response.function_call_arguments.done")
    assert done["name"] == "get_weather" and json.loads(done["arguments"]) is not None
    assert got[-1][1]["response"]["output"][-1]["type"] == "function_call"


def test_structured_output_becomes_response_format(client: TestClient, fake_openai: FakeOpenAI) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fmt = {"type": "json_schema", "name": "answer", "schema": schema, "strict": True}
    resp = create(client, input="give 3", text={"format": fmt}).json()
    assert fake_openai.requests[-1].body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }
    assert json.loads(resp["output"][0]["content"][0]["text"]) == {"n": 3}
    assert resp["text"] == {"format": fmt}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"background": True}, "background"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"input": []}, "input"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
    ],
)
def test_what_cannot_be_served_is_400(client: TestClient, body: dict[str, Any], param: str) -> None:
    r = create(client, **body)
    assert r.status_code == 400 and r.json()["error"]["param"] == param


@dataclass(frozen=True)
class _Identity:
    user: str | None
    tenant: str | None = None


@dataclass(frozen=True)
class _Admission:
    identity: _Identity
    allowed_models: frozenset[str] | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: {"x-ratelimit-remaining-requests": "7"})
    upstream_headers: Mapping[str, str] = field(default_factory=dict)


class _ByUser:
    """An access layer that believes the x-test-user header."""

    async def admit(self, headers: Mapping[str, str], peer: str | None, *, model: str, estimated_tokens: int) -> Any:
        return _Admission(_Identity(headers.get("x-test-user")))

    async def record_usage(self, admission: Any, tokens: int) -> None:
        return None

    async def aclose(self) -> None:
        return None


def test_a_stored_response_is_its_creators(mock_folder: Path, server_config: dict[str, Any]) -> None:
    with TestClient(build_app(mock_folder, server_config, access=_ByUser())) as c:
        alice, bob = {"x-test-user": "alice"}, {"x-test-user": "bob"}
        resp = c.post("/v1/responses", json={"model": "auto", "input": SHORT}, headers=alice).json()
        rid = resp["id"]
        got = c.get(f"/v1/responses/{rid}", headers=alice)
        assert got.status_code == 200 and got.headers["x-ratelimit-remaining-requests"] == "7"
        for r in (
            c.get(f"/v1/responses/{rid}", headers=bob),
            c.get(f"/v1/responses/{rid}/input_items", headers=bob),
            c.delete(f"/v1/responses/{rid}", headers=bob),
            c.post("/v1/responses", json={"model": "auto", "input": "x", "previous_response_id": rid}, headers=bob),
        ):
            assert r.status_code == 404  # as if it did not exist
        assert c.get(f"/v1/responses/{rid}/input_items", headers=alice).status_code == 200
        chained = {"model": "auto", "input": "x", "previous_response_id": rid}
        assert c.post("/v1/responses", json=chained, headers=alice).status_code == 200
        assert c.delete(f"/v1/responses/{rid}", headers=alice).status_code == 200
