"""Server fixtures: the app on MockBackend, its upstream a FakeOpenAI on loopback, driven in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server needs the sirp[server] extra")

from fastapi.testclient import TestClient

from sirp.testing.fake_openai import FakeOpenAI
from tests.unit.server.support import build_app, make_config


@pytest.fixture
def server_config(mock_folder: Path, fake_openai: FakeOpenAI) -> dict[str, Any]:
    return make_config(mock_folder, fake_openai)


@pytest.fixture
def client(mock_folder: Path, server_config: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(build_app(mock_folder, server_config)) as c:
        yield c
