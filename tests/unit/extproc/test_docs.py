"""docs/envoy.md describes every server.extproc field, shows the shipped configs as they are, and is linked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sirp.config.extproc import ExtProcConfig
from sirp.extproc.bootstrap import ENVOY_VERSION

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "envoy.md"


def text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_extproc_field_is_documented() -> None:
    missing = [f for f in ExtProcConfig.model_fields if f"| `{f}` |" not in text()]
    assert not missing, f"docs/envoy.md does not describe server.extproc: {missing}"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text(), flags=re.S)


@pytest.mark.parametrize(
    "path",
    [
        "deploy/envoy/envoy.yaml",
        "deploy/envoy/kustomization.yaml",
        "deploy/envoy/k8s/deployment.yaml",
        "deploy/envoy/k8s/service.yaml",
        "deploy/envoy/k8s/networkpolicy.yaml",
    ],
)
def test_the_configs_are_shown_in_full_as_shipped(path: str) -> None:
    shipped = (ROOT / path).read_text(encoding="utf-8").rstrip("\n")
    assert any(shipped in block for block in yaml_blocks()), f"docs/envoy.md does not show {path} as it is"


def test_the_envoy_version_is_stated() -> None:
    assert f"Envoy v{ENVOY_VERSION}" in text()


def test_the_page_is_linked_and_in_the_nav() -> None:
    assert "(envoy.md)" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert "envoy.md" in (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert "(envoy.md" in (ROOT / "docs" / "server.md").read_text(encoding="utf-8")
