"""mkdocs hook: the reference pages that are made from the code at build time, never by hand.

- ``reference/configuration.md``: every field of :class:`sirp.RouterConfig`, walked from the
  pydantic models (type, constraints, default, description), one table per section, in the
  order of the YAML file.
- ``reference/cli.md``: the help of every ``sirp`` command, from its argparse parser.
- ``reference/examples.md``: every file of ``examples/``, in full.

The pages exist only in the build (``File.generated``), so there is no copy to keep in step:
a field added to a model, or an option added to a command, is in the next build.
``render_config_reference()`` and ``render_cli_reference()`` are plain functions, so tests can
call them without mkdocs.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import inspect
import json
import os
import re
import types
from collections.abc import Iterator
from enum import Enum
from pathlib import Path, PurePath
from typing import Annotated, Any, Literal, NamedTuple, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

__all__ = [
    "Section",
    "config_sections",
    "render_cli_reference",
    "render_config_reference",
    "render_examples_page",
]

CONFIG_PAGE = "reference/configuration.md"
CLI_PAGE = "reference/cli.md"
EXAMPLES_PAGE = "reference/examples.md"
ROOT = Path(__file__).resolve().parents[2]

#: The guide that explains each part of the config with examples (longest matching path wins).
GUIDES = {
    "classifier": ("Getting started", "../getting-started.md"),
    "conversation": ("Concepts", "../concepts.md"),
    "tiers": ("Concepts", "../concepts.md#tiers"),
    "policy": ("The routing policy", "../policy.md#configuration"),
    "categories": ("The routing policy", "../policy.md#categories-default-none"),
    "models": ("Calling the chosen model", "../dispatch.md#configuration"),
    "fallback": ("Calling the chosen model", "../dispatch.md#fallback"),
    "dispatch": ("Calling the chosen model", "../dispatch.md#dispatch"),
    "server": ("The router server", "../server.md"),
    "server.access": ("Access control", "../access.md"),
    "server.extproc": ("Envoy external processor", "../envoy.md"),
    "cache": ("Semantic cache", "../cache.md#configuration"),
}


class Section(NamedTuple):
    """One config model at one place in the YAML file."""

    path: str  # YAML path: "" for the root, "policy.reasoning", "models[].providers[]"
    model: type[BaseModel]

    @property
    def anchor(self) -> str:
        return "root" if not self.path else self.path.replace("[]", "").replace(".", "-").replace("_", "-")

    @property
    def title(self) -> str:
        return self.path or "RouterConfig (the whole file)"


def _models_in(annotation: Any) -> Iterator[tuple[type[BaseModel], bool]]:
    """Config models inside a field's annotation, and whether each sits in a list (``[]``)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation, False
    elif origin is Annotated:
        yield from _models_in(args[0])
    elif origin in (list, tuple, set, frozenset):
        for inner in args:
            for model, _ in _models_in(inner):
                yield model, True
    elif origin is dict:
        for model, _ in _models_in(args[1]):
            yield model, True
    elif origin in (Union, types.UnionType):
        for a in args:
            yield from _models_in(a)


def config_sections(root: type[BaseModel] | None = None) -> list[Section]:
    """Every config model under ``root`` (default :class:`RouterConfig`), depth first in field order."""
    if root is None:
        from sirp.config.schema import RouterConfig

        root = RouterConfig
    sections: list[Section] = []
    seen: set[type[BaseModel]] = set()

    def walk(model: type[BaseModel], path: str) -> None:
        if model in seen:  # documented once, where it first appears
            return
        seen.add(model)
        sections.append(Section(path, model))
        for name, field in model.model_fields.items():
            for inner, listed in _models_in(field.annotation):
                walk(inner, f"{path}.{name}".lstrip(".") + ("[]" if listed else ""))

    walk(root, "")
    return sections


# ---- rendering a field -------------------------------------------------------------------------

_SCALARS = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path", SecretStr: "secret"}


def _constraints(metadata: list[Any]) -> str:
    words = []
    for m in metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            value = getattr(m, attr, None)
            if value is not None:
                words.append(f"{sign} {value}")
        if getattr(m, "min_length", None):
            words.append(f"at least {m.min_length}")
        if getattr(m, "max_length", None) is not None:
            words.append(f"at most {m.max_length}")
    return ", ".join(words)


def _type(annotation: Any, where: dict[type[BaseModel], Section]) -> str:
    """A reader's name for a type: ``integer``, ``list of string``, one of `a`, `b`, a linked section."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if origin is Literal:
        return "one of " + ", ".join(f"`{json.dumps(a) if not isinstance(a, str) else a}`" for a in args)
    if origin is Annotated:
        extra = [_constraints([m]) or _constraints(getattr(m, "metadata", [])) for m in args[1:]]
        base = _type(args[0], where)
        return f"{base} ({', '.join(e for e in extra if e)})" if any(extra) else base
    if origin in (Union, types.UnionType):
        parts = [_type(a, where) for a in args if a is not type(None)]
        text = " or ".join(parts)
        return f"{text} or null" if type(None) in args else text
    if origin in (list, tuple, set, frozenset):
        return f"list of {_type(args[0], where)}" if args else "list"
    if origin is dict:
        return f"map of {_type(args[0], where)} → {_type(args[1], where)}"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            section = where.get(annotation)
            return f"[{section.title}](#{section.anchor})" if section else annotation.__name__
        if issubclass(annotation, Enum):
            return "one of " + ", ".join(f"`{e.value}`" for e in annotation)
        for scalar, name in _SCALARS.items():
            if issubclass(annotation, scalar):
                return name
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _yaml(value: Any) -> str:
    """A default as it would be written in YAML (flow style)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, PurePath):
        value = str(value)
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    try:
        value = field.get_default(call_default_factory=True, validated_data={})
    except (TypeError, KeyError):  # a factory that needs other fields
        return "computed"
    if isinstance(value, BaseModel):
        return "see its section"
    return f"`{_yaml(value)}`"


