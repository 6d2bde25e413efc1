"""Fine-tune (or train from scratch) a ModernBERT routing model.

``sirp train`` calls :func:`train`. What it does, in order:

1. reads the training JSONL (:mod:`sirp.training.data`), collects the category labels and the
   reference models, and tokenises every text once;
2. builds the model: from a local ModernBERT checkpoint folder (``init``), or a fresh small
   ModernBERT sized by ``TrainConfig.model`` whose token embeddings may be copied from the teacher;
3. optionally reads teacher embeddings (cached on disk, :mod:`sirp.training.teacher`);
4. trains with, per batch: cross-entropy on the category, masked binary cross-entropy on the
   success of each reference model, cosine distillation of the embedding to the teacher's,
   cross-entropy of the category head applied to the *teacher* embedding (so the head is right
   on the space the student is pulled towards), and on unlabelled rows the teacher-head's
   category distribution as a soft target;
5. evaluates on dev after each epoch and every ``eval_every`` steps, keeps the best checkpoint
   (dev category accuracy + mean success AUC) in ``<output>/best``;
6. writes a resumable checkpoint every ``checkpoint_every`` steps to ``<output>/checkpoint``.
   Batch order is a function of (seed, epoch), so a resumed run sees the same batches.
"""

from __future__ import annotations

import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from tokenizers import Tokenizer
from torch import nn
from tqdm.auto import tqdm

from sirp.errors import TrainingError
from sirp.evaluation.metrics import roc_auc
from sirp.training.data import TrainingRow, label_sets, read_rows
from sirp.training.modeling import ModernBertForRouting, small_config

__all__ = ["ModelSize", "TrainConfig", "train"]


class ModelSize(BaseModel):
    """Shape of a fresh ModernBERT (ignored when ``init`` names a checkpoint)."""

    model_config = ConfigDict(extra="forbid")
    hidden_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 6
    intermediate_size: int = 768


class TrainConfig(BaseModel):
    """Everything a training run needs; saved next to its checkpoints."""

    model_config = ConfigDict(extra="forbid")

    train: Path
    output: Path
    dev: Path | None = None
    distill: Path | None = Field(default=None, description="unlabelled texts, used only with a teacher")
    init: Path | None = Field(default=None, description="local ModernBERT checkpoint folder to fine-tune")
    tokenizer: Path | None = Field(default=None, description="tokenizer.json (or its folder) for a fresh model")
    model: ModelSize = ModelSize()
    teacher: Path | None = Field(default=None, description="local sentence-encoder folder to distil from")
    teacher_cache: Path | None = None
    copy_teacher_embeddings: bool = True
    epochs: float = Field(default=2.0, gt=0)
    batch_size: int = Field(default=32, gt=0)
    lr: float = Field(default=5e-4, gt=0)
    weight_decay: float = 0.01
    warmup: float = Field(default=0.05, ge=0, lt=1)
    max_length: int = Field(default=128, gt=1)
    seed: int = 0
    threads: int | None = None
    eval_every: int = Field(default=1000, gt=0)
    checkpoint_every: int = Field(default=200, gt=0)
    w_category: float = 1.0
    w_success: float = 1.0
    w_distill: float = 1.0
    w_teacher_head: float = 0.5
    w_soft: float = 0.5
    max_steps: int | None = Field(
        default=None, gt=0, description="stop after this many steps; the LR schedule still spans `epochs`"
    )


def _load_tokenizer(cfg: TrainConfig) -> Tokenizer:
    candidates = []
    if cfg.init is not None:
        candidates.append(cfg.init / "tokenizer.json")
    if cfg.tokenizer is not None:
        candidates.append(cfg.tokenizer if cfg.tokenizer.suffix == ".json" else cfg.tokenizer / "tokenizer.json")
    for c in candidates:
        if c.is_file():
            return Tokenizer.from_file(str(c))
    raise TrainingError(
        "no tokenizer.json found (looked in: "
        + (", ".join(str(c) for c in candidates) or "nothing: pass --init or --tokenizer")
        + ")"
    )


def _special_id(tok: Tokenizer, *names: str) -> int:
    for n in names:
        i = tok.token_to_id(n)
        if i is not None:
            return int(i)
    raise TrainingError(f"the tokenizer has none of the special tokens {names}; a fresh model needs them")


