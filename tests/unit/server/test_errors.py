"""Errors in OpenAI's format with the right status; no failure leaks internals or disturbs the next request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sirp.errors import AuthenticationError, PermissionDeniedError, RateLimitError
from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.server.support import SHORT, build_app, make_config

MSGS = [{"role": "user", "content": SHORT}]


def error_of(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "code", "param"}
    return err


def post(client: TestClient, **body: Any) -> Any:
    return client.post("/v1/chat/completions", json={"model": "auto", "messages": MSGS, **body})


@pytest.mark.parametrize(
    ("content", "code"),
    [(b"{not json", "invalid_json"), (b"", "invalid_json"), (b"[1, 2]", "invalid_json"), (b"\xff\xfe", "invalid_json")],
)
def test_a_body_that_is_not_a_json_object_is_400(client: TestClient, content: bytes, code: str) -> None:
    err = error_of(client.post("/v1/chat/completions", content=content), 400)
    assert err["code"] == code and err["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": MSGS}, "model"),
        ({"model": "auto"}, "messages"),
        ({"model": "auto", "messages": []}, "messages"),
        ({"model": "auto", "messages": [{"content": "x"}]}, "messages[0].role"),
        ({"model": "auto", "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"model": "auto", "messages": MSGS, "max_tokens": 0}, "max_tokens"),
        ({"model": "auto", "messages": MSGS, "stream": "perhaps"}, "stream"),
    ],
)
def test_bad_fields_are_400_naming_the_field(client: TestClient, body: dict[str, Any], param: str) -> None:
    err = error_of(client.post("/v1/chat/completions", json=body), 400)
    assert err["param"] == param and err["message"].startswith(param)


def test_messages_that_cannot_be_routed_are_400(client: TestClient) -> None:
    err = error_of(post(client, messages=[{"role": "system", "content": "be brief"}]), 400)
    assert "no user turn" in err["message"]


def test_too_large_bodies_and_prompts_are_413(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = make_config(mock_folder, fake_openai, server={"max_request_bytes": 2048})
    cfg["classifier"]["max_prompt_chars"] = 100
    with TestClient(build_app(mock_folder, cfg)) as c:
        err = error_of(post(c, messages=[{"role": "user", "content": "x" * 5000}]), 413)
        assert err["code"] == "request_too_large" and "2,048" in err["message"]
        err = error_of(post(c, messages=[{"role": "user", "content": "y" * 150}]), 413)
        assert "150 characters" in err["message"] and "max_prompt_chars" in err["message"]

        def chunked() -> Any:  # no Content-Length: the limit still holds while reading
            yield b'{"model": "auto", "messages": [{"role": "user", "content": "'
            for _ in range(10):
                yield b"z" * 500
            yield b'"}]}'

        err = error_of(c.post("/v1/chat/completions", content=chunked()), 413)
        assert err["code"] == "request_too_large"
        assert post(c).status_code == 200  # and the server goes on


def test_upstream_failures_map_to_502_503_504(mock_folder: Path, fake_openai: FakeOpenAI) -> None:
    cfg = make_config(mock_folder, fake_openai, fallback=[])
    for m in cfg["models"]:
        m["max_retries"] = 0
        m["timeout_s"] = 0.3
    with TestClient(build_app(mock_folder, cfg)) as c:
        fake_openai.behave("small", fail_status=500)
        err = error_of(post(c), 502)
        assert err["type"] == "upstream_error" and err["code"] == "upstream_error"
        assert "small HTTP 500" in err["message"] and "127.0.0.1" not in err["message"]
        fake_openai.behave("small", fail_status=503)
        r = post(c)
        assert error_of(r, 503)["code"] == "upstream_unavailable" and r.headers["retry-after"] == "1"
        fake_openai.behave("small", delay_s=2)
        assert error_of(post(c), 504)["code"] == "upstream_timeout"
        fake_openai.behave("small", fail_status=400)
        err = error_of(post(c), 400)  # the model refused the caller's own input
        assert err["code"] == "upstream_rejected" and "failing on purpose" in err["message"]
        fake_openai.reset()
        assert post(c).status_code == 200


def test_a_stream_that_breaks_ends_with_an_error_event(client: TestClient, fake_openai: FakeOpenAI) -> None:
    fake_openai.behave("small", break_stream_after=3)
    r = post(client, stream=True)
    assert r.status_code == 200  # the status went out with the first chunk
    last = r.text.strip().split("\n\n")[-1]
    assert last.startswith("data: {") and '"error"' in last and '"upstream_error"' in last
    assert "[DONE]" not in r.text


def test_an_internal_error_is_500_without_internals(client: TestClient) -> None:
    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret at /etc/sirp/keys.yaml")

    client.app.state.sirp.router.acomplete = boom  # type: ignore[attr-defined]
    r = post(client)
    err = error_of(r, 500)
    assert err["type"] == "server_error" and "secret" not in err["message"]
    assert r.headers["x-request-id"] in err["message"]
    del client.app.state.sirp.router.acomplete  # type: ignore[attr-defined]
    assert post(client).status_code == 200


def test_unknown_routes_and_methods_answer_in_openai_format(client: TestClient) -> None:
    assert error_of(client.get("/v1/nothing"), 404)["code"] == "not_found"
    assert error_of(client.put("/v1/chat/completions", json={}), 405)["code"] == "method_not_allowed"


@dataclass(frozen=True)
class Admission:
    allowed_models: frozenset[str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upstream_headers: Mapping[str, str] = field(default_factory=dict)


class FakeAccess:
    """The access layer's interface, driven by the x-test-user header."""

    def __init__(self) -> None:
        self.usage: list[tuple[Any, int]] = []
        self.admitted: list[dict[str, Any]] = []

    async def admit(self, headers: Mapping[str, str], peer: str | None, *, model: str, estimated_tokens: int) -> Any:
        self.admitted.append({"model": model, "estimated_tokens": estimated_tokens, "peer": peer})
        user = headers.get("x-test-user")
        if user is None:
            raise AuthenticationError("no credentials: send a bearer token")
        if user == "banned":
            raise PermissionDeniedError("group guests may not use this server")
        if user == "greedy":
            raise RateLimitError(
                "over 10 requests per minute", retry_after=2.2, headers={"x-ratelimit-remaining-requests": "0"}
            )
        allowed = frozenset({"small"}) if user == "junior" else None
        return Admission(
            allowed_models=allowed,
            headers={"x-ratelimit-remaining-requests": "9"},
            upstream_headers={"x-authz-user-id": user},
        )

    async def record_usage(self, admission: Any, tokens: int) -> None:
        self.usage.append((admission, tokens))

    async def aclose(self) -> None:
        return None


