"""ServerConfig validation, create_app's checks, the header names, and the lazy import of the server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from sirp import ConfigError, SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import ModelFolder
from sirp.config.loader import config_from_dict
from sirp.config.server import HeaderKey
from sirp.server import create_app
from sirp.server.headers import DEFAULT_HEADER_NAMES, HeaderNames, header_value
from tests.unit.server.support import build_app


@pytest.mark.parametrize(
    ("server", "match"),
    [
        ({"responses": {"backend": "redis"}}, r"server\.responses\.backend: redis needs server\.redis_url"),
        ({"redis_url_env": "redis://secret@host"}, r"NAME of an environment variable"),
        ({"redis_url": "http://redis"}, r"redis_url must start with redis://"),
        ({"header_names": {"category": "X Bad"}}, r"not a valid HTTP header name"),
        ({"header_names": {"category": "X-A", "policy": "x-a"}}, r"used twice: x-a"),
        ({"header_names": {"colour": "X-Colour"}}, r"server\.header_names\.colour"),
        ({"cors_origins": ["example.com"]}, r"not an origin"),
        ({"port": 0}, r"server\.port"),
        ({"fast_path_max_tier": "xl"}, r"server\.fast_path_max_tier"),
        ({"auto": "x"}, r"server\.auto"),
    ],
)
def test_bad_server_config_fails_at_its_path(server: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        config_from_dict({"server": server})


def test_a_password_in_redis_url_env_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"server": {"redis_url_env": "redis://:hunter2@host"}})
    assert "hunter2" not in str(info.value)


def test_auto_model_must_not_shadow_a_model(mock_folder: Path, server_config: dict[str, Any]) -> None:
    server_config["server"] = {"auto_model": "large"}
    with pytest.raises(ConfigError, match="auto_model: 'large' is also the name"):
        build_app(mock_folder, server_config)


def test_an_unset_redis_variable_fails_at_startup(mock_folder: Path, server_config: dict[str, Any]) -> None:
    server_config["server"] = {"responses": {"backend": "redis"}, "redis_url_env": "SIRP_TEST_UNSET_VARIABLE"}
    with pytest.raises(ConfigError, match="SIRP_TEST_UNSET_VARIABLE is not set"):
        build_app(mock_folder, server_config)


def test_a_given_router_is_served_and_not_closed(mock_folder: Path, server_config: dict[str, Any]) -> None:
    router = SemanticRouter(server_config, backend=MockBackend(ModelFolder.load(mock_folder).manifest))
    closed: list[bool] = []
    router.backend.close = lambda: closed.append(True)  # type: ignore[method-assign]
    with TestClient(create_app(router)) as c:
        assert c.post("/v1/classify", json={"input": "hello"}).status_code == 200
    assert closed == []
    with pytest.raises(ConfigError, match="not both"):
        create_app(router, backend=MockBackend(ModelFolder.load(mock_folder).manifest))


def test_cors_exposes_the_signalling_headers(mock_folder: Path, server_config: dict[str, Any]) -> None:
    server_config["server"] = {"cors_origins": ["https://app.example.com"]}
    with TestClient(build_app(mock_folder, server_config)) as c:
        r = c.post("/v1/classify", json={"input": "hello"}, headers={"Origin": "https://app.example.com"})
        assert r.headers["access-control-allow-origin"] == "https://app.example.com"
        exposed = r.headers["access-control-expose-headers"].lower()
        assert "x-sirp-decision" in exposed and "x-request-id" in exposed


def test_every_header_key_has_a_default_name() -> None:
    assert set(DEFAULT_HEADER_NAMES) == set(get_args(HeaderKey))
    names = HeaderNames()
    assert names["decision"] == "X-SIRP-Decision" and "x-vsr-selected-model" in names.response_names()


def test_header_values_stay_latin1_safe() -> None:
    assert header_value("math") == "math"
    assert header_value("mathématiques") == "math%C3%A9matiques"
    assert header_value("a\r\nX-Injected: 1") == "a%0D%0AX-Injected: 1"


def test_importing_sirp_does_not_load_the_server() -> None:
    code = (
        "import sys, sirp; sirp.RouterConfig; "
        "print(any(m.startswith(('fastapi', 'starlette', 'sirp.server')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_the_server_extra_the_import_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "try:\n    import sirp.server\nexcept ImportError as err:\n"
        "    print(type(err).__name__, '|', err)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("MissingDependencyError |") and 'pip install "sirp[server]"' in out
