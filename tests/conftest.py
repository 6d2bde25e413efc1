"""Shared fixtures: a tiny ModernBERT trained, exported and quantised once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.synthetic import write_dataset

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def tiny_run(synthetic_data: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny ModernBERT trained for a few epochs on the synthetic rows (needs sirp[train])."""
    pytest.importorskip("torch", reason="training needs the sirp[train] extra")
    from sirp.training.trainer import ModelSize, TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        train=synthetic_data["train"],
        dev=synthetic_data["dev"],
        output=out,
        tokenizer=synthetic_data["tokenizer"],
        model=ModelSize(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
        epochs=6,
        batch_size=16,
        lr=3e-3,
        max_length=64,
        eval_every=100,
        checkpoint_every=50,
        threads=1,
    )
    train(cfg)
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_run: Path, synthetic_data: dict[str, Path]) -> Path:
    """The tiny run exported to a verified sirp model folder (fp32 + int8)."""
    from sirp.training.export import export

    texts = [json.loads(line)["text"] for line in synthetic_data["dev"].read_text().splitlines()]
    folder = tiny_run.parent / (tiny_run.name + "-model")
    export(tiny_run / "best", folder, verify_texts=texts, max_length=64)
    return folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mmlu-pro" / "questions.jsonl").is_file():
        pytest.skip(f"benchmark data not found at {SHARED_DATA} (the project's ../shared/data)")
    return SHARED_DATA


@pytest.fixture
def fake_openai():
    """A fake OpenAI-compatible server on loopback (sirp.testing.fake_openai), stopped after the test."""
    from sirp.testing.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server_url():
    """One real redis-server (Debian's package) on loopback for the whole test session."""
    from sirp.testing.redis_server import redis_server

    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The session's Redis, emptied before each test so tests never see each other's keys."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushall()
    client.close()
    return redis_server_url
