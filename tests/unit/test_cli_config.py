"""``sirp config schema`` and ``sirp config check``, run in-process."""

from __future__ import annotations

import json
from pathlib import Path

from sirp import RouterConfig
from sirp.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def test_schema_to_stdout_and_file(tmp_path: Path, capsys) -> None:
    assert main(["config", "schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == RouterConfig.model_json_schema()
    out = tmp_path / "schema.json"
    assert main(["config", "schema", "-o", str(out)]) == 0
    assert json.loads(out.read_text()) == printed
    assert "ModelConfig" in printed["$defs"]


def test_check(tmp_path: Path, capsys) -> None:
    assert main(["config", "check", str(ROOT / "examples" / "two-tier.yaml")]) == 0
    assert "two-tier.yaml: ok (slm=llama-3.1-8b-instruct" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("fallback: [nope]\n")
    assert main(["config", "check", str(bad)]) == 2
    assert "fallback: names models, but no models are configured" in capsys.readouterr().err