@pytest.fixture
def guarded(mock_folder: Path, server_config: dict[str, Any]) -> Any:
    access = FakeAccess()
    with TestClient(build_app(mock_folder, server_config, access=access)) as c:
        yield c, access


def test_access_errors_have_their_status_and_headers(guarded: Any) -> None:
    c, _ = guarded
    r = post(c)
    err = error_of(r, 401)
    assert err["type"] == "authentication_error" and r.headers["www-authenticate"] == "Bearer"
    r = c.post("/v1/chat/completions", json={"model": "auto", "messages": MSGS}, headers={"x-test-user": "banned"})
    assert error_of(r, 403)["type"] == "permission_error"
    r = c.post("/v1/chat/completions", json={"model": "auto", "messages": MSGS}, headers={"x-test-user": "greedy"})
    err = error_of(r, 429)
    assert err["type"] == "rate_limit_error" and r.headers["retry-after"] == "3"
    assert r.headers["x-ratelimit-remaining-requests"] == "0"


def test_rights_restrict_routing_and_identity_reaches_the_model(guarded: Any, fake_openai: FakeOpenAI) -> None:
    c, access = guarded
    long = " ".join(["explain the derivation of the integral step by step"] * 4)
    msgs = [{"role": "user", "content": long}]
    r = c.post("/v1/chat/completions", json={"model": "auto", "messages": msgs}, headers={"x-test-user": "junior"})
    assert r.status_code == 200 and r.json()["model"] == "small"  # the policy wanted large: routed down
    assert "eligibility.allowed" in r.headers["x-sirp-policy"]
    assert r.headers["x-ratelimit-remaining-requests"] == "9"
    assert fake_openai.requests[-1].headers["x-authz-user-id"] == "junior"
    assert access.usage[-1][1] == r.json()["usage"]["total_tokens"]
    assert access.admitted[-1]["model"] == "auto" and access.admitted[-1]["estimated_tokens"] > 0
    # pinning a model above the caller's rights is refused, with the rate-limit headers still on
    r = c.post("/v1/chat/completions", json={"model": "large", "messages": MSGS}, headers={"x-test-user": "junior"})
    assert error_of(r, 403)["code"] == "permission_denied"
    assert r.headers["x-ratelimit-remaining-requests"] == "9"
    assert access.admitted[-1]["model"] == "large"


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("pii", False, "X-SIRP-Privacy"),
        ("allowed_models", ["large"], "X-SIRP-Require"),
        ("extra_headers", {"x-authz-user-id": "admin"}, "the server's to set"),
        ("time_budget_s", 9999, "dispatch.time_budget_s"),
        ("cache", "bypass", "Cache-Control"),
    ],
)
def test_python_api_parameters_are_refused_over_http(
    client: TestClient, fake_openai: FakeOpenAI, field: str, value: Any, hint: str
) -> None:
    err = error_of(post(client, **{field: value}), 400)
    assert err["param"] == field and hint in err["message"]
    r = client.post("/v1/responses", json={"model": "auto", "input": SHORT, field: value})
    assert error_of(r, 400)["param"] == field
    assert not fake_openai.requests  # nothing reached a model


