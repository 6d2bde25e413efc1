"""docs/policy.md, docs/dispatch.md and docs/server.md describe every config field of the policy, the dispatch and
the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from sirp.config.schema import (
    CategoryConfig,
    DispatchConfig,
    JailbreakConfig,
    ModelConfig,
    PolicyConfig,
    PrivacyConfig,
    ReasoningConfig,
    ToolsConfig,
)
from sirp.config.server import ResponseStoreConfig, ServerConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize(
    ("model", "doc"),
    [
        (PolicyConfig, "policy.md"),
        (ReasoningConfig, "policy.md"),
        (PrivacyConfig, "policy.md"),
        (JailbreakConfig, "policy.md"),
        (ToolsConfig, "policy.md"),
        (CategoryConfig, "policy.md"),
        (ModelConfig, "dispatch.md"),
        (DispatchConfig, "dispatch.md"),
        (ServerConfig, "server.md"),
        (ResponseStoreConfig, "server.md"),
    ],
    ids=lambda x: x if isinstance(x, str) else x.__name__,
)
def test_every_field_is_documented(model: type[BaseModel], doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    # a field is described as `name`, as `section.name`, or, for a section, by its own fields (`name.x`)
    missing = [f for f in model.model_fields if f"`{f}`" not in text and f".{f}`" not in text and f"`{f}." not in text]
    assert not missing, f"{doc} does not describe {model.__name__}: {missing}"


def test_docs_index_links_the_policy_page() -> None:
    assert "(policy.md)" in (DOCS / "index.md").read_text(encoding="utf-8")


def test_docs_index_links_the_server_page() -> None:
    assert "(server.md)" in (DOCS / "index.md").read_text(encoding="utf-8")
