"""`sirp train --init`: fine-tuning a plain local ModernBERT checkpoint (as published: ModernBertForMaskedLM).

The routing heads are not in such a checkpoint; they must start from a proper initialisation, not
from the unset memory ``from_pretrained`` leaves for weights ModernBERT's own ``_init_weights``
does not know (which gave NaN losses from the first step).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_fine_tunes_a_plain_modernbert_checkpoint(synthetic_data: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("torch", reason="training needs the sirp[train] extra")
    import torch
    from tokenizers import Tokenizer
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    from sirp.training.modeling import ModernBertForRouting
    from sirp.training.trainer import TrainConfig, train

    tok = Tokenizer.from_file(str(synthetic_data["tokenizer"]))
    ids = {t: tok.token_to_id(t) for t in ("[PAD]", "[CLS]", "[SEP]")}
    init = tmp_path / "ModernBERT-tiny"
    torch.manual_seed(0)
    ModernBertForMaskedLM(
        ModernBertConfig(
            vocab_size=tok.get_vocab_size(),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            pad_token_id=ids["[PAD]"],
            bos_token_id=ids["[CLS]"],
            eos_token_id=ids["[SEP]"],
            cls_token_id=ids["[CLS]"],
            sep_token_id=ids["[SEP]"],
        )
    ).save_pretrained(init)
    shutil.copy(synthetic_data["tokenizer"], init / "tokenizer.json")

    out = tmp_path / "run"
    cfg = TrainConfig(
        train=synthetic_data["train"],
        dev=synthetic_data["dev"],
        output=out,
        init=init,
        epochs=2,
        batch_size=16,
        lr=3e-3,
        max_length=64,
        eval_every=25,
        threads=1,
    )
    best = train(cfg)

    model = ModernBertForRouting.from_pretrained(best, local_files_only=True)
    for name, p in model.named_parameters():
        assert torch.isfinite(p).all(), f"{name} is not finite after training"
    assert model.config.sirp_categories == ["biology", "history", "law", "math"]
    assert 1 < model.category_scale.item() < 100  # started at 10, as in a fresh model
    dev = json.loads((best / "sirp_training.json").read_text())["dev"]
    assert math.isfinite(dev["success_auc"])
    assert dev["category_accuracy"] > 0.5  # learned something: NaN weights stay at chance
