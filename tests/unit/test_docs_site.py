"""The documentation site builds with ``mkdocs build --strict``, offline, and its generated references are complete."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def hook() -> ModuleType:
    """docs/hooks/reference.py, the mkdocs hook that writes the generated reference pages."""
    spec = importlib.util.spec_from_file_location("sirp_docs_reference_hook", DOCS / "hooks" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def mkdocs_config() -> dict:
    class Loader(yaml.SafeLoader):
        pass

    # mkdocs.yml may use !!python/name and !ENV tags; they are not needed here
    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    return yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    dead = "http://127.0.0.1:9"  # nothing listens there: any attempt to fetch something fails the build
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead}
    env.update(http_proxy=dead, https_proxy=dead, all_proxy=dead, NO_PROXY="", no_proxy="")
    p = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, f"mkdocs build --strict failed:\n{p.stdout[-3000:]}\n{p.stderr[-6000:]}"
    return out


@pytest.mark.slow
def test_site_builds_strictly_offline(site: Path) -> None:
    assert (site / "index.html").is_file()
    for page in ("getting-started", "concepts", "tutorials/serve", "reference/configuration", "benchmarks"):
        assert (site / page / "index.html").is_file(), page


@pytest.mark.slow
def test_configuration_reference_has_every_field(site: Path) -> None:
    html = (site / "reference" / "configuration" / "index.html").read_text()
    for section in hook().config_sections():
        assert f'id="{section.anchor}"' in html, section.path
        for name in section.model.model_fields:
            assert f"<code>{name}</code>" in html, f"{section.path or 'root'}.{name}"


@pytest.mark.slow
def test_api_reference_is_rendered(site: Path) -> None:
    router = (site / "reference" / "api" / "router" / "index.html").read_text()
    for method in ("route", "route_batch", "aroute", "complete", "stream", "from_config"):
        assert f"sirp.router.SemanticRouter.{method}" in router, method
    decision = (site / "reference" / "api" / "decision" / "index.html").read_text()
    assert "complexity" in decision and "reasoning_effort" in decision
    errors = (site / "reference" / "api" / "errors" / "index.html").read_text()
    assert "sirp.errors.ConfigError" in errors
    integrations = (site / "reference" / "api" / "integrations" / "index.html").read_text()
    for cls in ("ChatSemanticRouter", "SemanticRouterRunnable", "SemanticRouterLLM", "SemanticCategorySelector"):
        assert cls in integrations, cls


@pytest.mark.slow
def test_benchmark_figures_are_in_the_site(site: Path) -> None:
    page = (site / "benchmarks" / "index.html").read_text()
    for img in re.findall(r"\]\(([^)]+\.png)\)", (DOCS / "benchmarks.md").read_text()):
        assert (site / img).is_file(), img
        assert img.split("/")[-1] in page


def test_nothing_in_the_theme_needs_the_network() -> None:
    config = mkdocs_config()
    assert config["theme"].get("font") is False, "theme.font: false (Google Fonts are fetched otherwise)"
    plugins = [p if isinstance(p, str) else next(iter(p)) for p in config.get("plugins", [])]
    assert set(plugins) <= {"search", "mkdocstrings"}, f"plugins that may fetch or need services: {plugins}"
    assert config.get("strict") is True


def test_every_config_field_is_described() -> None:
    """The generated reference shows each field's description: every field needs one."""
    missing = []
    for section in hook().config_sections():
        for name, field in section.model.model_fields.items():
            nested = list(hook()._models_in(field.annotation))
            if not field.description and not (nested and nested[0][0].__doc__):
                missing.append(f"{section.path or 'RouterConfig'}.{name} ({section.model.__name__})")
    assert not missing, f"config fields without a description (Field(description=...)): {missing}"


def test_config_reference_renders_types_and_defaults() -> None:
    text = hook().render_config_reference()
    assert "| `threads` | integer or null (≥ 1) | `null` |" in text
    assert "| `backend` | one of `memory`, `redis` | `memory` |" in text
    assert "| `tiers` | list of [tiers[]](#tiers) (at least 1) | `[{name: slm, " in text
    assert "[models[].providers[]](#models-providers)" in text


def test_cli_reference_covers_every_command() -> None:
    from sirp.cli.main import build_parser

    text = hook().render_cli_reference()
    for name in hook()._subcommands(build_parser()):
        assert f"`sirp {name}`" in text, name


def test_getting_started_shows_the_readme_commands() -> None:
    from tests.unit.test_readme import quickstart_commands

    page = (DOCS / "getting-started.md").read_text()
    for command in quickstart_commands():
        assert command in page, command


def test_readme_points_to_the_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^\*\*Documentation\*\*.*mkdocs", readme, re.M), "a 'Documentation' line in the README"


def test_rest_docstrings_become_markdown() -> None:
    spec = importlib.util.spec_from_file_location("sirp_docs_griffe_rst", DOCS / "hooks" / "griffe_rst.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "Uses :class:`~sirp.RouterConfig` and :meth:`sirp.SemanticRouter.route`::\n\n    x = 1\n    y = x\n\nAfter."
    assert module.rst_to_markdown(text) == (
        "Uses `RouterConfig` and `sirp.SemanticRouter.route`:\n\n```python\nx = 1\ny = x\n```\n\nAfter."
    )
    tree = "Tree::\n\n    A\n    ├── B\n"
    assert "```text\nA\n├── B\n```" in module.rst_to_markdown(tree)
