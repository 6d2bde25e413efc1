"""The PyTorch routing model: a ModernBERT encoder with sirp's heads.

One encoder pass feeds every head, so the ONNX graph sirp ships answers all signals at once:

- ``embedding``: a projection of the mean-pooled encoder output, L2-normalised. It is trained to
  match a teacher sentence encoder (distillation) when one is given, and is what the category
  head reads; it can also serve as a semantic-cache key.
- ``category_logits``: one logit per category label.
- ``success_logits``: one logit per reference model, the log-odds that the model answers the
  request correctly (multi-label).
- ``pii_logits`` (optional, ``config.sirp_pii_labels``): BIO tag logits per token, from the
  token embeddings, a middle layer and the last layer of the encoder (:class:`TokenTagger`).
- ``jailbreak_logits`` (optional, ``config.sirp_jailbreak``): the calibrated log-odds that the
  text is a jailbreak or prompt-injection attempt (:class:`SequenceScorer`).

The two guard heads are trained on a frozen encoder (``scripts/guards/``), so adding them to a
checkpoint leaves the routing outputs as they were.

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

__all__ = ["ModernBertForRouting", "RoutingOutput", "SequenceScorer", "TokenTagger", "output_names", "small_config"]

#: Output names of the routing graph, in the order the ONNX export writes them.
OUTPUT_NAMES = ("category_logits", "success_logits", "embedding")
#: Outputs of the optional guard heads: ``pii_logits`` is (batch, tokens, tags), the other (batch,).
GUARD_OUTPUT_NAMES = ("pii_logits", "jailbreak_logits")
#: Hidden states the token tagger reads: the embedding output, the output of layer 2, the last layer.
TAGGER_LAYERS = (0, 2, -1)


@dataclass
class RoutingOutput(ModelOutput):
    """Outputs of :class:`ModernBertForRouting` (all ``(batch, n)`` float tensors)."""

    category_logits: torch.Tensor | None = None
    success_logits: torch.Tensor | None = None
    embedding: torch.Tensor | None = None
    pii_logits: torch.Tensor | None = None
    jailbreak_logits: torch.Tensor | None = None


def output_names(config: Any) -> tuple[str, ...]:
    """The graph outputs a model of ``config`` writes: the routing heads, then the guard heads it has."""
    names = list(OUTPUT_NAMES)
    if getattr(config, "sirp_pii_labels", None):
        names.append("pii_logits")
    if getattr(config, "sirp_jailbreak", False):
        names.append("jailbreak_logits")
    return tuple(names)


class TokenTagger(nn.Module):
    """PII head: BIO tag logits per token.

    Reads the concatenation of several hidden states (``TAGGER_LAYERS``: the token embeddings
    keep the surface form, the last layer the context), projects it, and adds two 1-D
    convolutions (kernel 5, the second dilated: ±6 tokens of context) so a tag can see the
    words around it ("born on", "IBAN:"). Padding positions are zeroed before each
    convolution, so a token's tags do not depend on the padding of its batch.
    """

    def __init__(self, in_features: int, n_tags: int, width: int = 128) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, width)
        self.conv1 = nn.Conv1d(width, width, kernel_size=5, padding=2)
        self.conv2 = nn.Conv1d(width, width, kernel_size=5, padding=4, dilation=2)
        self.out = nn.Linear(width, n_tags)
        self.act = nn.GELU()

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``features`` (batch, tokens, in_features), ``mask`` (batch, tokens, 1) float → (batch, tokens, tags)."""
        x = self.act(self.proj(features)) * mask
        x = x + self.act(self.conv1(x.transpose(1, 2))).transpose(1, 2) * mask
        x = x + self.act(self.conv2(x.transpose(1, 2))).transpose(1, 2) * mask
        logits: torch.Tensor = self.out(x)
        return logits


class SequenceScorer(nn.Module):
    """Jailbreak head: one logit per text from the masked mean and max of its token states.

    The max keeps a short attack inside a long benign text visible; the mean the overall style.
    Its last layer is rescaled after training (Platt scaling on held-out data), so the logit is
    calibrated: ``sigmoid(logit)`` is the probability of an attack.
    """

    def __init__(self, in_features: int, width: int = 256) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * in_features, width), nn.GELU(), nn.Linear(width, 1))

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``states`` (batch, tokens, in_features), ``mask`` (batch, tokens, 1) float → (batch,)."""
        mean = (states * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp(min=1.0)
        peak = (states + (mask - 1.0) * 1e4).amax(1, keepdim=True)
        # kept 3-D, (batch, 1, features): the linear layers export as MatMul nodes, which the
        # quantiser leaves fp32 when told to (it rewrites 2-D Gemm nodes whatever it is told)
        logit: torch.Tensor = self.mlp(torch.cat([mean, peak], dim=-1)).squeeze(-1).squeeze(-1)
        return logit


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
    ``ModernBertForRouting.from_pretrained(folder)``. The guard heads exist when the config has
    ``sirp_pii_labels`` (BIO tags, ``"O"`` first) and ``sirp_jailbreak: true``.
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
        pii_labels = list(getattr(config, "sirp_pii_labels", None) or [])
        self.pii = TokenTagger(len(TAGGER_LAYERS) * config.hidden_size, len(pii_labels)) if pii_labels else None
        self.jailbreak = SequenceScorer(config.hidden_size) if getattr(config, "sirp_jailbreak", False) else None
        self.post_init()

    def category_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """Category logits from unit-norm embeddings (student's or a teacher's)."""
        logits: torch.Tensor = self.category(embedding) * self.category_scale
        return logits

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> RoutingOutput:
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=self.pii is not None)
        hidden = out.last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        pooled = self.drop(pooled)
        embedding = nn.functional.normalize(self.embed_proj(pooled), dim=-1)
        pii = None
        if self.pii is not None:
            states = [hidden if i == -1 else out.hidden_states[i] for i in TAGGER_LAYERS]
            pii = self.pii(torch.cat(states, dim=-1), mask)
        return RoutingOutput(
            category_logits=self.category_head(embedding),
            success_logits=self.success(pooled),
            embedding=embedding,
            pii_logits=pii,
            jailbreak_logits=self.jailbreak(hidden, mask) if self.jailbreak is not None else None,
        )
