"""SemanticRouter with guard heads (on MockBackend): PII spans in the decision, privacy actions, jailbreak rule.

The mock PII head tags the token ``hello`` as a PERSON; the mock jailbreak head scores a text
0.95 when it holds the token ``sky`` and 0.05 otherwise.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tokenizers

from sirp import ConfigError, SemanticRouter
from sirp.backends.mock import MockBackend
from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder, ModelManifest
from sirp.backends.tokenization import TokenizedBatch
from sirp.errors import NoEligibleModelError, RequestBlockedError
from sirp.guards.scan import mask_messages

LABELS = ["O", "B-PERSON", "I-PERSON", "B-EMAIL", "I-EMAIL"]


@pytest.fixture
def guard_folder(mock_folder: Path) -> Path:
    m = ModelFolder.load(mock_folder).manifest
    data = m.model_dump()
    data["outputs"] = {**m.outputs, "pii": "pii_logits", "jailbreak": "jailbreak_logits"}
    data["pii_labels"] = LABELS
    data["jailbreak_threshold"] = 0.6
    (mock_folder / MANIFEST_NAME).write_text(ModelManifest.model_validate(data).model_dump_json())
    return mock_folder


def handler_for(folder: Path) -> Any:
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))

    def run(batch: TokenizedBatch) -> dict[str, np.ndarray]:
        n, t = batch.input_ids.shape
        words = [[tok.id_to_token(int(i)) for i in row] for row in batch.input_ids]
        pii = np.zeros((n, t, len(LABELS)), np.float32)
        pii[:, :, 0] = 5.0
        jb = np.full(n, -3.0, np.float32)
        for r, row in enumerate(words):
            for k, w in enumerate(row):
                if batch.attention_mask[r, k] and w == "hello":
                    pii[r, k, 1] = 9.0
                if batch.attention_mask[r, k] and w == "sky":
                    jb[r] = 3.0
        cat = np.zeros((n, 4), np.float32)
        cat[:, 3] = 8.0
        return {
            "category_logits": cat,
            "success_logits": np.tile(np.array([[1.0, 1.5]], np.float32), (n, 1)),
            "embedding": np.ones((n, 8), np.float32),
            "pii_logits": pii,
            "jailbreak_logits": jb,
        }

    return run


def build(folder: Path, config: dict[str, Any]) -> tuple[SemanticRouter, MockBackend]:
    backend = MockBackend(ModelFolder.load(folder).manifest, handler_for(folder))
    return SemanticRouter(config, backend=backend), backend


def endpoint(name: str, tier: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "tier": tier, "base_url": "http://127.0.0.1:9/v1", **kw}


def test_the_pii_head_fills_the_decision(guard_folder: Path, mock_config: dict) -> None:
    router, _ = build(guard_folder, mock_config)
    text = "hello, how high is everest"
    d = router.route(text)
    assert d.pii_detected is True and d.pii_action == "allow"
    (f,) = d.pii
    assert (f.entity, text[f.start : f.end], f.message) == ("PERSON", "hello", None)
    assert any(t.rule == "privacy.allow" for t in d.trace)
    clean = router.route("how high is everest")
    assert clean.pii_detected is False and clean.pii == [] and clean.pii_action is None


def test_pii_argument_overrides_the_head(guard_folder: Path, mock_config: dict) -> None:
    router, _ = build(guard_folder, mock_config)
    d = router.route("hello there", pii=False)
    assert d.pii_detected is False and d.pii_action is None
    assert not any(t.rule.startswith("privacy.") for t in d.trace)
    assert router.route("how high is everest", pii=True).pii_detected is True


def test_every_message_is_read_in_the_same_single_pass(guard_folder: Path, mock_config: dict) -> None:
    router, backend = build(guard_folder, mock_config)
    msgs = [
        {"role": "system", "content": "sky is the limit"},  # not a user's text: no jailbreak score from it
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "how high is everest"},
    ]
    d = router.route(msgs)
    assert backend.calls == 1
    assert [(f.entity, f.message) for f in d.pii] == [("PERSON", 1)]
    assert d.jailbreak_score is not None and d.jailbreak_score < 0.5 and d.jailbreak is False


def test_entities_and_min_score_filter_what_counts(guard_folder: Path, mock_config: dict) -> None:
    mock_config["policy"] = {"privacy": {"entities": ["EMAIL"]}}
    router, _ = build(guard_folder, mock_config)
    d = router.route("hello there")
    assert d.pii_detected is False and d.pii == []
    mock_config["policy"] = {"privacy": {"min_score": 1.0}}
    assert build(guard_folder, mock_config)[0].route("hello there").pii == []


def test_jailbreak_flag_is_the_default_and_block_marks_the_decision(guard_folder: Path, mock_config: dict) -> None:
    router, _ = build(guard_folder, mock_config)
    d = router.route("the sky is blue")
    assert d.jailbreak is True and d.blocked is False and d.jailbreak_score == pytest.approx(0.9526, abs=1e-3)
    (step,) = [t for t in d.trace if t.rule == "guard.jailbreak"]
    assert "≥ 0.60" in step.detail and "flagged" in step.detail
    assert router.route("how high is everest").jailbreak is False
    mock_config["policy"] = {"jailbreak": {"action": "block"}}
    blocked = build(guard_folder, mock_config)[0].route("the sky is blue")  # route() never raises
    assert blocked.blocked is True and "blocked" in blocked.trace[-1].detail


def test_jailbreak_threshold_and_off(guard_folder: Path, mock_config: dict) -> None:
    mock_config["policy"] = {"jailbreak": {"threshold": 0.99}}
    assert build(guard_folder, mock_config)[0].route("the sky is blue").jailbreak is False
    mock_config["policy"] = {"jailbreak": {"action": "off"}}
    d = build(guard_folder, mock_config)[0].route("the sky is blue")
    assert d.jailbreak is None and d.jailbreak_score is not None


def test_category_jailbreak_action_overrides_the_global_one(guard_folder: Path, mock_config: dict) -> None:
    mock_config["policy"] = {"jailbreak": {"action": "flag"}}
    mock_config["categories"] = [{"name": "math", "jailbreak_action": "block"}]
    d = build(guard_folder, mock_config)[0].route("the sky is blue")
    assert d.blocked is True and "math's action" in d.trace[-1].detail


def test_mask_action_per_model_and_local_only(guard_folder: Path, mock_config: dict) -> None:
    mock_config["models"] = [endpoint("small", "slm", local=True), endpoint("large", "llm")]
    mock_config["policy"] = {"privacy": {"pii_action": "mask", "models": {"small": "allow"}}}
    d = build(guard_folder, mock_config)[0].route("hello")
    assert d.model == "small" and d.pii_action == "allow"
    mock_config["policy"] = {"privacy": {"pii_action": "mask"}}
    d = build(guard_folder, mock_config)[0].route("hello")
    assert d.pii_action == "mask" and any(t.rule == "privacy.mask" for t in d.trace)
    mock_config["policy"] = {"privacy": {"models": {"small": "local_only"}}}
    mock_config["models"] = [endpoint("small", "slm"), endpoint("large", "llm", local=True)]
    d = build(guard_folder, mock_config)[0].route("hello")
    assert (d.model, d.local_only) == ("large", True)


def test_privacy_models_must_be_configured_and_local_only_needs_a_local_model(mock_config: dict) -> None:
    mock_config["policy"] = {"privacy": {"models": {"gpt-9": "mask"}}}
    with pytest.raises(ConfigError, match=r"policy\.privacy\.models\.gpt-9: 'gpt-9' is not a configured model"):
        _load(mock_config)
    mock_config["models"] = [endpoint("small", "slm"), endpoint("large", "llm")]
    mock_config["policy"] = {"privacy": {"models": {"large": "local_only"}}}
    with pytest.raises(ConfigError, match=r"policy\.privacy\.models: local_only needs at least one model"):
        _load(mock_config)


def _load(config: dict[str, Any]) -> Any:
    from sirp.config.loader import config_from_dict

    return config_from_dict(config)


class _Dispatcher:
    """Records what the router hands to dispatch."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    def complete(self, messages: Any, params: Any, route: Any) -> Any:
        self.calls.append((messages, route(messages)))
        return "done"

    async def acomplete(self, messages: Any, params: Any, aroute: Any) -> Any:
        self.calls.append((messages, await aroute(messages)))
        return "done"


