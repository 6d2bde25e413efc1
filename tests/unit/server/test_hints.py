"""Request hints (VAR modules) and capability negotiation: they narrow the models that may answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sirp.config.schema import ModelConfig
from sirp.server.capabilities import Requirements, implied_requirements, parse_requirements
from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.server.support import LONG, SHORT, build_app, make_config

IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": SHORT},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        ],
    }
]


def chat(client: TestClient, content: Any = SHORT, headers: dict[str, str] | None = None, **body: Any) -> Any:
    messages = content if isinstance(content, list) else [{"role": "user", "content": content}]
    return client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": messages, **body}, headers=headers or {}
    )


def test_requirements_parse_and_explain() -> None:
    req = parse_requirements(" image, Reasoning ,context=32000,, tools")
    assert req == Requirements(modalities=frozenset({"image"}), reasoning=True, tools=True, min_context=32000)
    assert req.describe() == "image, reasoning, tools, context=32000"
    small = ModelConfig(name="s", tier="slm", base_url="http://x/v1", family="none")
    assert req.missing(small) == ["image", "reasoning", "context=32000"]
    assert not parse_requirements("text")  # text alone asks nothing
    with pytest.raises(ValueError, match="unknown capability 'video'; known: text, image"):
        parse_requirements("video")
    with pytest.raises(ValueError, match="positive number"):
        parse_requirements("context=lots")


def test_content_implies_requirements() -> None:
    assert implied_requirements(IMAGE).modalities == {"image"}
    audio = [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]}]
    assert implied_requirements(audio).modalities == {"audio"}
    assert implied_requirements([{"role": "user", "content": "x"}], tools=[{"type": "function"}]).tools
    assert not implied_requirements([{"role": "user", "content": "x"}], tools=[])


def test_an_image_goes_to_a_model_that_sees(client: TestClient, fake_openai: FakeOpenAI) -> None:
    r = chat(client, IMAGE)
    assert r.status_code == 200 and r.json()["model"] == "large"  # the policy wanted small, which is text-only
    assert "eligibility.allowed" in r.headers["x-sirp-policy"]
    pinned = chat(client, IMAGE, model="small")
    assert pinned.status_code == 400 and pinned.json()["error"]["code"] == "model_lacks_capability"
    assert "image" in pinned.json()["error"]["message"]


def test_stated_requirements_narrow_the_choice(client: TestClient) -> None:
    r = chat(client, headers={"X-SIRP-Require": "context=100000"})
    assert r.json()["model"] == "large"
    r = chat(client, headers={"X-SIRP-Require": "audio"})
    err = r.json()["error"]
    assert r.status_code == 400 and err["code"] == "no_eligible_model"
    assert "small lacks audio" in err["message"] and "large lacks audio" in err["message"]
    bad = chat(client, headers={"X-SIRP-Require": "telepathy"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "X-SIRP-Require"


def test_tools_avoid_models_without_tool_calling(client: TestClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", fail_status=500)  # the fallback would be backup, which cannot call tools
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    r = chat(client, tools=[tool])
    assert r.status_code == 502
    assert not fake_openai.requests_for("backup")


def test_max_tier_caps_the_cost(client: TestClient) -> None:
    assert chat(client, LONG).json()["model"] == "large"
    r = chat(client, LONG, headers={"X-SIRP-Max-Tier": "slm"})
    assert r.json()["model"] == "small"
    pinned = chat(client, LONG, model="large", headers={"X-SIRP-Max-Tier": "slm"})
    assert pinned.status_code == 400 and pinned.json()["error"]["code"] == "model_above_max_tier"
    assert chat(client, headers={"X-SIRP-Max-Tier": "huge"}).status_code == 400


def test_urgency_takes_the_fast_path(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = make_config(mock_folder, fake_openai, server={"fast_path_max_tier": "slm"})
    with TestClient(build_app(mock_folder, cfg)) as c:
        normal = chat(c, LONG, reasoning_effort="high")
        assert "reasoning=on" in normal.headers["x-sirp-decision"]
        urgent = chat(c, LONG, headers={"X-SIRP-Urgency": "high"})
        assert urgent.headers["x-sirp-decision"] == "model=small; tier=slm; reasoning=off"
        assert "reasoning.forced" in urgent.headers["x-sirp-policy"]
        assert chat(c, headers={"X-SIRP-Urgency": "asap"}).status_code == 400


def test_privacy_keeps_personal_data_local(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = make_config(mock_folder, fake_openai, policy={"gain_threshold": 0.3, "privacy": {"pii_action": "local_only"}})
    with TestClient(build_app(mock_folder, cfg)) as c:
        r = chat(c, LONG, headers={"X-SIRP-Privacy": "pii"})
        assert r.json()["model"] == "small"
        assert r.headers["x-sirp-sensitivity"] == "pii; action=local_only"
        assert chat(c, LONG).headers["x-sirp-sensitivity"] == "none"


def test_hints_can_be_switched_off_and_headers_renamed(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    server = {"client_hints": False, "header_names": {"category": "X-Semantic-Category"}, "vsr_headers": False}
    with TestClient(build_app(mock_folder, make_config(mock_folder, fake_openai, server=server))) as c:
        r = chat(c, LONG, headers={"X-SIRP-Max-Tier": "slm", "X-SIRP-Urgency": "nonsense"})
        assert r.status_code == 200 and r.json()["model"] == "large"  # the hints were not read at all
        assert "x-semantic-category" in r.headers and "x-sirp-category" not in r.headers
        assert not [h for h in r.headers if h.startswith("x-vsr-")]
