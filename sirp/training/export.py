"""Export a trained routing checkpoint to a sirp model folder: ONNX fp32 + int8, verified.

``sirp export`` calls :func:`export`:

1. exports the PyTorch model with Optimum (``onnx_export_from_model`` and a custom ONNX config
   whose outputs are the routing heads; opset 18, sdpa attention, dynamic batch and length);
2. quantises it to int8 with Optimum's ``ORTQuantizer`` (dynamic, signed symmetric weights,
   per channel: the AVX-512 VNNI preset; the unsigned ``avx2`` preset is ~1.6× slower here);
3. verifies on the given texts: every fp32 ONNX output equals PyTorch within ``atol`` (1e-4), and
   the int8 category argmax agrees with fp32 on at least ``min_agreement`` (99%) of them;
4. writes ``tokenizer.json`` and ``sirp_manifest.json`` (labels, reference models, max length,
   verification figures and the training record).

A checkpoint with guard heads (``sirp_pii_labels``, ``sirp_jailbreak`` in its config) exports
them as two more outputs, ``pii_logits`` (batch, tokens, tags) and ``jailbreak_logits``
(batch,), in the same graph. Their few nodes stay fp32 (they are small, and the heads were
trained on the int8 encoder's states, so quantising them again would only add noise).
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sirp._imports import require
from sirp.backends.model_folder import MANIFEST_NAME, ModelFolder, ModelManifest
from sirp.errors import TrainingError

__all__ = ["ExportReport", "export"]

ExportReport = dict[str, Any]


#: The token-level output: its second axis is the sequence.
_TOKEN_OUTPUTS = frozenset({"pii_logits"})
#: Graph outputs → manifest head names.
_HEADS = {
    "category_logits": "category",
    "success_logits": "success",
    "embedding": "embedding",
    "pii_logits": "pii",
    "jailbreak_logits": "jailbreak",
}


def _onnx_config_class(names: Sequence[str] = ("category_logits", "success_logits", "embedding")) -> Any:
    from optimum.exporters.onnx.model_configs import ModernBertOnnxConfig

    class RoutingOnnxConfig(ModernBertOnnxConfig):  # type: ignore[misc]
        """ModernBERT inputs, sirp's routing (and guard) heads as outputs."""

        @property
        def outputs(self) -> dict[str, dict[int, str]]:
            return {
                name: {0: "batch_size", 1: "sequence_length"} if name in _TOKEN_OUTPUTS else {0: "batch_size"}
                for name in names
            }

    return RoutingOnnxConfig


