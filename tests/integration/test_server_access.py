"""Access control and provider failover end to end: the official ``openai`` client → ``sirp serve`` → fakes.

The app runs on uvicorn on loopback (MockBackend: short prompts route to the small tier, long
ones to the large tier) with the real access layer (``sirp.server.access``): JWTs signed here,
RBAC, rate limits in a real Redis shared by two replicas. Upstreams are ``FakeOpenAI`` servers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server needs the sirp[server] extra")
openai = pytest.importorskip("openai")
jwt = pytest.importorskip("jwt")
uvicorn = pytest.importorskip("uvicorn")

from sirp.backends.mock import MockBackend  # noqa: E402
from sirp.backends.model_folder import ModelFolder  # noqa: E402
from sirp.config.schema import RouterConfig  # noqa: E402
from sirp.server import create_app  # noqa: E402
from sirp.server.access import AccessControl  # noqa: E402
from sirp.testing.fake_openai import FakeOpenAI  # noqa: E402
from tests.integration.test_dispatch import make_folder  # noqa: E402

SHORT = "hi there"  # few tokens: the mock classifier keeps it on the small tier
LONG = " ".join(["explain the derivation of the integral step by step"] * 4)  # many tokens: the large tier

SECRET = "e2e-secret-for-tests-only-0123456789abcdef"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path, ["small-model", "large-model"])


def make_config(folder: Path, upstream: FakeOpenAI) -> dict[str, Any]:
    def model(name: str, tier: str) -> dict[str, Any]:
        return {"name": name, "tier": tier, "base_url": upstream.base_url, "timeout_s": 5, "max_retries": 1}

    return {
        "classifier": {"model": str(folder)},
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": "small-model"},
            {"name": "llm", "model": "large", "reference_model": "large-model"},
        ],
        # with the mock classifier a stronger tier gains 0.23 (short prompts) to 0.36 (long ones)
        "policy": {"gain_threshold": 0.3},
        "models": [model("small", "slm"), model("large", "llm"), model("backup", "llm")],
        "fallback": ["backup"],
        "dispatch": {"backoff_initial_s": 0.01, "backoff_max_s": 0.02, "time_budget_s": 10},
    }


def build_app(folder: Path, config: dict[str, Any], **kwargs: Any) -> Any:
    return create_app(config, backend=MockBackend(ModelFolder.load(folder).manifest), **kwargs)


class Served:
    """An ASGI app on uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", proxy_headers=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:  # start-up, not a timed assertion
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def token(sub: str = "alice", groups: list[str] | None = None, *, exp_in: int = 600, aud: str = "sirp") -> str:
    claims = {"sub": sub, "groups": groups or [], "tenant_id": "acme", "aud": aud, "exp": int(time.time()) + exp_in}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def client(served: Served, api_key: str, **headers: str) -> Any:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=api_key, max_retries=0, default_headers=headers or None)


def msgs(text: str = SHORT) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def jwt_served(folder: Path, fake_openai: FakeOpenAI, monkeypatch) -> Iterator[Served]:
    """JWT required; everyone may use the slm tier, 'pro' also the llm tier; pins above rights refused."""
    monkeypatch.setenv("SIRP_E2E_JWT_SECRET", SECRET)
    cfg = make_config(folder, fake_openai)
    cfg["server"] = {
        "access": {
            "jwt": {"secret_env": "SIRP_E2E_JWT_SECRET", "audience": ["sirp"], "required": True},
            "rbac": {
                "on_exceed": "refuse",
                "rules": [{"groups": ["*"], "tiers": ["slm"]}, {"groups": ["pro"], "tiers": ["llm"]}],
            },
        }
    }
    # Rules naming tiers need the models: the layer is built from the whole config.
    access = AccessControl.from_config(RouterConfig.from_dict(cfg))
    with Served(build_app(folder, cfg, access=access)) as s:
        yield s


def test_401_without_or_with_a_bad_token(jwt_served: Served) -> None:
    for key, message in (
        ("sk-not-a-jwt", "needs a JWT"),
        (token(exp_in=-3600), "the token has expired"),
        (token(aud="other"), "not meant for this server"),
        (
            jwt.encode({"sub": "x", "exp": time.time() + 60}, "wrong-secret-but-long-enough-123456789"),
            "does not verify",
        ),
    ):
        with client(jwt_served, key) as c, pytest.raises(openai.AuthenticationError, match=message) as e:
            c.chat.completions.create(model="auto", messages=msgs())
        assert e.value.status_code == 401
        assert e.value.body["type"] == "authentication_error"  # the OpenAI error format


def test_403_for_a_pin_above_the_callers_rights(jwt_served: Served, fake_openai: FakeOpenAI) -> None:
    with client(jwt_served, token(groups=[])) as c:
        with pytest.raises(openai.PermissionDeniedError, match="may not use the model 'large'") as e:
            c.chat.completions.create(model="large", messages=msgs())
        assert e.value.status_code == 403
        assert c.chat.completions.create(model="small", messages=msgs()).model == "small"
    with client(jwt_served, token(groups=["pro"])) as c:
        assert c.chat.completions.create(model="large", messages=msgs()).model == "large"
    assert len(fake_openai.requests_for("large")) == 1  # the refused request never reached it


