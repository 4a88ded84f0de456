"""The model contract every neural serkit model follows.

``forward(x, lengths, **inputs) -> ModelOutput``: ``x`` is ``(B, T, F)`` features or
``(B, S)`` waves, ``lengths (B,)`` int64 in the unit of ``x``'s time axis. Models take tensors,
never a Batch, and compute no losses (those live in :mod:`serkit.train.losses`).

A model file holds its ``@dataclass(frozen=True)`` config (with a ``name`` field), the
``nn.Module``, a builder ``build_<name>(cfg, *, input_dim, num_classes, vocab_size=None)`` and
``tiny_config()`` for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class ModelOutput:
    """What a model returns.

    Attributes:
        logits: ``(B, C)`` emotion logits, or None for dimension-only models.
        avd: ``(B, 3)`` arousal, valence, dominance predictions (standardised scale), or None.
        aux: auxiliary task outputs: ``"gender": (B, 2)`` logits, ``"ctc": ((B, T', V) logits,
            (B,) lengths)``; open to new tasks.
        embedding: ``(B, D)`` utterance embedding that feeds the classifier (t-SNE).
        embeddings: other named ``(B, D)`` embeddings, e.g. ``"before_transformer"``.
        attn: attention weights for plots, e.g. ``(B, H, T)`` pooling weights, or a dict.
    """

    logits: torch.Tensor | None = None
    avd: torch.Tensor | None = None
    aux: dict[str, Any] = field(default_factory=dict)
    embedding: torch.Tensor | None = None
    embeddings: dict[str, torch.Tensor] = field(default_factory=dict)
    attn: Any = None


def count_parameters(model: torch.nn.Module, *, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