class _Encoded:
    """Tokenised rows and their label tensors."""

    def __init__(
        self, rows: list[TrainingRow], tok: Tokenizer, categories: list[str], models: list[str], max_length: int
    ) -> None:
        tok.no_padding()
        tok.enable_truncation(max_length)
        self.ids = [e.ids for e in tok.encode_batch([r.text for r in rows])]
        cat_index = {c: i for i, c in enumerate(categories)}
        model_index = {m: i for i, m in enumerate(models)}
        self.cat = np.array([cat_index.get(r.category, -1) if r.category else -1 for r in rows], dtype=np.int64)
        self.succ = np.zeros((len(rows), max(len(models), 1)), dtype=np.float32)
        self.succ_mask = np.zeros_like(self.succ)
        for i, r in enumerate(rows):
            for m, ok in (r.outcomes or {}).items():
                j = model_index.get(m)
                if j is not None:
                    self.succ[i, j] = float(ok)
                    self.succ_mask[i, j] = 1.0
        self.weight = np.array([r.weight for r in rows], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)


def _batches(n_rows: int, lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Length-bucketed batches in an order fixed by (seed, epoch): resumable and fast on CPU."""
    rng = random.Random(seed * 1000 + epoch)
    order = list(range(n_rows))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for s in range(0, n_rows, chunk):
        part = sorted(order[s : s + chunk], key=lambda i: lengths[i])
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def _collate(enc: _Encoded, idx: list[int], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(enc.ids[i]) for i in idx)
    ids = np.full((len(idx), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(idx), width), dtype=np.int64)
    for r, i in enumerate(idx):
        seq = enc.ids[i]
        ids[r, : len(seq)] = seq
        mask[r, : len(seq)] = 1
    return {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}


@torch.inference_mode()
def _predict(
    model: ModernBertForRouting, enc: _Encoded, pad_id: int, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    order = sorted(range(len(enc)), key=lambda i: len(enc.ids[i]))
    cats = np.zeros((len(enc), model.category.out_features), np.float32)
    succ = np.zeros((len(enc), enc.succ.shape[1]), np.float32)
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        out = model(**_collate(enc, idx, pad_id))
        cats[idx] = out.category_logits.float().numpy()
        succ[idx] = torch.sigmoid(out.success_logits).float().numpy()
    model.train()
    return cats, succ


def evaluate_encoded(model: ModernBertForRouting, enc: _Encoded, pad_id: int) -> dict[str, float]:
    """Dev figures: category accuracy and the mean ROC AUC of the success head."""
    cats, succ = _predict(model, enc, pad_id)
    has = enc.cat >= 0
    acc = float((cats[has].argmax(1) == enc.cat[has]).mean()) if has.any() else float("nan")
    aucs = []
    for j in range(succ.shape[1]):
        m = enc.succ_mask[:, j] > 0
        if m.sum() > 10 and 0 < enc.succ[m, j].mean() < 1:
            aucs.append(roc_auc(enc.succ[m, j], succ[m, j]))
    return {"category_accuracy": acc, "success_auc": float(np.mean(aucs)) if aucs else float("nan")}


def _score(metrics: dict[str, float]) -> float:
    return sum(v for v in metrics.values() if not math.isnan(v))


def train(cfg: TrainConfig) -> Path:
    """Run (or resume) training; return the folder of the best checkpoint."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = cfg.output
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")

    rows = read_rows(cfg.train)
    categories, models = label_sets(rows)
    if not categories:
        raise TrainingError(f"{cfg.train}: no row has a category; the category head needs labels")
    n_labelled = len(rows)
    if cfg.distill is not None:
        if cfg.teacher is None:
            raise TrainingError("--distill texts teach only through a teacher; pass --teacher too")
        rows = rows + [TrainingRow(text=r.text, weight=r.weight) for r in read_rows(cfg.distill)]
    dev_rows = read_rows(cfg.dev) if cfg.dev is not None else []

    tok = _load_tokenizer(cfg)
    if cfg.init is not None:
        # The heads' sizes come from the config, so set them there before the weights load: a plain
        # ModernBERT checkpoint (ModernBertModel, or ModernBertForMaskedLM as published) has no
        # sirp_* entries, and from_pretrained would hand unknown keyword arguments to the model.
        from transformers import ModernBertConfig

        conf = ModernBertConfig.from_pretrained(cfg.init, local_files_only=True)
        conf.sirp_categories = categories
        conf.sirp_reference_models = models
        conf.sirp_embedding_dim = conf.hidden_size
        model, loading = ModernBertForRouting.from_pretrained(
            cfg.init, config=conf, local_files_only=True, attn_implementation="sdpa", output_loading_info=True
        )
        _init_new_weights(model, loading["missing_keys"])
    else:
        pad = _special_id(tok, "[PAD]", "<pad>")
        conf = small_config(
            vocab_size=tok.get_vocab_size(),
            pad_token_id=pad,
            cls_token_id=_special_id(tok, "[CLS]", "<s>"),
            sep_token_id=_special_id(tok, "[SEP]", "</s>"),
            **cfg.model.model_dump(),
        )
        conf.sirp_categories = categories
        conf.sirp_reference_models = models
        conf.sirp_embedding_dim = conf.hidden_size
        conf._attn_implementation = "sdpa"
        model = ModernBertForRouting(conf)
    pad_id = int(model.config.pad_token_id)

    teacher_emb = None
    if cfg.teacher is not None:
        from sirp.training.teacher import TeacherCache

        cache = TeacherCache(cfg.teacher, cfg.teacher_cache or out / "teacher-cache")
        teacher_emb = torch.from_numpy(cache.embed([r.text for r in rows], threads=cfg.threads))
        if teacher_emb.shape[1] != model.config.sirp_embedding_dim:
            model.config.sirp_embedding_dim = teacher_emb.shape[1]
            model.embed_proj = nn.Linear(model.config.hidden_size, teacher_emb.shape[1])
            model.category = nn.Linear(teacher_emb.shape[1], len(categories))
        if cfg.init is None and cfg.copy_teacher_embeddings:
            _copy_token_embeddings(model, cfg.teacher, tok)

    enc = _Encoded(rows, tok, categories, models, cfg.max_length)
    dev_enc = _Encoded(dev_rows, tok, categories, models, cfg.max_length) if dev_rows else None
    lengths = [len(x) for x in enc.ids]

    steps_per_epoch = math.ceil(len(enc) / cfg.batch_size)
    schedule_steps = math.ceil(steps_per_epoch * cfg.epochs)
    total = schedule_steps if cfg.max_steps is None else min(schedule_steps, cfg.max_steps)
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2 or "norm" in n]
    decay = [p for n, p in model.named_parameters() if not (p.ndim < 2 or "norm" in n)]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr
    )
    warm = max(1, int(schedule_steps * cfg.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (schedule_steps - s) / max(1, schedule_steps - warm)))
    )

    step, best_score = 0, -math.inf
    history: list[dict[str, Any]] = []
    ckpt = out / "checkpoint" / "state.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        step, best_score, history = state["step"], state["best_score"], state["history"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed from {ckpt} at step {step}/{total}")

    def save_best(metrics: dict[str, float]) -> None:
        nonlocal best_score
        score = _score(metrics)
        history.append({"step": step, **metrics})
        if score > best_score:
            best_score = score
            _save_model(model, tok, out / "best", {"step": step, "dev": metrics, "train_rows": n_labelled})

    model.train()
    bar = tqdm(total=total, initial=step, desc="train", unit="step")
    t0, last_loss = time.time(), {}
    while step < total:
        epoch, pos = divmod(step, steps_per_epoch)
        for idx in _batches(len(enc), lengths, cfg.batch_size, cfg.seed, epoch)[pos:]:
            if step >= total:
                break
            batch = _collate(enc, idx, pad_id)
            o = model(**batch)
            w = torch.from_numpy(enc.weight[idx])
            y = torch.from_numpy(enc.cat[idx])
            has = y >= 0
            losses: dict[str, torch.Tensor] = {}
            if has.any():
                ce = nn.functional.cross_entropy(o.category_logits[has], y[has], reduction="none")
                losses["category"] = cfg.w_category * (ce * w[has]).sum() / w[has].sum()
            sm = torch.from_numpy(enc.succ_mask[idx])
            if sm.sum() > 0:
                bce = nn.functional.binary_cross_entropy_with_logits(
                    o.success_logits, torch.from_numpy(enc.succ[idx]), reduction="none"
                )
                losses["success"] = cfg.w_success * (bce * sm).sum() / sm.sum()
            if teacher_emb is not None:
                t = teacher_emb[idx]
                cos = 1 - (o.embedding * t).sum(-1)
                losses["distill"] = cfg.w_distill * (cos * w).sum() / w.sum()
                t_logits = model.category_head(t)
                if has.any():
                    losses["teacher_head"] = cfg.w_teacher_head * nn.functional.cross_entropy(t_logits[has], y[has])
                if (~has).any() and cfg.w_soft > 0:
                    target = torch.softmax(t_logits[~has].detach(), -1)
                    losses["soft"] = cfg.w_soft * nn.functional.kl_div(
                        torch.log_softmax(o.category_logits[~has], -1), target, reduction="batchmean"
                    )
            loss = torch.stack(list(losses.values())).sum()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            step += 1
            last_loss = {k: round(float(v), 4) for k, v in losses.items()}
            bar.update(1)
            bar.set_postfix(loss=round(float(loss), 3))
            if step % cfg.checkpoint_every == 0:
                _save_state(ckpt, model, opt, sched, step, best_score, history)
            if dev_enc is not None and (step % cfg.eval_every == 0 or step % steps_per_epoch == 0):
                metrics = evaluate_encoded(model, dev_enc, pad_id)
                tqdm.write(f"step {step}: dev {json.dumps(metrics)} losses {json.dumps(last_loss)}")
                save_best(metrics)
    bar.close()
    if dev_enc is not None:
        save_best(evaluate_encoded(model, dev_enc, pad_id))
    else:
        _save_model(model, tok, out / "best", {"step": step, "train_rows": n_labelled})
    _save_model(model, tok, out / "last", {"step": step, "train_rows": n_labelled})
    _save_state(ckpt, model, opt, sched, step, best_score, history)
    (out / "history.json").write_text(
        json.dumps({"history": history, "seconds": round(time.time() - t0, 1), "steps": step}, indent=2),
        encoding="utf-8",
    )
    return out / "best"


