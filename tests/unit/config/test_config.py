"""RouterConfig: YAML loading and errors that name the field path."""

from __future__ import annotations

from pathlib import Path

import pytest

from sirp import RouterConfig
from sirp.config import config_from_yaml
from sirp.errors import ConfigError


def test_defaults_are_valid() -> None:
    c = RouterConfig()
    assert [t.name for t in c.tiers] == ["slm", "llm"]
    assert c.classifier.max_length == 512


def test_yaml_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "router.yaml"
    p.write_text(
        "classifier:\n  model: models/mine\n  provider: cpu\n  threads: 2\n"
        "tiers:\n  - {name: slm, model: qwen3-1.7b, reference_model: a}\n"
        "  - {name: lrm, model: qwen3-235b, reference_model: b}\n"
    )
    c = config_from_yaml(p)
    assert c.classifier.model == (tmp_path / "models/mine").resolve()
    assert c.tiers[1].name == "lrm"


def test_field_path_in_error() -> None:
    with pytest.raises(ConfigError, match=r"classifier\.threads: Input should be greater than or equal to 1"):
        RouterConfig.from_dict({"classifier": {"threads": 0}})


def test_unknown_field_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"classifier\.provder: Extra inputs are not permitted"):
        RouterConfig.from_dict({"classifier": {"provder": "cpu"}})


def test_tiers_must_be_cheapest_first() -> None:
    with pytest.raises(ConfigError, match="cheapest first"):
        RouterConfig.from_dict(
            {
                "tiers": [
                    {"name": "llm", "model": "b", "reference_model": "y"},
                    {"name": "slm", "model": "a", "reference_model": "x"},
                ]
            }
        )


def test_broken_yaml_names_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("classifier:\n  model: [unclosed\n  threads: 2\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        RouterConfig.from_yaml(p)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    p = tmp_path / "list.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        RouterConfig.from_yaml(p)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        RouterConfig.from_yaml("/nonexistent/router.yaml")


def test_empty_yaml_gives_defaults(tmp_path: Path) -> None:
    p = tmp_path / "empty.yaml"
    p.write_text("")
    assert RouterConfig.from_yaml(p) == RouterConfig()


def test_unknown_provider_fails_at_load_with_field_path() -> None:
    with pytest.raises(ConfigError, match=r"classifier\.provider: Value error, unknown execution provider 'tpu'"):
        RouterConfig.from_dict({"classifier": {"provider": "tpu"}})
