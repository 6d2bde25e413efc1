"""as_config: the one coercion of config-like values (SemanticRouter and the framework adapters use it)."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from sirp.config.loader import as_config
from sirp.config.schema import RouterConfig
from sirp.errors import ConfigError


def test_configs_mappings_and_yaml_paths(tmp_path: Path) -> None:
    cfg = RouterConfig()
    assert as_config(cfg) is cfg
    assert as_config(MappingProxyType({"conversation": {"window": 1}})).conversation.window == 1
    (tmp_path / "r.yaml").write_text("conversation:\n  window: 2\n")
    assert as_config(tmp_path / "r.yaml").conversation.window == 2
    assert as_config(str(tmp_path / "r.yaml")).conversation.window == 2


def test_bad_values_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"conversation\.window"):
        as_config({"conversation": {"window": -1}})
    with pytest.raises(ConfigError, match="must be a mapping"):
        as_config([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="does not exist"):
        as_config(tmp_path / "missing.yaml")
