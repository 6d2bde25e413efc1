"""The PyTorch routing model: a ModernBERT encoder with sirp's heads.

One encoder pass feeds every head, so the ONNX graph sirp ships answers all signals at once:

- ``embedding``: a projection of the mean-pooled encoder output, L2-normalised. It is trained to
  match a teacher sentence encoder (distillation) when one is given, and is what the category
  head reads; it can also serve as a semantic-cache key.
- ``category_logits``: one logit per category label.
- ``success_logits``: one logit per reference model, the log-odds that the model answers the
  request correctly (multi-label).

Only training, export and the PyTorch side of benchmarks import this module; the runtime reads
the exported ONNX graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import ModernBertConfig, ModernBertModel, ModernBertPreTrainedModel
from transformers.utils.generic import ModelOutput

__all__ = ["ModernBertForRouting", "RoutingOutput", "small_config"]

#: Output names of the routing graph, in the order the ONNX export writes them.
OUTPUT_NAMES = ("category_logits", "success_logits", "embedding")


@dataclass
class RoutingOutput(ModelOutput):
    """Outputs of :class:`ModernBertForRouting` (all ``(batch, n)`` float tensors)."""

    category_logits: torch.Tensor | None = None
    success_logits: torch.Tensor | None = None
    embedding: torch.Tensor | None = None


def small_config(
    *,
    vocab_size: int,
    pad_token_id: int,
    cls_token_id: int,
    sep_token_id: int,
    hidden_size: int = 384,
    num_hidden_layers: int = 4,
    num_attention_heads: int = 6,
    intermediate_size: int = 768,
    max_position_embeddings: int = 512,
    **extra: Any,
) -> ModernBertConfig:
    """A fresh small ModernBERT configuration whose special-token ids match the tokenizer.

    ModernBERT's defaults put pad/bos/eos/cls/sep in the 50k range of its own vocabulary; a
    different tokenizer needs them set explicitly or padding and pooling go wrong.
    """
    return ModernBertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=pad_token_id,
        bos_token_id=cls_token_id,
        eos_token_id=sep_token_id,
        cls_token_id=cls_token_id,
        sep_token_id=sep_token_id,
        global_attn_every_n_layers=2,
        local_attention=128,
        classifier_pooling="mean",
        **extra,
    )


class ModernBertForRouting(ModernBertPreTrainedModel):
    """ModernBERT encoder + embedding, category and success heads.

    The head sizes come from the config's ``sirp_categories`` and ``sirp_reference_models``
    lists and ``sirp_embedding_dim``, so a saved checkpoint reloads with
    ``ModernBertForRouting.from_pretrained(folder)``.
    """

    def __init__(self, config: ModernBertConfig) -> None:
        super().__init__(config)
        categories = list(getattr(config, "sirp_categories", []))
        models = list(getattr(config, "sirp_reference_models", []))
        emb_dim = int(getattr(config, "sirp_embedding_dim", config.hidden_size))
        self.model = ModernBertModel(config)
        self.drop = nn.Dropout(float(getattr(config, "classifier_dropout", 0.0) or 0.0))
        self.embed_proj = nn.Linear(config.hidden_size, emb_dim)
        # The category head reads the unit-norm embedding, so it can also be trained on teacher
        # embeddings directly; a learned temperature gives it back the logit range.
        self.category = nn.Linear(emb_dim, max(len(categories), 1))
        self.category_scale = nn.Parameter(torch.tensor(10.0))
        self.success = nn.Sequential(
            nn.Linear(config.hidden_size, config.hidden_size),
            nn.GELU(),
            nn.Linear(config.hidden_size, max(len(models), 1)),
        )
        self.post_init()

    def category_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """Category logits from unit-norm embeddings (student's or a teacher's)."""
        logits: torch.Tensor = self.category(embedding) * self.category_scale
        return logits

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> RoutingOutput:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.drop(pooled)
        embedding = nn.functional.normalize(self.embed_proj(pooled), dim=-1)
        return RoutingOutput(
            category_logits=self.category_head(embedding),
            success_logits=self.success(pooled),
            embedding=embedding,
        )
