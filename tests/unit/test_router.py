"""SemanticRouter over MockBackend: the pipeline's shape, batching, async and bad input."""

from __future__ import annotations

import asyncio
import json

import pytest

from sirp import InputError, PromptTypeError, RoutingDecision
from sirp.backends.mock import MockBackend


def test_route_fills_every_field(mock_router) -> None:
    d = mock_router.route("what is the integral of the matrix?")
    assert isinstance(d, RoutingDecision)
    assert d.category in d.scores
    assert abs(sum(d.scores.values()) - 1) < 1e-6
    assert set(d.success) == {"slm", "llm"}
    assert d.complexity == pytest.approx(1 - d.success["slm"])
    assert d.model == {"slm": "small", "llm": "large"}[d.tier]
    assert d.latency_ms > 0
    assert d.trace
    json.loads(d.model_dump_json())


def test_batch_is_one_pass_and_matches_single(mock_router) -> None:
    backend: MockBackend = mock_router.backend
    texts = ["cell gene", "court appeal of the contract", "war"]
    before = backend.calls
    many = mock_router.route_batch(texts)
    assert backend.calls == before + 1
    for t, d in zip(texts, many, strict=True):
        one = mock_router.route(t)
        assert (one.category, one.tier, one.reasoning) == (d.category, d.tier, d.reasoning)


def test_batch_size_splits_passes(mock_folder, mock_config) -> None:
    from sirp import SemanticRouter
    from sirp.backends.model_folder import ModelFolder

    mock_config["classifier"]["batch_size"] = 2
    backend = MockBackend(ModelFolder.load(mock_folder).manifest)
    r = SemanticRouter(mock_config, backend=backend)
    r.route_batch(["a cell", "b gene", "c war", "d king", "e sum"])
    assert backend.calls == 3


def test_aroute(mock_router) -> None:
    d = asyncio.run(mock_router.aroute("cell"))
    assert d == mock_router.route("cell").model_copy(update={"latency_ms": d.latency_ms})
    ds = asyncio.run(mock_router.aroute_batch(["cell", "war"]))
    assert len(ds) == 2


def test_truncation_is_flagged(mock_router) -> None:
    assert mock_router.route("cell " * 100).truncated
    assert not mock_router.route("cell").truncated


def test_longer_prompts_look_harder_with_mock(mock_router) -> None:
    easy, hard = mock_router.route("cell"), mock_router.route("cell gene protein enzyme species tissue dna")
    assert hard.complexity > easy.complexity


def test_follow_up_borrows_the_conversation(mock_folder, mock_config) -> None:
    from sirp import SemanticRouter
    from sirp.backends.model_folder import ModelFolder
    from sirp.backends.tokenization import TokenizedBatch

    manifest = ModelFolder.load(mock_folder).manifest
    import numpy as np

    def handler(batch: TokenizedBatch) -> dict:
        n = len(batch)
        lengths = batch.attention_mask.sum(1)
        cat = np.zeros((n, 4), np.float32)
        for i in range(n):
            if lengths[i] > 8:  # the turn with context: sure it is law (index 2)
                cat[i, 2] = 6.0
            # the short follow-up alone: flat distribution
        return {
            "category_logits": cat,
            "success_logits": np.zeros((n, 2), np.float32),
            "embedding": np.zeros((n, 8), np.float32),
        }

    r = SemanticRouter(mock_config, backend=MockBackend(manifest, handler))
    msgs = [
        {"role": "user", "content": "the court ruled on the contract and the plaintiff appealed"},
        {"role": "assistant", "content": "..."},
        {"role": "user", "content": "and why?"},
    ]
    d = r.route(msgs)
    assert d.category == "law"
    assert d.trace[0].rule == "context.window"
    alone = r.route("and why?")
    assert alone.confidence == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("prompt", "error", "match"),
    [
        ("", InputError, "empty"),
        (123, PromptTypeError, "must be a string"),
        ("x" * 100_000, InputError, "more than the limit"),
        (b"\xc3\x28", InputError, "not valid UTF-8"),
        ([{"role": "assistant", "content": "hi"}], InputError, "no user turn"),
    ],
)
def test_bad_input(mock_router, prompt, error, match) -> None:
    with pytest.raises(error, match=match):
        mock_router.route(prompt)
    assert mock_router.route("still serving").category  # the router keeps working


def test_bad_prompt_in_batch_names_its_index(mock_router) -> None:
    backend: MockBackend = mock_router.backend
    before = backend.calls
    with pytest.raises(InputError, match=r"prompts\[1\]"):
        mock_router.route_batch(["fine", "", "also fine"])
    assert backend.calls == before  # nothing ran


def test_route_batch_needs_a_list(mock_router) -> None:
    with pytest.raises(PromptTypeError, match="takes a list"):
        mock_router.route_batch("not a list")


def test_context_manager_closes(mock_folder, mock_config) -> None:
    from sirp import SemanticRouter
    from sirp.backends.model_folder import ModelFolder

    closed = []

    class Closing(MockBackend):
        def close(self) -> None:
            closed.append(True)

    with SemanticRouter(mock_config, backend=Closing(ModelFolder.load(mock_folder).manifest)) as r:
        r.route("cell")
    assert closed == [True]