_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|obj|exc):`~?([^`]+)`")


def _text(value: str) -> str:
    """Plain text safe inside a Markdown table cell (reST roles become code)."""
    value = _ROLE.sub(lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", " ".join(value.split()))
    return html.escape(value, quote=False).replace("|", "\\|")


def _summary(model: type[BaseModel]) -> str:
    doc = inspect.getdoc(model) or ""
    return doc.split("\n\n", 1)[0] if doc and model.__doc__ is not BaseModel.__doc__ else ""


def _guide(path: str) -> tuple[str, str] | None:
    bare = path.replace("[]", "")
    keys = [k for k in GUIDES if bare == k or bare.startswith(k + ".")]
    return GUIDES[max(keys, key=len)] if keys else None


def render_config_reference() -> str:
    """The Markdown of the configuration reference page."""
    sections = config_sections()
    where = {s.model: s for s in sections}
    n_fields = sum(len(s.model.model_fields) for s in sections)
    out = [
        "# Configuration reference",
        "",
        "Every field of a router config (`RouterConfig`), **generated from its pydantic models** when the site",
        "is built (`docs/hooks/reference.py`), so it cannot drift from the code: "
        f"{len(sections)} sections, {n_fields} fields.",
        "Unknown fields are errors, and an error names the field's path (`tiers.1.model: ...`).",
        "",
        "```bash",
        "sirp config check router.yaml          # validate files",
        "sirp config schema -o sirp.schema.json # JSON Schema, for editor completion",
        "```",
        "",
        "A `[]` in a path is a list of such entries (`models[].providers[]`). How each part is used,",
        "with examples, is in the guide each section links to.",
        "",
        "## Sections",
        "",
    ]
    for s in sections:
        depth = s.path.count(".") + (1 if s.path else 0)
        out.append(f"{'    ' * depth}- [{s.title}](#{s.anchor})")
    out.append("")
    for s in sections:
        out += [f"## {s.title} {{#{s.anchor}}}", ""]
        summary = _summary(s.model)
        if summary:
            out += [_text(summary), ""]
        guide = _guide(s.path)
        python = f"`{s.model.__module__}.{s.model.__qualname__}`"
        out += [f"Python: {python}." + (f" Guide: [{guide[0]}]({guide[1]})." if guide else ""), ""]
        out += ["| field | type | default | description |", "|---|---|---|---|"]
        for name, field in s.model.model_fields.items():
            ftype = _type(field.annotation, where)
            limits = _constraints(field.metadata)
            if limits:
                ftype += f" ({limits})"
            description = field.description
            if not description:
                nested = [m for m, _ in _models_in(field.annotation)]
                description = _summary(nested[0]) if nested else ""
            cells = [f"`{name}`", ftype.replace("|", "\\|"), _default(field), _text(description) or "—"]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


# ---- the command line ----------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width)
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def render_cli_reference() -> str:
    """The Markdown of the command-line reference: ``--help`` of every command and subcommand."""
    from sirp.cli.main import build_parser

    out = [
        "# Command line",
        "",
        "The help of every `sirp` command, **generated from its argparse parser** when the site is built",
        "(`docs/hooks/reference.py`). Every sirp error prints one `error: ...` line and exits with status 2.",
        "",
    ]

    def add(parser: argparse.ArgumentParser, name: str, level: int) -> None:
        with _columns(100):
            text = parser.format_help().rstrip()
        out.extend([f"{'#' * level} `{name}`", "", "```text", text, "```", ""])
        for sub_name, sub in _subcommands(parser).items():
            add(sub, f"{name} {sub_name}", min(level + 1, 4))

    add(build_parser(), "sirp", 2)
    return "\n".join(out)


# ---- the examples folder ---------------------------------------------------------------------------


def render_examples_page(folder: Path = ROOT / "examples") -> str:
    """Every example config and script of ``examples/``, in full, each under an anchor of its stem."""
    files = sorted(p for p in folder.iterdir() if p.suffix in {".yaml", ".py"})
    out = [
        "# Example configs and scripts",
        "",
        "The files of the repository's `examples/` folder, in full (included when the site is built).",
        "Every config here loads (`tests/unit/test_examples.py`); the scripts run offline against a fake",
        "OpenAI-compatible server unless you point them at real endpoints.",
        "",
    ]
    for p in files:
        lang = "yaml" if p.suffix == ".yaml" else "python"
        out += [
            f"## {p.name} {{#{p.stem}}}",
            "",
            f'```{lang} title="examples/{p.name}"',
            p.read_text().rstrip(),
            "```",
            "",
        ]
    return "\n".join(out)


# ---- mkdocs ----------------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages to the build (mkdocs ≥ 1.6)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, CONFIG_PAGE, content=render_config_reference()))
    files.append(File.generated(config, CLI_PAGE, content=render_cli_reference()))
    files.append(File.generated(config, EXAMPLES_PAGE, content=render_examples_page()))
    return files