def _init_new_weights(model: ModernBertForRouting, missing_keys: list[str]) -> None:
    """Initialise the weights a checkpoint did not have (the routing heads of a plain ModernBERT).

    ``from_pretrained`` leaves them as allocated, unset memory: ModernBERT's ``_init_weights``
    knows only ModernBERT's own modules, so the heads would start from garbage (and NaN losses).
    """
    owners = {key.rsplit(".", 1)[0] for key in missing_keys}
    for name, module in model.named_modules():
        reset = getattr(module, "reset_parameters", None)
        if name in owners and callable(reset):
            reset()
    if "category_scale" in missing_keys:
        with torch.no_grad():
            model.category_scale.fill_(10.0)  # as ModernBertForRouting.__init__ sets it


def _save_state(path: Path, model: nn.Module, opt: Any, sched: Any, step: int, best: float, history: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "step": step,
            "best_score": best,
            "history": history,
            "torch_rng": torch.get_rng_state(),
        },
        tmp,
    )
    tmp.replace(path)


def _save_model(model: ModernBertForRouting, tok: Tokenizer, folder: Path, info: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tok.no_truncation()
    tok.save(str(folder / "tokenizer.json"))
    (folder / "sirp_training.json").write_text(json.dumps(info, indent=2), encoding="utf-8")


def _copy_token_embeddings(model: ModernBertForRouting, teacher_dir: Path, tok: Tokenizer) -> None:
    """Start the student's token embeddings from the teacher's when both share a vocabulary."""
    from safetensors.torch import load_file

    weights = teacher_dir / "model.safetensors"
    teacher_tok = teacher_dir / "tokenizer.json"
    if not weights.is_file() or not teacher_tok.is_file():
        return
    if Tokenizer.from_file(str(teacher_tok)).get_vocab() != tok.get_vocab():
        return
    state = load_file(str(weights))
    key = next((k for k in state if k.endswith("word_embeddings.weight")), None)
    if key is None:
        return
    emb = state[key]
    target = model.model.embeddings.tok_embeddings.weight
    if emb.shape != target.shape:
        return
    with torch.no_grad():
        target.copy_(emb)
