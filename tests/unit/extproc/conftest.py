"""The ext_proc service on loopback: a real grpc.aio server (MockBackend router), a real channel to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("grpc", reason="sirp extproc needs the sirp[envoy] extra")
pytest.importorskip("envoy.service.ext_proc.v3.external_processor_pb2", reason="sirp extproc needs sirp[envoy]")

import grpc
import pytest_asyncio

from sirp.extproc import build_state, create_server
from sirp.extproc.metrics import ExtProcMetrics
from tests.unit.extproc.support import build_router, make_config


class Running:
    """A started service: its servicer, state, metrics and a channel to it."""

    def __init__(self, server: Any, servicer: Any, channel: grpc.aio.Channel, port: int) -> None:
        self.server = server
        self.servicer = servicer
        self.state = servicer.state
        self.metrics: ExtProcMetrics = servicer.metrics
        self.channel = channel
        self.port = port

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        value = self.metrics.registry.get_sample_value(name, labels or {})
        return value or 0.0


@pytest_asyncio.fixture
async def start(mock_folder: Path) -> AsyncIterator[Callable[..., Any]]:
    """``await start(handler=None, **config_overrides)`` → a :class:`Running` service, stopped after the test."""
    started: list[Running] = []

    async def _start(handler: Any = None, **overrides: Any) -> Running:
        config = make_config(mock_folder, **overrides)
        router = build_router(mock_folder, config, handler)
        state = build_state(router, ExtProcMetrics())
        server, servicer, port = await create_server(state, host="127.0.0.1", port=0)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        running = Running(server, servicer, channel, port)
        started.append(running)
        return running

    yield _start
    for r in started:
        await r.channel.close()
        await r.server.stop(0)
        await r.servicer.drain()
        await r.state.router.aclose()
