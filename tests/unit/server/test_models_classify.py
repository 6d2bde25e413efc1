"""GET /v1/models (capabilities) and POST /v1/classify (decisions, no model call)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.server.support import LONG, SHORT, build_app, make_config


def test_models_lists_auto_then_each_model_with_capabilities(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    ids = [m["id"] for m in body["data"]]
    assert ids == ["auto", "small", "large", "backup"]
    by_id = {m["id"]: m for m in body["data"]}
    assert by_id["large"]["capabilities"] == {
        "tier": "llm",
        "reasoning": True,
        "reasoning_family": "openai",
        "context_length": 128000,
        "modalities": ["text", "image"],
        "tools": True,
        "local": False,
    }
    assert by_id["backup"]["capabilities"]["tools"] is False and by_id["backup"]["capabilities"]["reasoning"] is False
    auto = by_id["auto"]["capabilities"]
    assert auto["router"] is True and auto["tiers"] == ["slm", "llm"] and auto["modalities"] == ["image", "text"]
    assert all(m["object"] == "model" and m["owned_by"] == "sirp" for m in body["data"])
    assert client.get("/v1/models/large").json() == by_id["large"]
    r = client.get("/v1/models/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_classify_one_text(client: TestClient, fake_openai: FakeOpenAI) -> None:
    r = client.post("/v1/classify", json={"input": LONG})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "sirp.classification"
    d = body["decision"]
    assert d["model"] == "large" and d["tier"] == "llm" and set(d["scores"]) == {"biology", "history", "law", "math"}
    assert r.headers["x-sirp-decision"].startswith("model=large; tier=llm")
    assert not fake_openai.requests  # no model was called


def test_classify_a_batch_and_a_conversation(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"input": [SHORT, LONG, SHORT]})
    data = r.json()["data"]
    assert [x["index"] for x in data] == [0, 1, 2]
    assert [x["decision"]["model"] for x in data] == ["small", "large", "small"]
    assert "x-sirp-decision" not in r.headers  # a batch has no single decision
    conv = [
        {"role": "user", "content": LONG},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": SHORT},
    ]
    one = client.post("/v1/classify", json={"messages": conv}).json()
    assert one["decision"]["model"] == "small"  # the last user turn decides


def test_classify_applies_hints(client: TestClient) -> None:
    r = client.post("/v1/classify", json={"input": LONG}, headers={"X-SIRP-Max-Tier": "slm"})
    d = r.json()["decision"]
    assert d["model"] == "small" and d["allowed_models"] == ["small"]


def test_classify_errors(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = make_config(mock_folder, fake_openai, server={"max_batch_size": 2})
    cfg["classifier"]["max_prompt_chars"] = 50
    with TestClient(build_app(mock_folder, cfg)) as c:

        def err(body: Any) -> tuple[int, dict[str, Any]]:
            r = c.post("/v1/classify", json=body)
            return r.status_code, r.json()["error"]

        status, e = err({"input": ["a", "b", "c"]})
        assert status == 413 and e["code"] == "too_many_inputs"
        status, e = err({"input": ["a", "x" * 60]})
        assert status == 413 and e["message"].startswith("input[1]: ")
        assert err({"input": "a", "messages": [{"role": "user", "content": "b"}]})[0] == 400
        assert err({})[0] == 400
        assert err({"input": []})[0] == 400
        status, e = err({"input": ["ok", "  "]})
        assert status == 400 and e["message"].startswith("input[1]: ")
        assert err({"input": "a", "temperature": 1})[1]["param"] == "temperature"


def test_classify_a_conversation_with_an_image(client: TestClient) -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    conv = [{"role": "user", "content": [{"type": "text", "text": SHORT}, image]}]
    d = client.post("/v1/classify", json={"messages": conv}).json()["decision"]
    assert d["model"] == "large" and d["allowed_models"] == ["large"]  # the only model that sees images
