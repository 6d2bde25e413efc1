"""CacheConfig: off by default, validated at load with the field path."""

from __future__ import annotations

import pytest

from sirp.config.cache import DEFAULT_CACHE_THRESHOLD, CacheConfig
from sirp.config.schema import RouterConfig


def test_off_by_default_in_the_router_config() -> None:
    cfg = RouterConfig()
    assert cfg.cache.enabled is False and cfg.cache.backend == "memory"
    assert cfg.cache.threshold == DEFAULT_CACHE_THRESHOLD


@pytest.mark.parametrize(
    ("cache", "where"),
    [
        ({"threshold": 1.5}, "cache.threshold"),
        ({"category_thresholds": {"math": -0.1}}, "cache.category_thresholds"),
        ({"ttl_s": 0}, "cache.ttl_s"),
        ({"max_entries": 0}, "cache.max_entries"),
        ({"backend": "memcached"}, "cache.backend"),
        ({"thresold": 0.9}, "cache.thresold"),
        ({"redis_url": "redis://user:secret@host:6379/0"}, "cache.redis_url"),
        ({"redis_url_env": "redis://host"}, "cache.redis_url_env"),
    ],
)
def test_bad_values_fail_at_their_field_path(cache: dict, where: str) -> None:
    from sirp.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        RouterConfig.from_dict({"cache": cache})
    assert where in str(info.value)
    assert "secret" not in str(info.value)


def test_threshold_for_a_category() -> None:
    c = CacheConfig(threshold=0.9, category_thresholds={"math": 0.97})
    assert c.threshold_for("math") == 0.97 and c.threshold_for("law") == 0.9 and c.threshold_for(None) == 0.9
