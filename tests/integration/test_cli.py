"""The ``sirp`` command in a real subprocess: output, exit codes, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def sirp(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sirp.cli.main", *args], capture_output=True, text=True, input=stdin, timeout=300
    )


def config_for(model: Path, tmp_path: Path) -> Path:
    cfg = tmp_path / "router.yaml"
    cfg.write_text(
        f"classifier:\n  model: {model}\n  threads: 1\n"
        "tiers:\n  - {name: slm, model: small, reference_model: small-model}\n"
        "  - {name: llm, model: large, reference_model: large-model}\n"
    )
    return cfg


def test_route_json(tiny_model: Path, tmp_path: Path) -> None:
    p = sirp("route", "--json", "--config", str(config_for(tiny_model, tmp_path)), "what is the cell gene?", "the war?")
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(rows) == 2
    assert rows[0]["category"] == "biology"
    assert {"tier", "model", "reasoning", "complexity", "success", "trace"} <= set(rows[0])


def test_route_readable_and_stdin(tiny_model: Path, tmp_path: Path) -> None:
    p = sirp("route", "--config", str(config_for(tiny_model, tmp_path)), stdin="court contract?\nprime sum?\n")
    assert p.returncode == 0, p.stderr
    assert p.stdout.count("→") == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["route", "--model", "/nonexistent/folder", "hi"], "does not exist"),
        (["route", "--provider", "tpu", "hi"], "unknown execution provider"),
        (["route", "--provider", "cuda", "hi"], "onnxruntime-gpu"),
        (["route", "--config", "/nonexistent.yaml", "hi"], "does not exist"),
        (["route", ""], "empty"),
    ],
)
def test_errors_are_one_line_without_traceback(args: list[str], message: str) -> None:
    p = sirp(*args)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert p.stderr.startswith("error: ")
    assert message in p.stderr


def test_bench_latency_json(tiny_model: Path, tiny_run: Path, tmp_path: Path) -> None:
    p = sirp(
        "bench",
        "latency",
        "--config",
        str(config_for(tiny_model, tmp_path)),
        "--model",
        str(tiny_model),
        "--checkpoint",
        str(tiny_run / "best"),
        "--threads",
        "1",
        "--repeats",
        "1",
        "--batch-size",
        "8",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    results = {r["variant"]: r for r in json.loads(p.stdout)}
    assert set(results) == {"router", "onnx-int8", "onnx-fp32", "pytorch-fp32"}
    for r in results.values():
        assert r["p50_ms"] > 0 and r["p99_ms"] >= r["p50_ms"] and r["throughput_per_s"] > 0


def test_train_and_export_commands(synthetic_data: dict[str, Path], tmp_path: Path) -> None:
    p = sirp(
        "train",
        "--train",
        str(synthetic_data["train"]),
        "--dev",
        str(synthetic_data["dev"]),
        "--tokenizer",
        str(synthetic_data["tokenizer"]),
        "--output",
        str(tmp_path / "run"),
        "--hidden-size",
        "16",
        "--layers",
        "1",
        "--heads",
        "2",
        "--intermediate-size",
        "32",
        "--max-steps",
        "3",
        "--threads",
        "1",
        "--w-success",
        "0.25",
        "--w-soft",
        "0",
    )
    assert p.returncode == 0, p.stderr
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert (saved["w_success"], saved["w_soft"], saved["w_category"]) == (0.25, 0.0, 1.0)
    p = sirp(
        "export",
        "--checkpoint",
        str(tmp_path / "run" / "best"),
        "--output",
        str(tmp_path / "model"),
        "--verify",
        str(synthetic_data["dev"]),
        "--max-length",
        "64",
        "--min-agreement",
        "0",
    )  # three training steps leave near-tied logits: int8 may flip them
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["fp32_max_abs_diff"] <= 1e-4
    assert 0 <= report["int8_argmax_agreement"] <= 1


def test_export_of_a_non_checkpoint_fails_cleanly(tmp_path: Path) -> None:
    p = sirp("export", "--checkpoint", str(tmp_path), "--output", str(tmp_path / "m"))
    assert p.returncode == 2 and "not a trained checkpoint" in p.stderr


def test_calibrate_writes_a_bias_into_a_copy(tiny_model: Path, synthetic_data: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "calibrated"
    source_manifest = (tiny_model / "sirp_manifest.json").read_text()
    cfg = str(config_for(tiny_model, tmp_path))
    p = sirp("calibrate", "--config", cfg, "--dev", str(synthetic_data["dev"]), "--output", str(out))
    assert p.returncode == 0, p.stderr
    assert "accuracy" in p.stdout and "->" in p.stdout
    manifest = json.loads((out / "sirp_manifest.json").read_text())
    assert set(manifest["category_bias"]) == set(manifest["categories"])
    assert manifest["calibration"]["sets"][0]["n"] > 0
    # the source folder is untouched, and the copy loads and routes
    assert (tiny_model / "sirp_manifest.json").read_text() == source_manifest
    assert sirp("route", "--config", cfg, "--model", str(out), "--json", "what is the cell gene?").returncode == 0


def test_calibrate_needs_a_destination(tiny_model: Path, synthetic_data: dict[str, Path]) -> None:
    p = sirp("calibrate", "--model", str(tiny_model), "--dev", str(synthetic_data["dev"]))
    assert p.returncode == 2
    assert "--output" in p.stderr and "Traceback" not in p.stderr
