"""docs/cache.md describes every cache config field, and the docs index links it."""

from __future__ import annotations

from pathlib import Path

from sirp.config.cache import DEFAULT_CACHE_THRESHOLD, CacheConfig

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_every_cache_field_is_documented() -> None:
    text = (DOCS / "cache.md").read_text(encoding="utf-8")
    missing = [f for f in CacheConfig.model_fields if f"`{f}`" not in text]
    assert not missing, f"docs/cache.md does not describe CacheConfig fields {missing}"


def test_the_documented_default_threshold_is_the_real_one() -> None:
    text = (DOCS / "cache.md").read_text(encoding="utf-8")
    assert f"`threshold` | `{DEFAULT_CACHE_THRESHOLD}`" in text


def test_docs_index_links_the_cache_page() -> None:
    assert "(cache.md)" in (DOCS / "index.md").read_text(encoding="utf-8")