def test_reasoning_object_spelling(client: TestClient) -> None:
    r = post(client, reasoning={"effort": "high"})
    assert r.status_code == 200 and "reasoning=on" in r.headers["x-sirp-decision"]
    assert error_of(post(client, reasoning=True), 400)["param"] == "reasoning"


def test_access_configured_in_the_server_section(mock_folder: Path, server_config: dict[str, Any]) -> None:
    # RBAC rules that name tiers need the router config: the app hands the access layer all of it
    server_config["server"] = {
        "access": {
            "trusted_proxies": ["127.0.0.1/32"],
            "rbac": {
                "rules": [{"groups": ["*"], "tiers": ["slm"]}, {"groups": ["pro"], "tiers": ["llm"]}],
                "on_exceed": "route_down",
            },
        }
    }
    with TestClient(build_app(mock_folder, server_config), client=("127.0.0.1", 50000)) as c:
        long = " ".join(["explain the derivation of the integral step by step"] * 4)
        body = {"model": "auto", "messages": [{"role": "user", "content": long}]}
        pro = c.post("/v1/chat/completions", json=body, headers={"x-authz-user-id": "p", "x-authz-user-groups": "pro"})
        assert pro.json()["model"] == "large"
        basic = c.post("/v1/chat/completions", json=body, headers={"x-authz-user-id": "b"})
        assert basic.json()["model"] == "small" and "eligibility.allowed" in basic.headers["x-sirp-policy"]
        # a pin above the caller's rights is routed down, not refused (rbac.on_exceed: route_down)
        pinned = c.post("/v1/chat/completions", json={**body, "model": "large"}, headers={"x-authz-user-id": "b"})
        assert pinned.status_code == 200 and pinned.json()["model"] == "small"


def test_an_unavailable_access_layer_is_503(mock_folder: Path, server_config: dict[str, Any]) -> None:
    from sirp.errors import AccessUnavailableError

    class Down(FakeAccess):
        async def admit(self, *args: Any, **kwargs: Any) -> Any:
            raise AccessUnavailableError("redis at 10.0.0.7:6379 is down")

    with TestClient(build_app(mock_folder, server_config, access=Down())) as c:
        r = post(c)
        err = error_of(r, 503)
        assert err["code"] == "access_unavailable" and "10.0.0.7" not in err["message"]
        assert r.headers["retry-after"] == "1"


def test_a_blocked_request_is_403_like_extproc() -> None:
    from sirp.errors import RequestBlockedError
    from sirp.server.errors import api_error

    err = api_error(RequestBlockedError("refused: looks like a jailbreak", score=0.97))
    assert (err.status_code, err.code) == (403, "request_blocked")
    assert "jailbreak" in str(err)
