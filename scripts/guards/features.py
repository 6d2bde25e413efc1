"""Cache the frozen encoder's token states for head training, from the shipped int8 graph itself.

    python scripts/guards/features.py --model sirp/default_model --texts runs/guards/data/pii_train.jsonl \\
        --out runs/guards/features/pii_train.npz

The guard heads are trained on exactly what they will read at run time: the int8 graph of the
bundled model, with the hidden states the heads use (token embeddings, the output of layer 2,
the last layer; ``TAGGER_LAYERS`` of ``sirp.training.modeling``) added as graph outputs. The
encoder is frozen, so these states are the same in the final graph (the quantiser treats the
same weights the same way).

Output ``.npz``: ``states`` (all tokens of all texts, concatenated: float16, 3 × hidden),
``row_start`` (where each text's tokens begin), ``input_ids``, ``offsets`` (character span of
each token; ``(0, 0)`` for special tokens) and ``truncated``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

#: Graph tensors of the exported ModernBERT that hold hidden_states[0], [2] and last_hidden_state.
STATE_TENSORS = (
    "/model/embeddings/norm/LayerNormalization_output_0",
    "/model/layers.1/Add_1_output_0",
    "/model/final_norm/LayerNormalization_output_0",
)


def feature_graph(src: Path, dst: Path) -> Path:
    """Copy ``src`` with the hidden states of ``STATE_TENSORS`` added as outputs."""
    import onnx

    if dst.is_file() and dst.stat().st_mtime > src.stat().st_mtime:
        return dst
    m = onnx.load(str(src))
    produced = {o for n in m.graph.node for o in n.output}
    for name in STATE_TENSORS:
        if name not in produced:
            raise SystemExit(f"{src} has no tensor {name!r}: not a graph exported by sirp export")
        m.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(dst))
    return dst


def read_texts(path: Path) -> list[str]:
    """``text`` of every JSONL row."""
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def extract(
    graph: Path, tokenizer_path: Path, texts: list[str], *, threads: int, batch: int, max_length: int
) -> dict[str, np.ndarray]:
    """Run the feature graph over ``texts`` in length-sorted batches (little padding)."""
    import onnxruntime as ort
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(str(tokenizer_path))
    tok.enable_truncation(max_length)
    tok.no_padding()
    encs = tok.encode_batch(texts)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(graph), sess_options=opts, providers=["CPUExecutionProvider"])
    order = sorted(range(len(texts)), key=lambda i: len(encs[i].ids))
    per_text: list[np.ndarray | None] = [None] * len(texts)
    t0 = time.time()
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        width = max(len(encs[i].ids) for i in idx)
        ids = np.zeros((len(idx), width), dtype=np.int64)
        mask = np.zeros((len(idx), width), dtype=np.int64)
        for r, i in enumerate(idx):
            n = len(encs[i].ids)
            ids[r, :n] = encs[i].ids
            mask[r, :n] = 1
        outs = sess.run(list(STATE_TENSORS), {"input_ids": ids, "attention_mask": mask})
        states = np.concatenate(outs, axis=-1)
        for r, i in enumerate(idx):
            per_text[i] = states[r, : len(encs[i].ids)].astype(np.float16)
        if (s // batch) % 50 == 0:
            print(f"  {s + len(idx)}/{len(texts)} texts, {time.time() - t0:.0f} s", flush=True)
    lengths = np.array([len(e.ids) for e in encs], dtype=np.int64)
    row_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    offsets = np.concatenate([np.asarray(e.offsets, dtype=np.int32).reshape(-1, 2) for e in encs])
    special = np.concatenate([np.asarray(e.special_tokens_mask, dtype=bool) for e in encs])
    offsets[special] = 0
    return {
        "states": np.concatenate([p for p in per_text if p is not None]),
        "row_start": row_start,
        "lengths": lengths,
        "input_ids": np.concatenate([np.asarray(e.ids, dtype=np.int32) for e in encs]),
        "offsets": offsets,
        "truncated": np.array([bool(e.overflowing) for e in encs]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "sirp/default_model")
    ap.add_argument("--texts", type=Path, nargs="+", required=True)
    ap.add_argument("--out-dir", type=Path, default=ROOT / "runs/guards/features")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("THREADS", "1")))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=512)
    a = ap.parse_args()
    graph = feature_graph(a.model / "model.int8.onnx", a.out_dir / "features.int8.onnx")
    for path in a.texts:
        out = a.out_dir / (path.stem + ".npz")
        if out.is_file() and out.stat().st_mtime > path.stat().st_mtime:
            print(f"{out}: cached")
            continue
        texts = read_texts(path)
        print(f"{path}: {len(texts)} texts")
        arrays = extract(
            graph, a.model / "tokenizer.json", texts, threads=a.threads, batch=a.batch, max_length=a.max_length
        )
        np.savez(out, **arrays)
        print(f"{out}: {arrays['states'].shape[0]} tokens")


if __name__ == "__main__":
    main()
