"""POST /v1/chat/completions: routing, pins, SIRP headers, streaming, pass-through fields, fallbacks."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.server.support import LONG, SHORT, build_app, make_config


def chat(client: TestClient, content: str = SHORT, **body: Any) -> Any:
    payload = {"model": "auto", "messages": [{"role": "user", "content": content}], **body}
    return client.post("/v1/chat/completions", json=payload)


def events(text: str) -> list[Any]:
    out = []
    for block in text.strip().split("\n\n"):
        data = block.removeprefix("data: ")
        out.append(data if data == "[DONE]" else json.loads(data))
    return out


def test_auto_routes_and_signals_the_decision(client: TestClient, fake_openai: FakeOpenAI) -> None:
    r = chat(client)
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["model"] == "small"
    assert body["choices"][0]["message"]["content"] == f"Echo from small: {SHORT}"
    h = r.headers
    assert h["x-sirp-decision"] == "model=small; tier=slm; reasoning=off"
    assert h["x-sirp-model"] == "small" and h["x-vsr-selected-model"] == "small"
    category, confidence = h["x-sirp-category"].split("; confidence=")
    assert category in ("biology", "history", "law", "math") and 0 < float(confidence) <= 1
    assert h["x-vsr-selected-category"] == category
    assert 0 <= float(h["x-sirp-complexity"]) <= 1
    assert h["x-sirp-sensitivity"] == "none"
    assert h["x-sirp-policy"].split(", ")[0] == "tier.gain"
    assert h["x-vsr-selected-reasoning"] == "off" and h["x-vsr-cache-hit"] == "false"
    assert "x-sirp-cache" not in h  # no cache configured: no claim about one
    assert len(h["x-request-id"]) == 32
    # the model got the caller's messages and its family's reasoning switch
    sent = fake_openai.requests_for("small")[-1].body
    assert sent["messages"] == [{"role": "user", "content": SHORT}]
    assert sent["chat_template_kwargs"] == {"enable_thinking": False}


def test_a_hard_prompt_goes_to_the_large_tier(client: TestClient) -> None:
    r = chat(client, LONG)
    assert r.json()["model"] == "large"
    assert r.headers["x-sirp-decision"].startswith("model=large; tier=llm; reasoning=")


def test_configured_names_and_tiers_pin(client: TestClient, fake_openai: FakeOpenAI) -> None:
    r = chat(client, model="large")
    assert r.json()["model"] == "large" and "pin.model" in r.headers["x-sirp-policy"]
    assert chat(client, model="slm").json()["model"] == "small"  # a tier name pins its model
    assert chat(client, LONG, model="backup").json()["model"] == "backup"


def test_an_unknown_model_is_404_in_openai_format(client: TestClient) -> None:
    r = chat(client, model="gpt-7")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["param"] == "model" and err["type"] == "invalid_request_error"
    assert "'gpt-7' does not exist" in err["message"] and "auto, small, large, backup" in err["message"]


def test_the_auto_name_is_configurable(mock_folder: Any, fake_openai: FakeOpenAI) -> None:
    cfg = make_config(mock_folder, fake_openai, server={"auto_model": "sirp-router"})
    with TestClient(build_app(mock_folder, cfg)) as c:
        assert chat(c, model="sirp-router").status_code == 200
        assert chat(c, model="auto").status_code == 404


def test_other_fields_and_tools_pass_through(client: TestClient, fake_openai: FakeOpenAI) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    r = chat(client, temperature=0.3, max_tokens=50, tools=[tool], tool_choice="required", user="u1", seed=7)
    assert r.status_code == 200
    call = r.json()["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["name"] == "lookup"
    sent = fake_openai.requests[-1].body
    assert sent["tools"] == [tool] and sent["tool_choice"] == "required"
    assert (sent["temperature"], sent["max_tokens"], sent["user"], sent["seed"]) == (0.3, 50, "u1", 7)


def test_reasoning_effort_forces_reasoning_and_is_not_forwarded(client: TestClient, fake_openai: FakeOpenAI) -> None:
    r = chat(client, reasoning_effort="high")
    assert "reasoning=on" in r.headers["x-sirp-decision"] and "reasoning.forced" in r.headers["x-sirp-policy"]
    sent = fake_openai.requests[-1].body
    assert sent["chat_template_kwargs"] == {"enable_thinking": True} and "reasoning_effort" not in sent
    r = chat(client, LONG, reasoning_effort="none")
    assert "reasoning=off" in r.headers["x-sirp-decision"]
    assert fake_openai.requests[-1].body["reasoning_effort"] == "minimal"  # openai family's "off"


def test_streaming_sends_chunks_then_done_without_usage_unless_asked(client: TestClient) -> None:
    r = chat(client, stream=True)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-sirp-model"] == "small" and r.headers["cache-control"] == "no-cache"
    got = events(r.text)
    assert got[-1] == "[DONE]"
    chunks = got[:-1]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == f"Echo from small: {SHORT}"
    assert all(c["choices"] and "usage" not in c for c in chunks)  # sirp's own usage request stays hidden
    with_usage = events(chat(client, stream=True, stream_options={"include_usage": True}).text)[:-1]
    assert with_usage[-1]["choices"] == [] and with_usage[-1]["usage"]["total_tokens"] > 0


def test_a_failing_model_falls_back_and_the_headers_say_who_answered(
    client: TestClient, fake_openai: FakeOpenAI
) -> None:
    fake_openai.behave("small", fail_status=500)
    r = chat(client)
    assert r.status_code == 200 and r.json()["model"] == "backup"
    assert r.headers["x-sirp-model"] == "backup"
    assert r.headers["x-sirp-decision"].startswith("model=small")  # the decision, before the fallback
    assert "dispatch.fallback" in r.headers["x-sirp-policy"]
    metrics = client.get("/metrics").text
    assert 'sirp_fallbacks_total{answered="backup",chosen="small"} 1.0' in metrics
    assert 'sirp_upstream_errors_total{kind="status",model="small"} 2.0' in metrics  # first try and one retry


def test_no_models_configured_is_503_but_classify_works(mock_folder: Any, mock_config: dict) -> None:
    with TestClient(build_app(mock_folder, mock_config)) as c:
        r = chat(c)
        assert r.status_code == 503 and r.json()["error"]["code"] == "no_models_configured"
        assert c.post("/v1/classify", json={"input": "hello"}).status_code == 200


def test_the_callers_request_id_is_echoed(client: TestClient) -> None:
    r = client.post(
        "/v1/chat/completions",
        json={"model": "auto", "messages": [{"role": "user", "content": "x"}]},
        headers={"X-Request-Id": "abc-123"},
    )
    assert r.headers["x-request-id"] == "abc-123"
    bad = client.post("/v1/chat/completions", content=b"[", headers={"X-Request-Id": "bad id\twith tab"})
    assert bad.headers["x-request-id"] != "bad id\twith tab" and len(bad.headers["x-request-id"]) == 32