def test_complete_masks_before_dispatch_and_blocks_attacks(guard_folder: Path, mock_config: dict) -> None:
    mock_config["models"] = [endpoint("small", "slm"), endpoint("large", "llm")]
    mock_config["policy"] = {"privacy": {"pii_action": "mask"}, "jailbreak": {"action": "block"}}
    router, backend = build(guard_folder, mock_config)
    fake = _Dispatcher()
    router._dispatcher = fake  # type: ignore[assignment]
    msgs = [{"role": "user", "content": "hello , how high is everest"}]
    assert router.complete(msgs) == "done"
    sent, decision = fake.calls[0]
    assert sent == [{"role": "user", "content": "<PERSON> , how high is everest"}]
    assert msgs[0]["content"] == "hello , how high is everest"
    assert decision.trace[-1].rule == "privacy.mask" and "PERSON×1" in decision.trace[-1].detail
    assert backend.calls == 1  # routing, the PII scan and the jailbreak score: one pass
    with pytest.raises(RequestBlockedError, match="jailbreak or prompt-injection") as err:
        router.complete("the sky is blue")
    assert err.value.score > 0.9 and len(fake.calls) == 1
    asyncio.run(router.acomplete("hello"))
    assert fake.calls[1][0] == "<PERSON>"


def test_a_fallback_set_to_mask_makes_every_attempt_masked(guard_folder: Path, mock_config: dict) -> None:
    mock_config["models"] = [endpoint("small", "slm"), endpoint("large", "llm")]
    mock_config["fallback"] = ["large"]
    mock_config["policy"] = {"privacy": {"models": {"large": "mask"}}}
    router, _ = build(guard_folder, mock_config)
    fake = _Dispatcher()
    router._dispatcher = fake  # type: ignore[assignment]
    router.complete("hello")
    assert fake.calls[0][0] == "<PERSON>"
    router.complete("hello", model="small")  # pinned: no fallback reaches large
    assert fake.calls[1][0] == "hello"


def test_local_only_without_a_local_model_still_refuses(guard_folder: Path, mock_config: dict) -> None:
    mock_config["policy"] = {"privacy": {"pii_action": "local_only"}}
    router, _ = build(guard_folder, mock_config)  # no models: the tier models, none local
    with pytest.raises(NoEligibleModelError):
        router.route("hello")


def test_mask_messages_of_a_decision_roundtrip(guard_folder: Path, mock_config: dict) -> None:
    router, _ = build(guard_folder, mock_config)
    msgs = [{"role": "user", "content": "hello"}, {"role": "user", "content": "hello again"}]
    d = router.route(msgs)
    from sirp.guards.pii import PiiSpan

    spans = [PiiSpan(f.entity, f.start, f.end, f.score, f.message) for f in d.pii]
    assert [m["content"] for m in mask_messages(msgs, spans)] == ["<PERSON>", "<PERSON> again"]
