"""Train the PII tagger and the jailbreak scorer on cached encoder states (frozen encoder).

    python scripts/guards/train_heads.py --data runs/guards/data --features runs/guards/features \\
        --out runs/guards/heads [--threads 1]

PII: :class:`~sirp.training.modeling.TokenTagger` on the token states of ``pii_train``
(cross-entropy over BIO tags), checkpoint chosen by span F1 on ``pii_dev``.
Jailbreak: :class:`~sirp.training.modeling.SequenceScorer` on ``jailbreak_train``; then Platt
scaling on ``jailbreak_dev`` is folded into its last layer (the logit becomes calibrated), and
the threshold is the dev score that keeps the false-positive rate at ``--target-fpr``.

Writes ``pii_head.pt``, ``jailbreak_head.pt`` and ``heads.json`` (labels, threshold, dev
figures) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import roc_auc, span_prf, tpr_at_fpr  # noqa: E402

from sirp.guards.pii import ENTITIES, decode_spans  # noqa: E402
from sirp.training.modeling import SequenceScorer, TokenTagger  # noqa: E402

TAGS = ["O"] + [f"{p}-{e}" for e in ENTITIES for p in ("B", "I")]
HIDDEN = 384


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


class Cached:
    """One split's cached states, with per-text views."""

    def __init__(self, path: Path) -> None:
        z = np.load(path)
        self.states = z["states"]
        self.row_start = z["row_start"]
        self.lengths = z["lengths"]
        self.offsets = z["offsets"]

    def __len__(self) -> int:
        return len(self.row_start)

    def rows(self, i: int) -> slice:
        s = int(self.row_start[i])
        return slice(s, s + int(self.lengths[i]))


def token_tags(cached: Cached, rows: list[dict[str, Any]]) -> np.ndarray:
    """BIO tag id of every cached token, from the character spans of its text."""
    tags = np.zeros(len(cached.states), dtype=np.int64)
    index = {t: i for i, t in enumerate(TAGS)}
    for i, r in enumerate(rows):
        sl = cached.rows(i)
        offs = cached.offsets[sl]
        for sp in r["spans"]:
            first = True
            for k, (s, e) in enumerate(offs):
                if e > s and s < sp["end"] and e > sp["start"]:
                    tags[sl.start + k] = index[("B-" if first else "I-") + sp["label"]]
                    first = False
    return tags


def _batch(cached: Cached, idx: list[int], tags: np.ndarray | None) -> tuple[torch.Tensor, ...]:
    width = max(int(cached.lengths[i]) for i in idx)
    x = np.zeros((len(idx), width, cached.states.shape[1]), dtype=np.float32)
    m = np.zeros((len(idx), width, 1), dtype=np.float32)
    y = np.full((len(idx), width), -100, dtype=np.int64)
    for r, i in enumerate(idx):
        sl = cached.rows(i)
        n = sl.stop - sl.start
        x[r, :n] = cached.states[sl]
        m[r, :n] = 1.0
        if tags is not None:
            y[r, :n] = tags[sl]
    return torch.from_numpy(x), torch.from_numpy(m), torch.from_numpy(y)


def predict_pii(model: TokenTagger, cached: Cached, texts: list[str], batch: int = 64) -> list[list[Any]]:
    """Decoded spans of every text (the runtime's decoder, checks included)."""
    model.eval()
    out: list[list[Any]] = []
    with torch.inference_mode():
        for s in range(0, len(cached), batch):
            idx = list(range(s, min(s + batch, len(cached))))
            x, m, _ = _batch(cached, idx, None)
            logits = model(x, m).numpy()
            for r, i in enumerate(idx):
                sl = cached.rows(i)
                out.append(decode_spans(logits[r], cached.offsets[sl], TAGS, texts[i]))
    return out


