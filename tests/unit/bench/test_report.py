"""sirp bench report: sections from each benchmark's JSON, a plot, clear errors on wrong input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sirp.bench.report import build_report, load_inputs, write_report
from sirp.cli.main import main
from sirp.errors import InputError

EVAL = {
    "model": "/x/default_model",
    "split": "test",
    "mmlu_pro": {
        "category": {"n": 10, "accuracy": 0.8},
        "routing": {
            "small": "s",
            "large": "l",
            "auc_small_wrong": 0.66,
            "pgr_at_50": {"pgr": 0.58, "ci95": [0.52, 0.64]},
            "apgr": 0.55,
            "curve": [{"share": 0.5, "pgr": 0.58, "low": 0.52, "high": 0.64}],
        },
    },
    "everyday": {"n": 70, "accuracy": 0.77},
}
LATENCY = [
    {
        "variant": "router",
        "threads": 2,
        "p50_ms": 2.1,
        "p99_ms": 4.0,
        "mean_ms": 2.2,
        "batch_size": 32,
        "throughput_per_s": 400.0,
    },
    {
        "variant": "pytorch-fp32",
        "threads": 2,
        "p50_ms": 9.0,
        "p99_ms": 15.0,
        "mean_ms": 9.5,
        "batch_size": 32,
        "throughput_per_s": 250.0,
    },
]
SERVE = {"rows": [{"requests": "all", "n": 2000, "added_p50_ms": 35.1}], "errors": 0}


def _write(tmp_path: Path, name: str, data: object) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def test_report_has_a_section_per_input_in_a_fixed_order(tmp_path: Path) -> None:
    data = load_inputs({"latency": _write(tmp_path, "lat.json", LATENCY), "eval": _write(tmp_path, "e.json", EVAL)})
    md = build_report(data).markdown
    assert md.index("Classifier quality") < md.index("Classifier latency")
    assert "0.580 [0.520, 0.640]" in md
    assert "| pytorch-fp32 | 2 | 9.000 | 15.000 |" in md


def test_skipped_latency_variants_say_why(tmp_path: Path) -> None:
    rows = [*LATENCY, {"variant": "onnx-fp32", "skipped": "model folder has no fp32 graph"}]
    md = build_report({"latency": rows}).markdown
    assert "`onnx-fp32` skipped: model folder has no fp32 graph" in md
    assert "| onnx-fp32 |" not in md


def test_unknown_shapes_still_show_as_tables(tmp_path: Path) -> None:
    md = build_report(load_inputs({"serve": _write(tmp_path, "s.json", SERVE)})).markdown
    assert "Server under load" in md and "| all | 2000 | 35.100 |" in md


def test_write_report_draws_a_png_when_there_is_data(tmp_path: Path) -> None:
    written = write_report(build_report({"eval": EVAL, "latency": LATENCY}), tmp_path / "out")
    assert [p.name for p in written] == ["report.md", "summary.png"]
    assert (tmp_path / "out" / "summary.png").read_bytes()[:4] == b"\x89PNG"
    assert "![summary](summary.png)" in (tmp_path / "out" / "report.md").read_text()


def test_an_eval_out_folder_is_read_through_its_report_json(tmp_path: Path) -> None:
    folder = tmp_path / "eval"
    folder.mkdir()
    _write(folder, "report.json", EVAL)
    assert load_inputs({"eval": folder})["eval"]["split"] == "test"


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("{not json", "is not JSON"), ({"mmlu_pro": {}}, "does not look like")],
)
def test_wrong_inputs_say_what_to_do(tmp_path: Path, content: object, message: str) -> None:
    p = tmp_path / "e.json"
    if isinstance(content, str):
        p.write_text(content)
    elif content is not None:
        p.write_text(json.dumps(content))
    with pytest.raises(InputError, match=message):
        build_report(load_inputs({"eval": p}))


def test_cli_needs_at_least_one_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "report", "--out", str(tmp_path)]) == 2
    assert "--eval" in capsys.readouterr().err


def test_cli_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lat = _write(tmp_path, "lat.json", LATENCY)
    assert main(["bench", "report", "--latency", str(lat), "--out", str(tmp_path / "r")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert "Classifier latency" in (tmp_path / "r" / "report.md").read_text()
