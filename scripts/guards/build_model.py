"""Put the trained guard heads into the routing checkpoint, export it, check it, and bundle it.

    python scripts/guards/build_model.py --base-checkpoint runs/default-model/train2-A/best \\
        --heads runs/guards/heads --base-model runs/guards/base --out runs/guards [--install]

1. checkpoint: the routing checkpoint with ``sirp_pii_labels`` / ``sirp_jailbreak`` in its config
   and the heads' weights (``<out>/checkpoint``);
2. export: ``sirp.training.export.export`` (fp32 within 1e-4 of PyTorch on every output, int8)
   into ``<out>/export``;
3. check against the bundled graph it was built from (``--base-model``) on MMLU-Pro dev: category
   argmax agreement (≥ ``--min-agreement``), the largest success-probability and embedding
   differences; the size of the bundle (≤ 25 MB);
4. bundle: ``<out>/bundle`` = int8 graph + tokenizer + manifest, where the manifest keeps the
   ``category_bias`` and ``calibration`` of the model folder it replaces (read at this moment:
   they are fitted separately by ``sirp calibrate``); ``--install`` copies it to
   ``sirp/default_model``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

MAX_BUNDLE_BYTES = 25 * 1024 * 1024


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def build_checkpoint(base: Path, heads: Path, out: Path) -> dict[str, Any]:
    """The routing checkpoint plus the heads, saved as a checkpoint ``export`` reads."""
    import torch

    from sirp.training.modeling import ModernBertForRouting

    info = json.loads((heads / "heads.json").read_text())
    model = ModernBertForRouting.from_pretrained(base, local_files_only=True, attn_implementation="sdpa")
    config = model.config
    config.sirp_pii_labels = info["pii"]["labels"]
    config.sirp_jailbreak = True
    config.sirp_jailbreak_threshold = info["jailbreak"]["threshold"]
    full = ModernBertForRouting(config)
    missing, unexpected = full.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith(("pii.", "jailbreak.")) for k in missing), (missing, unexpected)
    assert full.pii is not None and full.jailbreak is not None
    full.pii.load_state_dict(torch.load(heads / "pii_head.pt"))
    full.jailbreak.load_state_dict(torch.load(heads / "jailbreak_head.pt"))
    out.mkdir(parents=True, exist_ok=True)
    full.save_pretrained(out)
    shutil.copy(base / "tokenizer.json", out / "tokenizer.json")
    record = json.loads((base / "sirp_training.json").read_text()) if (base / "sirp_training.json").is_file() else {}
    (out / "sirp_training.json").write_text(json.dumps(record, indent=2) + "\n")
    return info


def compare(new: Path, old: Path, texts: list[str], threads: int) -> dict[str, Any]:
    """The new int8 graph against the bundled one: routing outputs on the same texts."""
    from sirp.backends.model_folder import ModelFolder
    from sirp.backends.onnx import OnnxBackend
    from sirp.backends.tokenization import Tokenizer

    fa, fb = ModelFolder.load(new), ModelFolder.load(old)
    a, b = OnnxBackend(fa, precision="int8", threads=threads), OnnxBackend(fb, precision="int8", threads=threads)
    tok = Tokenizer.from_folder(fb)
    agree, succ, emb, logit = [], 0.0, 0.0, 0.0
    for s in range(0, len(texts), 16):
        batch = tok.encode(texts[s : s + 16])
        x, y = a.run(batch), b.run(batch)
        agree.append(x["category_logits"].argmax(1) == y["category_logits"].argmax(1))
        logit = max(logit, float(np.abs(x["category_logits"] - y["category_logits"]).max()))
        sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        succ = max(succ, float(np.abs(sig(x["success_logits"]) - sig(y["success_logits"])).max()))
        emb = max(emb, float(np.abs(x["embedding"] - y["embedding"]).max()))
    return {
        "texts": len(texts),
        "category_argmax_agreement": float(np.concatenate(agree).mean()),
        "category_logit_max_abs_diff": logit,
        "success_probability_max_abs_diff": succ,
        "embedding_max_abs_diff": emb,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-checkpoint", type=Path, default=ROOT / "runs/default-model/train2-A/best")
    ap.add_argument("--heads", type=Path, default=ROOT / "runs/guards/heads")
    ap.add_argument("--base-model", type=Path, default=ROOT / "runs/guards/base")
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--data", type=Path, default=ROOT / "runs/guards/data")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/guards")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--min-agreement", type=float, default=0.999)
    ap.add_argument("--install", action="store_true", help="copy the bundle to sirp/default_model")
    ap.add_argument(
        "--install-only",
        action="store_true",
        help="skip building: carry the current category_bias/calibration into <out>/bundle and install it",
    )
    a = ap.parse_args()
    if a.install_only:
        install(a.out / "bundle")
        return

    import torch

    torch.set_num_threads(a.threads)
    from sirp.training.export import export

    info = build_checkpoint(a.base_checkpoint, a.heads, a.out / "checkpoint")
    dev = [q["question"] for q in _jsonl(a.data_dir / "mmlu-pro" / "questions.jsonl") if q["split"] == "dev"]
    guard_texts = [r["text"] for r in _jsonl(a.data / "pii_dev.jsonl")[:200]]
    guard_texts += [r["text"] for r in _jsonl(a.data / "jailbreak_dev.jsonl")[:200]]
    report = export(
        a.out / "checkpoint",
        a.out / "export",
        # PyTorch vs fp32 vs int8 on MMLU-Pro dev questions, as for the model without heads (PyTorch
        # is the slow part, so a sample); all of dev is compared with the previous bundle below
        verify_texts=dev[:600],
        training_info={"guards": {k: {kk: vv for kk, vv in v.items() if kk != "labels"} for k, v in info.items()}},
    )
    print("export verification:", json.dumps(report, indent=2))
    # the guard heads on the texts they are for: every output of fp32 ONNX against PyTorch, and
    # the int8 graph's PII tags against fp32 (category agreement is not the point on these texts)
    from sirp.backends.model_folder import ModelFolder
    from sirp.training.export import verify
    from sirp.training.modeling import ModernBertForRouting, output_names

    net = ModernBertForRouting.from_pretrained(a.out / "checkpoint", local_files_only=True, attn_implementation="sdpa")
    net = net.eval()
    guard_report = verify(
        net, ModelFolder.load(a.out / "export"), guard_texts, atol=1e-4, torch=torch, names=output_names(net.config)
    )
    guard_report.pop("int8_argmax_agreement", None)
    print("guard heads verification:", json.dumps(guard_report, indent=2))
    if guard_report["fp32_max_abs_diff"] > 1e-4:
        raise SystemExit(f"fp32 ONNX differs from PyTorch by {guard_report['fp32_max_abs_diff']:.2e} on guard texts")
    cmp = compare(a.out / "export", a.base_model, dev, a.threads)
    print("against the bundled model on MMLU-Pro dev:", json.dumps(cmp, indent=2))
    if cmp["category_argmax_agreement"] < a.min_agreement:
        raise SystemExit(f"category argmax agreement {cmp['category_argmax_agreement']:.4f} < {a.min_agreement}")

    bundle = a.out / "bundle"
    shutil.rmtree(bundle, ignore_errors=True)
    bundle.mkdir(parents=True)
    shutil.copy(a.out / "export" / "model.int8.onnx", bundle / "model.int8.onnx")
    shutil.copy(a.out / "export" / "tokenizer.json", bundle / "tokenizer.json")
    manifest = json.loads((a.out / "export" / "sirp_manifest.json").read_text())
    current = json.loads((ROOT / "sirp/default_model/sirp_manifest.json").read_text())
    base_manifest = json.loads((a.base_model / "sirp_manifest.json").read_text())
    manifest["files"] = {"int8": "model.int8.onnx"}  # the fp32 graph stays out of the package (size)
    # the routing record of the model this one extends (the graph the heads were trained on), then
    # the guards' own
    training = dict(base_manifest.get("training", {}))
    training["guards"] = manifest["training"].get("guards", {})
    training["guards"]["export_verification"] = manifest["training"].get("export_verification", {})
    training["guards"]["guard_texts_verification"] = guard_report
    training["guards"]["routing_outputs_vs_previous_bundle"] = cmp
    training["guards"]["recipe"] = "bash scripts/guards/make.sh"
    manifest["training"] = training
    for key in ("category_bias", "calibration"):
        if key in current:
            manifest[key] = current[key]
    (bundle / "sirp_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    size = sum(f.stat().st_size for f in bundle.iterdir())
    print(f"bundle {bundle}: {size / 1e6:.1f} MB")
    if size > MAX_BUNDLE_BYTES:
        raise SystemExit(f"the bundle is {size / 2**20:.1f} MiB, over the 25 MiB budget")
    from sirp.backends.model_folder import ModelFolder

    ModelFolder.load(bundle)
    if a.install:
        install(bundle)


def install(bundle: Path) -> None:
    """Copy ``bundle`` into sirp/default_model, with the category calibration that is there now."""
    from sirp.backends.model_folder import ModelFolder

    target = ROOT / "sirp/default_model"
    manifest = json.loads((bundle / "sirp_manifest.json").read_text())
    current = json.loads((target / "sirp_manifest.json").read_text())
    for key in ("category_bias", "calibration"):
        if key in current:
            manifest[key] = current[key]
    (bundle / "sirp_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    ModelFolder.load(bundle)
    for f in bundle.iterdir():
        shutil.copy(f, target / f.name)
    carried = [k for k in ("category_bias", "calibration") if k in current]
    print(f"installed into {target} (carried over: {', '.join(carried) or 'nothing to carry'})")


if __name__ == "__main__":
    main()
