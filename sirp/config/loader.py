"""Loading :class:`RouterConfig` from YAML or a mapping, with the field path in every error."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sirp.config.schema import FieldPathError, RouterConfig
from sirp.errors import ConfigError

__all__ = ["as_config", "config_from_dict", "config_from_yaml"]


def _describe(err: ValidationError, source: str) -> ConfigError:
    lines = []
    for e in err.errors():
        cause = e.get("ctx", {}).get("error")
        if isinstance(cause, FieldPathError):
            # a cross-field check: report it at the field that is wrong, not at the enclosing model
            loc = ".".join(str(p) for p in (*e["loc"], *cause.path))
            lines.append(f"  {loc}: {cause.message}")
            continue
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        lines.append(f"  {loc}: {e['msg']}" + (f" (got {e['input']!r})" if e["type"] != "missing" else ""))
    return ConfigError(f"invalid router config in {source}:\n" + "\n".join(lines))


def config_from_dict(data: Any, *, source: str = "<dict>") -> RouterConfig:
    """Validate ``data`` as a :class:`RouterConfig`."""
    if isinstance(data, RouterConfig):
        return data
    if not isinstance(data, dict):
        raise ConfigError(f"router config in {source} must be a mapping at the top level, got {type(data).__name__}")
    try:
        return RouterConfig.model_validate(data)
    except ValidationError as err:
        raise _describe(err, source) from None


def config_from_yaml(path: str | Path) -> RouterConfig:
    """Read a YAML file and validate it; relative model paths are taken from the file's folder."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{p} is not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{p} is not UTF-8 text ({err})") from None
    if data is None:
        data = {}
    config = config_from_dict(data, source=str(p))
    model = config.classifier.model
    if model is not None and not model.is_absolute():
        config = config.model_copy(
            update={"classifier": config.classifier.model_copy(update={"model": (p.parent / model).resolve()})}
        )
    return config


def as_config(value: RouterConfig | Mapping[str, Any] | str | Path) -> RouterConfig:
    """A :class:`RouterConfig` from a config, a mapping, or the path of a YAML file (errors name the field)."""
    if isinstance(value, RouterConfig):
        return value
    if isinstance(value, (str, Path)):
        return config_from_yaml(value)
    return config_from_dict(dict(value) if isinstance(value, Mapping) else value)