def test_a_routed_request_above_its_rights_is_routed_down(jwt_served: Served, fake_openai: FakeOpenAI) -> None:
    with client(jwt_served, token(groups=[])) as c:
        raw = c.chat.completions.with_raw_response.create(model="auto", messages=msgs(LONG))
    assert raw.parse().model == "small"  # the policy wanted the llm tier; the caller may use slm only
    assert raw.headers["x-sirp-decision"].startswith("model=small; tier=slm")
    with client(jwt_served, token(groups=["pro"])) as c:
        assert c.chat.completions.create(model="auto", messages=msgs(LONG)).model == "large"


def test_spoofed_identity_headers_are_ignored_and_the_verified_one_is_forwarded(
    jwt_served: Served, fake_openai: FakeOpenAI
) -> None:
    spoof = {"x-authz-user-id": "admin", "x-authz-user-groups": "pro", "x-authz-tenant-id": "other"}
    with client(jwt_served, token("alice", groups=[]), **spoof) as c:
        out = c.chat.completions.create(model="auto", messages=msgs(LONG))
    assert out.model == "small"  # the 'pro' header did not grant the llm tier
    (req,) = fake_openai.requests_for("small")
    assert req.headers["x-authz-user-id"] == "alice"
    assert req.headers["x-authz-tenant-id"] == "acme"
    assert "x-authz-user-groups" not in req.headers  # alice has no groups


def test_429_with_retry_after_and_headers_shared_by_two_replicas(
    folder: Path, fake_openai: FakeOpenAI, redis_url: str, monkeypatch
) -> None:
    monkeypatch.setenv("SIRP_E2E_REDIS_URL", redis_url)
    cfg = make_config(folder, fake_openai)
    cfg["server"] = {
        "redis_url_env": "SIRP_E2E_REDIS_URL",
        "access": {
            "trusted_proxies": ["127.0.0.1"],  # the test plays the gateway that sets x-authz-*
            "rate_limits": {"backend": "redis", "rules": [{"requests_per_minute": 3, "tokens_per_minute": 100000}]},
        },
    }
    # The server's own wiring (server.access → build_access), two replicas on one Redis.
    with Served(build_app(folder, cfg)) as one, Served(build_app(folder, cfg)) as two:
        remaining = []
        for served in (one, two, one):
            with client(served, "sk-x", **{"x-authz-user-id": "alice"}) as c:
                raw = c.chat.completions.with_raw_response.create(model="auto", messages=msgs())
                remaining.append(raw.headers["x-ratelimit-remaining-requests"])
                assert raw.headers["x-ratelimit-limit-requests"] == "3"
                assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
        assert remaining == ["2", "1", "0"]
        with (
            client(two, "sk-x", **{"x-authz-user-id": "alice"}) as c,
            pytest.raises(openai.RateLimitError, match="3 requests per minute") as e,
        ):
            c.chat.completions.create(model="auto", messages=msgs())
        headers = e.value.response.headers
        assert e.value.status_code == 429 and e.value.body["code"] == "rate_limit_exceeded"
        assert 1 <= int(headers["retry-after"]) <= 20  # one request refills every 20 s
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"].endswith("s")
        with client(two, "sk-x", **{"x-authz-user-id": "bob"}) as c:  # bob has his own budget
            assert c.chat.completions.create(model="auto", messages=msgs()).model == "small"
    assert len(fake_openai.requests_for("small")) == 4  # the refused request never went upstream


def test_two_providers_of_one_model_fail_over(folder: Path, fake_openai: FakeOpenAI) -> None:
    with FakeOpenAI() as second:
        cfg = make_config(folder, fake_openai)
        small = cfg["models"][0]
        del small["base_url"]
        small["providers"] = [
            {"name": "first", "base_url": fake_openai.base_url, "weight": 1},
            {"name": "second", "base_url": second.base_url, "weight": 0},  # standby
        ]
        fake_openai.behave("small", fail_status=503)
        with Served(build_app(folder, cfg)) as served, client(served, "sk-x") as c:
            for _ in range(3):
                out = c.chat.completions.create(model="auto", messages=msgs())
                assert out.model == "small" and out.choices[0].message.content == f"Echo from small: {SHORT}"
            streamed = "".join(
                chunk.choices[0].delta.content or ""
                for chunk in c.chat.completions.create(model="auto", messages=msgs(), stream=True)
                if chunk.choices
            )
        assert streamed == f"Echo from small: {SHORT}"
        # each request tried the first provider, then failed over to the second; never to backup
        assert len(fake_openai.requests_for("small")) == 4
        assert len(second.requests_for("small")) == 4
        assert fake_openai.requests_for("backup") == []