def train_pii(a: argparse.Namespace) -> dict[str, Any]:
    train_rows, dev_rows = _jsonl(a.data / "pii_train.jsonl"), _jsonl(a.data / "pii_dev.jsonl")
    train, dev = Cached(a.features / "pii_train.npz"), Cached(a.features / "pii_dev.npz")
    tags = token_tags(train, train_rows)
    torch.manual_seed(0)
    model = TokenTagger(train.states.shape[1], len(TAGS), width=a.pii_width)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    steps = a.pii_epochs * (len(train) // a.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=a.lr, total_steps=steps, pct_start=0.1)
    rng = np.random.default_rng(0)
    best: dict[str, Any] = {"f1": -1.0}
    step, t0 = 0, time.time()
    for epoch in range(a.pii_epochs):
        model.train()
        # shuffled, then sorted by length within chunks of 50 batches: little padding, random batches
        order = rng.permutation(len(train))
        chunk = 50 * a.batch
        order = np.concatenate(
            [sorted(order[c : c + chunk], key=lambda i: train.lengths[i]) for c in range(0, len(order), chunk)]
        )
        starts = rng.permutation(np.arange(0, len(order) - a.batch + 1, a.batch))
        for s in starts:
            x, m, y = _batch(train, order[s : s + a.batch].tolist(), tags)
            # feature dropout: the head must not lean on one layer's quirks
            x = nn.functional.dropout(x, p=0.1)
            loss = nn.functional.cross_entropy(model(x, m).reshape(-1, len(TAGS)), y.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step % 100 == 0:
                print(f"  pii step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f} s", flush=True)
        pred = predict_pii(model, dev, [r["text"] for r in dev_rows])
        f1 = span_prf(dev_rows, pred)["micro"]["f1"]
        print(f"pii epoch {epoch + 1}: dev span F1 {f1:.4f}", flush=True)
        if f1 > best["f1"]:
            best = {"f1": f1, "epoch": epoch + 1, "state": {k: v.clone() for k, v in model.state_dict().items()}}
    torch.save(best["state"], a.out / "pii_head.pt")
    return {"labels": TAGS, "width": a.pii_width, "dev_span_f1": best["f1"], "epoch": best["epoch"]}


def pooled(cached: Cached, layers: slice = slice(2 * HIDDEN, 3 * HIDDEN)) -> np.ndarray:
    """[masked mean, masked max] of the last layer's states of every text (what SequenceScorer pools)."""
    out = np.zeros((len(cached), 2 * HIDDEN), dtype=np.float32)
    for i in range(len(cached)):
        st = cached.states[cached.rows(i), layers].astype(np.float32)
        out[i, :HIDDEN] = st.mean(0)
        out[i, HIDDEN:] = st.max(0)
    return out


def pooled_cached(features: Path, name: str) -> np.ndarray:
    """:func:`pooled` of a split, cached next to its states (they are large; pooling reads them all)."""
    path = features / f"{name}.pooled.npy"
    src = features / f"{name}.npz"
    if path.is_file() and path.stat().st_mtime > src.stat().st_mtime:
        return np.load(path)
    out = pooled(Cached(src))
    np.save(path, out)
    return out


def train_jailbreak(a: argparse.Namespace) -> dict[str, Any]:
    rows = {s: _jsonl(a.data / f"jailbreak_{s}.jsonl") for s in ("train", "dev", "test")}
    feats = {s: torch.from_numpy(pooled_cached(a.features, f"jailbreak_{s}")) for s in rows}
    ys = {s: torch.tensor([float(r["label"]) for r in rows[s]]) for s in rows}
    torch.manual_seed(0)
    model = SequenceScorer(HIDDEN, width=a.jb_width)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.05)
    # balance the classes: attacks are a quarter of the rows
    pos_weight = (ys["train"] == 0).sum() / (ys["train"] == 1).sum()
    rng = np.random.default_rng(0)
    best: dict[str, Any] = {"auc": -1.0}
    for epoch in range(a.jb_epochs):
        model.train()
        order = rng.permutation(len(ys["train"]))
        for s in range(0, len(order), a.batch):
            idx = torch.from_numpy(order[s : s + a.batch])
            x = nn.functional.dropout(feats["train"][idx], p=0.2)
            loss = nn.functional.binary_cross_entropy_with_logits(
                model.mlp(x).squeeze(-1), ys["train"][idx], pos_weight=pos_weight
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        with torch.inference_mode():
            dev_logit = model.mlp(feats["dev"]).squeeze(-1).numpy()
        auc = roc_auc(ys["dev"].numpy(), dev_logit)
        if auc > best["auc"]:
            best = {"auc": auc, "epoch": epoch + 1, "state": {k: v.clone() for k, v in model.state_dict().items()}}
    print(f"jailbreak: best dev AUC {best['auc']:.4f} at epoch {best['epoch']}", flush=True)
    model.load_state_dict(best["state"])
    with torch.no_grad():
        dev_logit = model.mlp(feats["dev"]).squeeze(-1).detach()
    # Platt scaling on dev, folded into the last layer: sigmoid(logit) becomes a probability.
    ab = torch.zeros(2, requires_grad=True)
    popt = torch.optim.LBFGS([ab], max_iter=200)

    def closure() -> torch.Tensor:
        popt.zero_grad()
        lo = nn.functional.binary_cross_entropy_with_logits(ab[0].exp() * dev_logit + ab[1], ys["dev"])
        lo.backward()
        return lo

    popt.step(closure)
    scale, shift = float(ab[0].exp()), float(ab[1])
    last = model.mlp[2]
    with torch.no_grad():
        last.weight.mul_(scale)
        last.bias.mul_(scale).add_(shift)
        dev_p = torch.sigmoid(model.mlp(feats["dev"]).squeeze(-1)).numpy()
    benign = np.sort(dev_p[ys["dev"].numpy() == 0])
    # the threshold: the smallest score above all but target_fpr of the benign dev texts
    k = int(np.floor(a.target_fpr * len(benign)))
    threshold = float(min(0.99, max(0.5 * (benign[-k - 1] + benign[-k]) if k > 0 else benign[-1] + 1e-3, 1e-3)))
    torch.save(model.state_dict(), a.out / "jailbreak_head.pt")
    dev_y = ys["dev"].numpy()
    return {
        "width": a.jb_width,
        "threshold": threshold,
        "target_fpr": a.target_fpr,
        "platt": {"scale": scale, "shift": shift},
        "dev_auc": roc_auc(dev_y, dev_p),
        "dev_tpr_at_threshold": float((dev_p[dev_y == 1] >= threshold).mean()),
        "dev_fpr_at_threshold": float((dev_p[dev_y == 0] >= threshold).mean()),
        "dev_tpr_at_1pct_fpr": tpr_at_fpr(dev_y, dev_p, 0.01),
        "epoch": best["epoch"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT / "runs/guards/data")
    ap.add_argument("--features", type=Path, default=ROOT / "runs/guards/features")
    ap.add_argument("--out", type=Path, default=ROOT / "runs/guards/heads")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--pii-epochs", type=int, default=3)
    ap.add_argument("--pii-width", type=int, default=128)
    ap.add_argument("--jb-epochs", type=int, default=40)
    ap.add_argument("--jb-width", type=int, default=256)
    ap.add_argument("--target-fpr", type=float, default=0.01)
    ap.add_argument("--only", choices=["pii", "jailbreak"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    info_path = a.out / "heads.json"
    info: dict[str, Any] = json.loads(info_path.read_text()) if info_path.is_file() else {}
    if a.only in (None, "pii"):
        info["pii"] = train_pii(a)
    if a.only in (None, "jailbreak"):
        info["jailbreak"] = train_jailbreak(a)
    info_path.write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "labels"} for k, v in info.items()}, indent=2))


if __name__ == "__main__":
    main()
