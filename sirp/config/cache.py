"""Settings of the semantic cache (``cache:`` in :class:`~sirp.RouterConfig`); off by default.

The cache answers a request from an earlier answer when the earlier request's last user turn
means the same (cosine similarity of their embeddings ≥ a threshold) and everything else that
shapes an answer — model pin, system prompt, earlier turns, tools, sampling parameters — is
exactly the same. See ``docs/cache.md``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sirp.config.base import FieldPathError
from sirp.config.base import StrictModel as _Model

__all__ = ["DEFAULT_CACHE_THRESHOLD", "CacheConfig"]

#: Default similarity threshold, for the default key embedding (the router's own), picked with
#: ``sirp bench cache`` (docs/cache.md): the lowest threshold with no false hit on different MMLU-Pro
#: dev questions (tune half) and at most one on the hand-written everyday look-alikes. The router's
#: embedding puts "copy a file" and "delete a file" at 0.98, so only near-verbatim repeats may hit;
#: with all-MiniLM-L6-v2 as ``encoder`` the same rule gives 0.83.
DEFAULT_CACHE_THRESHOLD = 0.99

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class CacheConfig(_Model):
    """Semantic cache: where entries live, when two requests count as the same, how long entries live."""

    enabled: bool = Field(default=False, description="answer repeated requests from the cache")
    backend: Literal["memory", "redis"] = Field(
        default="memory", description="'memory' (this process only) or 'redis' (shared by every router replica)"
    )
    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0", description="Redis to use with backend redis (no password in it)"
    )
    redis_url_env: str | None = Field(
        default=None,
        description="name of an environment variable holding the Redis URL (for URLs with a password); "
        "overrides redis_url",
    )
    namespace: str = Field(
        default="sirp:cache",
        min_length=1,
        description="prefix of every Redis key; routers with different namespaces never share entries",
    )
    threshold: float = Field(
        default=DEFAULT_CACHE_THRESHOLD,
        ge=0,
        le=1,
        description="cosine similarity of the last user turns at or above which a cached answer is reused",
    )
    category_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="per-category thresholds (category → similarity), for the category the router decided",
    )
    exclude_categories: list[str] = Field(
        default_factory=list, description="categories never answered from, nor stored in, the cache"
    )
    ttl_s: float | None = Field(default=3600.0, gt=0, description="seconds an entry lives; null = until evicted")
    max_entries: int = Field(default=10_000, ge=1, description="most entries kept; the least recently used go first")
    encoder: Path | None = Field(
        default=None,
        description="model folder of a separate sentence encoder for cache keys; null = the router's own "
        "classifier embedding (same ONNX pass as routing)",
    )
    fingerprint_ignore: list[str] = Field(
        default_factory=list,
        description="request parameters left out of the exact fingerprint (e.g. user, metadata), so that "
        "requests differing only in them share answers",
    )
    match_numbers: bool = Field(
        default=True,
        description="reuse an answer only when both last user turns hold the same numbers (embeddings barely "
        "tell '12 apples' from '15 apples')",
    )
    match_negations: bool = Field(
        default=True,
        description="...and the same negations and opposites (not, except, true/false, most/least, ...)",
    )
    match_names: bool = Field(
        default=True,
        description="...and the same names (capitalised words inside a sentence), compared case-insensitively",
    )
    cache_streams: bool = Field(default=True, description="store streamed answers once they are complete")
    sync_interval_s: float = Field(
        default=0.0,
        ge=0,
        description="redis: seconds between reads of other replicas' new entries; 0 = before every lookup",
    )

    @field_validator("category_thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for name, t in value.items():
            if not 0.0 <= t <= 1.0:
                raise FieldPathError((name,), f"a similarity threshold is between 0 and 1, got {t}")
        return value

    @field_validator("redis_url_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            # Not echoed: a value that is not a variable name may be the URL with its password.
            raise FieldPathError((), "redis_url_env must be the NAME of an environment variable (e.g. SIRP_REDIS_URL)")
        return value

    @model_validator(mode="after")
    def _no_password_inline(self) -> CacheConfig:
        if re.match(r"^rediss?://[^/@]*:[^/@]+@", self.redis_url):
            raise FieldPathError(
                ("redis_url",),
                "carries a password; put the URL in an environment variable and name it in redis_url_env",
            )
        return self

    def threshold_for(self, category: str | None) -> float:
        """The similarity threshold that applies to a request of ``category``."""
        if category is not None and category in self.category_thresholds:
            return self.category_thresholds[category]
        return self.threshold