def guard_head_nodes(onnx_path: Path) -> list[str]:
    """Names of the nodes of the guard heads (kept fp32 by the quantiser)."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [n.name for n in graph.node if n.name.startswith(("/pii/", "/jailbreak/"))]


def export(
    checkpoint: str | Path,
    output: str | Path,
    *,
    verify_texts: Sequence[str] = (),
    max_length: int = 512,
    quantize: bool = True,
    atol: float = 1e-4,
    min_agreement: float = 0.99,
    training_info: dict[str, Any] | None = None,
) -> ExportReport:
    """Export ``checkpoint`` (a folder written by ``sirp train``) into the model folder ``output``."""
    torch = require("torch", extra="train", purpose="Exporting a model")
    require("optimum.exporters.onnx", extra="train", purpose="Exporting a model")
    from optimum.exporters.onnx.convert import export as onnx_export
    from tokenizers import Tokenizer

    from sirp.training.modeling import ModernBertForRouting, output_names

    checkpoint, output = Path(checkpoint), Path(output)
    if not (checkpoint / "config.json").is_file():
        raise TrainingError(f"{str(checkpoint)!r} is not a trained checkpoint (no config.json); pass <run>/best")
    model = ModernBertForRouting.from_pretrained(checkpoint, local_files_only=True, attn_implementation="sdpa").eval()
    categories = list(model.config.sirp_categories)
    models = list(model.config.sirp_reference_models)
    output.mkdir(parents=True, exist_ok=True)

    names = output_names(model.config)
    cfg_cls = _onnx_config_class(names)
    onnx_config = cfg_cls(model.config, task="feature-extraction")
    staging = output / "_onnx"
    staging.mkdir(parents=True, exist_ok=True)
    # The low-level Optimum export: onnx_export_from_model() infers the library from the model's
    # module name and refuses classes defined outside transformers, like this one.
    from torch.jit import TracerWarning  # type: ignore[attr-defined]

    with warnings.catch_warnings():
        # Tracing ModernBERT's mask code warns that constants are baked in; the shapes stay dynamic
        # (the fp32-vs-PyTorch check below proves the graph), so the warning is noise to a user.
        warnings.simplefilter("ignore", TracerWarning)
        onnx_export(model, onnx_config, output / "model.onnx", opset=18)
    files: dict[str, str] = {"fp32": "model.onnx"}
    if quantize:
        from optimum.onnxruntime import ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig

        exclude = activation_matmuls(output / "model.onnx") + guard_head_nodes(output / "model.onnx")
        qconf = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True, nodes_to_exclude=exclude)
        quantizer = ORTQuantizer.from_pretrained(output, file_name="model.onnx")
        qpath = quantizer.quantize(save_dir=staging, quantization_config=qconf)
        qfile = Path(qpath) / "model_quantized.onnx" if Path(qpath).is_dir() else Path(qpath)
        shutil.move(str(qfile), output / "model.int8.onnx")
        files["int8"] = "model.int8.onnx"
    shutil.rmtree(staging, ignore_errors=True)
    tok = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    tok.save(str(output / "tokenizer.json"))

    record: dict[str, Any] = {}
    train_rec = checkpoint / "sirp_training.json"
    if train_rec.is_file():
        record.update(json.loads(train_rec.read_text(encoding="utf-8")))
    record.update(training_info or {})
    threshold = getattr(model.config, "sirp_jailbreak_threshold", None)
    manifest = ModelManifest(
        categories=categories,
        reference_models=models,
        embedding_dim=int(model.config.sirp_embedding_dim),
        max_length=min(max_length, int(model.config.max_position_embeddings)),
        files=files,  # type: ignore[arg-type]
        outputs={_HEADS[n]: n for n in names},
        pii_labels=list(getattr(model.config, "sirp_pii_labels", None) or []),
        jailbreak_threshold=float(threshold) if threshold is not None and "jailbreak_logits" in names else None,
        training=record,
    )
    (output / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")

    report: ExportReport = {"files": files}
    if verify_texts:
        report.update(verify(model, ModelFolder.load(output), list(verify_texts), atol=atol, torch=torch, names=names))
        if report["fp32_max_abs_diff"] > atol:
            raise TrainingError(
                f"fp32 ONNX differs from PyTorch by {report['fp32_max_abs_diff']:.2e} > {atol:.0e}; the export is wrong"
            )
        if "int8_argmax_agreement" in report and report["int8_argmax_agreement"] < min_agreement:
            raise TrainingError(
                f"int8 category argmax agrees with fp32 on only {report['int8_argmax_agreement']:.3f} of "
                f"{len(verify_texts)} texts (< {min_agreement}); keep the fp32 model or train longer"
            )
        manifest.training["export_verification"] = report
        (output / MANIFEST_NAME).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return report


def activation_matmuls(onnx_path: Path) -> list[str]:
    """Names of MatMul nodes whose both inputs are activations (attention scores and mixing).

    Optimum's quantizer, unlike ``onnxruntime.quantization.quantize_dynamic``, does not set
    ``MatMulConstBOnly``, so it would quantise these too with one dynamic scale per tensor. That
    scale then depends on the padding in the batch, and a request's decision would change with its
    batch neighbours; weights-only int8 keeps the graph padding-invariant.
    """
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    constants = {i.name for i in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return [n.name for n in graph.node if n.op_type == "MatMul" and not (set(n.input) & constants)]


def verify(
    model: Any,
    folder: ModelFolder,
    texts: list[str],
    *,
    atol: float,
    torch: Any,
    names: Sequence[str] = ("category_logits", "success_logits", "embedding"),
) -> dict[str, Any]:
    """Compare PyTorch with the exported fp32 and int8 graphs on ``texts``.

    Token outputs are compared on real tokens only (padding rows carry no meaning). With a PII
    head, the int8 graph's tag argmax agreement with fp32 is reported too.
    """
    from sirp.backends.onnx import OnnxBackend
    from sirp.backends.tokenization import TokenizedBatch, Tokenizer

    tokenizer = Tokenizer.from_folder(folder)
    max_diff = 0.0
    fp32_arg: list[np.ndarray] = []
    int8_arg: list[np.ndarray] = []
    tag_agree: list[np.ndarray] = []
    backends = {p: OnnxBackend(folder, precision=p) for p in folder.manifest.files}  # type: ignore[arg-type]
    try:
        for s in range(0, len(texts), 32):
            batch: TokenizedBatch = tokenizer.encode(texts[s : s + 32])
            with torch.inference_mode():
                ref = model(
                    input_ids=torch.from_numpy(batch.input_ids), attention_mask=torch.from_numpy(batch.attention_mask)
                )
            got = backends["fp32"].run(batch)
            real = batch.attention_mask.astype(bool)
            for name in names:
                want, have = getattr(ref, name).numpy(), got[name]
                if name in _TOKEN_OUTPUTS:
                    want, have = want[real], have[real]
                max_diff = max(max_diff, float(np.abs(want - have).max()))
            fp32_arg.append(got["category_logits"].argmax(1))
            if "int8" in backends:
                q = backends["int8"].run(batch)
                int8_arg.append(q["category_logits"].argmax(1))
                if "pii_logits" in names:
                    tag_agree.append(q["pii_logits"][real].argmax(-1) == got["pii_logits"][real].argmax(-1))
    finally:
        for b in backends.values():
            b.close()
    out: dict[str, Any] = {"texts": len(texts), "fp32_max_abs_diff": max_diff, "atol": atol}
    if int8_arg:
        out["int8_argmax_agreement"] = float((np.concatenate(fp32_arg) == np.concatenate(int8_arg)).mean())
    if tag_agree:
        out["int8_pii_tag_agreement"] = float(np.concatenate(tag_agree).mean())
    return out
