"""The fake OpenAI server's API surface for framework clients: tool calls, structured answers, stop, streamed tools."""

from __future__ import annotations

import json

import pytest

from sirp.testing.fake_openai import FakeOpenAI

openai = pytest.importorskip("openai", reason="the fake server is exercised with the sirp[client] extra")

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "create_customer",
            "parameters": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "size": {"type": "integer"}, "vip": {"type": "boolean"}},
            },
        },
    },
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object", "properties": {}}}},
]
ASK = [{"role": "user", "content": "Create a customer named 'Acme Ltd' with 12 staff."}]


@pytest.fixture
def client():
    with FakeOpenAI() as server, openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as c:
        yield c


def test_required_and_named_tool_choice_call_a_tool_with_values_from_the_message(client) -> None:
    out = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, tool_choice="required")
    (call,) = out.choices[0].message.tool_calls
    assert out.choices[0].finish_reason == "tool_calls" and out.choices[0].message.content is None
    assert call.function.name == "create_customer"
    assert json.loads(call.function.arguments) == {"name": "Acme Ltd", "size": 12, "vip": True}
    named = {"type": "function", "function": {"name": "other"}}
    out = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, tool_choice=named)
    assert out.choices[0].message.tool_calls[0].function.name == "other"


def test_auto_tool_choice_answers_in_text_unless_asked_to_call(client) -> None:
    out = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS)
    assert out.choices[0].message.tool_calls is None and out.choices[0].message.content.startswith("Echo from m")
    with FakeOpenAI(call_tools=True) as server, openai.OpenAI(base_url=server.base_url, api_key="x") as c:
        out = c.chat.completions.create(model="m", messages=ASK, tools=TOOLS)
        assert out.choices[0].message.tool_calls[0].function.name == "create_customer"
        after = [*ASK, {"role": "assistant", "tool_calls": [out.choices[0].message.tool_calls[0].model_dump()]}]
        after.append({"role": "tool", "tool_call_id": out.choices[0].message.tool_calls[0].id, "content": "done"})
        reply = c.chat.completions.create(model="m", messages=after, tools=TOOLS)
        assert reply.choices[0].message.tool_calls is None and reply.choices[0].finish_reason == "stop"


def test_streamed_tool_call_adds_up(client) -> None:
    stream = client.chat.completions.create(model="m", messages=ASK, tools=TOOLS, tool_choice="required", stream=True)
    name, args, finish = "", "", None
    for chunk in stream:
        for choice in chunk.choices:
            for delta in choice.delta.tool_calls or []:
                name += delta.function.name or ""
                args += delta.function.arguments or ""
            finish = choice.finish_reason or finish
    assert name == "create_customer" and json.loads(args)["size"] == 12 and finish == "tool_calls"


def test_json_schema_and_json_object_answers(client) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"anyOf": [{"type": "integer"}, {"type": "null"}]}},
        "required": ["title"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "Book", "schema": schema}}
    msgs = [{"role": "user", "content": "The book 'Dune' came out in 1965."}]
    out = client.chat.completions.create(model="m", messages=msgs, response_format=fmt)
    assert json.loads(out.choices[0].message.content) == {"title": "Dune", "year": 1965}
    msgs = [{"role": "user", "content": "Answer as JSON with 'setup' and 'punchline' keys."}]
    out = client.chat.completions.create(model="m", messages=msgs, response_format={"type": "json_object"})
    assert set(json.loads(out.choices[0].message.content)) == {"setup", "punchline"}


def test_stop_sequences_cut_the_answer(client) -> None:
    out = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi you"}], stop=["you"])
    assert out.choices[0].message.content == "Echo from m: hi "
