"""The semantic cache end to end: SemanticRouter → cache → official openai client → fake server on loopback.

The fake server records every request it receives, so "answered from the cache" is checked as
"never reached the server". Most tests run the classifier on MockBackend with a bag-of-tokens
embedding (same words in another order or case → same vector); the last one uses the bundled
model on a real paraphrase.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sirp import SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder, ModelManifest
from sirp.backends.tokenization import TokenizedBatch
from sirp.errors import UpstreamError
from sirp.testing.fake_openai import FakeOpenAI
from tests.synthetic import make_rows, make_tokenizer

pytest.importorskip("openai", reason="dispatch needs the sirp[client] extra")

DIM = 64
Q = "What is the height of Mt. Everest?"
PARAPHRASE = "the HEIGHT of mt. everest is what?"  # same tokens, other order and case


def bag_of_tokens(manifest: ModelManifest):
    def run(batch: TokenizedBatch) -> dict[str, np.ndarray]:
        n = len(batch)
        emb = np.zeros((n, DIM), dtype=np.float32)
        for i in range(n):
            for t in batch.input_ids[i][batch.attention_mask[i] == 1]:
                emb[i, int(t) % DIM] += 1.0
        cat = np.zeros((n, len(manifest.categories)), dtype=np.float32)
        cat[:, 0] = 8.0  # everything is 'biology'
        succ = np.zeros((n, len(manifest.reference_models)), dtype=np.float32)
        return {"category_logits": cat, "success_logits": succ, "embedding": emb}

    return run


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_tokenizer(make_rows(200), tmp_path)
    (tmp_path / "model.int8.onnx").write_bytes(b"not used by MockBackend")
    manifest = ModelManifest(
        categories=["biology", "history", "law", "math"],
        reference_models=["small-model", "large-model"],
        embedding_dim=DIM,
        max_length=64,
        files={"int8": "model.int8.onnx"},
    )
    (tmp_path / MANIFEST_NAME).write_text(manifest.model_dump_json())
    return tmp_path


def make_router(folder: Path, server: FakeOpenAI, **cache: Any) -> SemanticRouter:
    cfg = {
        "classifier": {"model": str(folder)},
        "tiers": [
            {"name": "slm", "model": "small", "reference_model": "small-model"},
            {"name": "llm", "model": "large", "reference_model": "large-model"},
        ],
        "models": [
            {"name": "small", "tier": "slm", "base_url": server.base_url, "timeout_s": 5, "max_retries": 0},
            {"name": "large", "tier": "llm", "base_url": server.base_url, "timeout_s": 5, "max_retries": 0},
        ],
        "cache": {"enabled": True, **cache},
    }
    manifest = ModelFolder.load(folder).manifest
    return SemanticRouter(cfg, backend=MockBackend(manifest, bag_of_tokens(manifest)))


def chat_requests(server: FakeOpenAI) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_a_paraphrased_second_call_is_a_hit_and_never_reaches_the_server(folder: Path, fake_openai) -> None:
    router = make_router(folder, fake_openai)
    first = router.complete(Q)
    assert first.cache == "miss" and len(chat_requests(fake_openai)) == 1
    second = router.complete(PARAPHRASE)
    assert second.cache == "hit"
    assert len(chat_requests(fake_openai)) == 1  # the server never saw the paraphrase
    assert second.content == first.content and second.model == first.model
    assert second.decision.trace[-1].rule == "cache.hit"
    assert "cache" not in chat_requests(fake_openai)[0].body  # sirp's flag is not forwarded
    router.close()


def test_a_different_system_prompt_or_temperature_reaches_the_server(folder: Path, fake_openai) -> None:
    router = make_router(folder, fake_openai)
    router.complete(Q)
    with_system = [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": Q}]
    assert router.complete(with_system).cache == "miss"
    assert router.complete(Q, temperature=1.5).cache == "miss"
    assert router.complete(Q, model="large").cache == "miss"
    assert len(chat_requests(fake_openai)) == 4


def test_bypass_and_refresh_reach_the_server(folder: Path, fake_openai) -> None:
    router = make_router(folder, fake_openai)
    router.complete(Q)
    assert router.complete(Q, cache="bypass").cache == "bypass"
    fake_openai.behave("small", content="a newer answer")
    refreshed = router.complete(Q, cache="refresh")
    assert refreshed.cache == "refresh" and len(chat_requests(fake_openai)) == 3
    again = router.complete(PARAPHRASE)
    assert again.cache == "hit" and again.content == "a newer answer"


def test_personal_data_bypasses_the_cache(folder: Path, fake_openai) -> None:
    router = make_router(folder, fake_openai)
    assert router.complete(Q, pii=True).cache == "bypass"
    assert router.cache is not None and len(router.cache) == 0


def test_streams_are_stored_only_when_complete(folder: Path, fake_openai) -> None:
    router = make_router(folder, fake_openai)
    fake_openai.behave("small", end_stream_after=3, times=1)  # ends cleanly but without finish_reason
    broken = router.stream(Q)
    with pytest.raises(UpstreamError, match="incomplete"):
        broken.until_done()
    assert router.cache is not None and len(router.cache) == 0
    live = router.stream(Q)
    text = "".join(c.choices[0].delta.content or "" for c in live if c.choices)
    assert live.result.cache == "miss" and len(router.cache) == 1
    replay = router.stream(PARAPHRASE)
    replayed = "".join(c.choices[0].delta.content or "" for c in replay if c.choices)
    assert replay.result.cache == "hit" and replayed == text
    assert len(chat_requests(fake_openai)) == 2
    # a streamed answer also serves a plain call, and the other way round
    assert router.complete(Q).cache == "hit" and len(chat_requests(fake_openai)) == 2


def test_async_calls_share_the_cache(folder: Path, fake_openai) -> None:
    router = make_router(folder, fake_openai)

    async def run():
        first = await router.acomplete(Q)
        second = await router.acomplete(PARAPHRASE)
        stream = await router.astream(PARAPHRASE)
        chunks = [c async for c in stream]
        await router.aclose()
        return first, second, stream, chunks

    first, second, stream, chunks = asyncio.run(run())
    assert (first.cache, second.cache, stream.result.cache) == ("miss", "hit", "hit")
    assert chunks and len(chat_requests(fake_openai)) == 1


def test_with_the_cache_off_nothing_changes(folder: Path, fake_openai) -> None:
    router = make_router(folder, fake_openai, enabled=False)
    assert router.cache is None
    a, b = router.complete(Q), router.complete(Q, cache="refresh")
    assert a.cache is None and b.cache is None and len(chat_requests(fake_openai)) == 2
    assert "cache" not in chat_requests(fake_openai)[1].body


def test_bundled_model_hits_on_a_near_verbatim_repeat(fake_openai) -> None:
    cfg = {
        "models": [
            {"name": "llama-3.1-8b-instruct", "tier": "slm", "base_url": fake_openai.base_url},
            {"name": "llama-3.1-70b-instruct", "tier": "llm", "base_url": fake_openai.base_url},
        ],
        "cache": {"enabled": True},
        "classifier": {"threads": 1},
    }
    with SemanticRouter(cfg) as router:
        assert router.complete("What is the height of Mount Everest?").cache == "miss"
        hit = router.complete("  what is the height of  mount everest?")  # case and spacing only: 0.99 holds
        other = router.complete("What is the height of the Eiffel Tower?")
    assert hit.cache == "hit" and other.cache == "miss"
    assert len(chat_requests(fake_openai)) == 2
