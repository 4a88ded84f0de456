"""A small reference model: frame features -> masked mean + std pooling -> MLP heads.

Not from a paper: the simplest neural baseline (a "statistics pooling" x-vector-style head on
frame features) used to test the training engine and as a sanity floor for the research
systems. Heads: emotion (when ``num_classes > 0``), optional gender and A/V/D.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from serkit.models.base import ModelOutput
from serkit.models.layers import masked_mean_std


@dataclass(frozen=True)
class PooledMlpConfig:
    """Attributes:
    name: ``pooled_mlp``.
    hidden_dim: width of the frame projection and the MLP.
    dropout: dropout before the heads.
    gender_head: add a gender classifier (``aux["gender"]``).
    avd_head: add an arousal/valence/dominance regressor (``avd``).
    """

    name: str = "pooled_mlp"
    hidden_dim: int = 128
    dropout: float = 0.2
    gender_head: bool = False
    avd_head: bool = False


class PooledMlp(nn.Module):
    """Frame projection, statistics pooling over valid frames, MLP.

    Args:
        cfg: config.
        input_dim: feature bins F.
        num_classes: emotions C (0 = no emotion head).
    """

    def __init__(self, cfg: PooledMlpConfig, *, input_dim: int, num_classes: int) -> None:
        super().__init__()
        h = cfg.hidden_dim
        self.proj = nn.Sequential(nn.Linear(input_dim, h), nn.ReLU())
        self.mlp = nn.Sequential(nn.Linear(2 * h, h), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.emotion = nn.Linear(h, num_classes) if num_classes > 0 else None
        self.gender = nn.Linear(h, 2) if cfg.gender_head else None
        self.avd = nn.Linear(h, 3) if cfg.avd_head else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, **_: object) -> ModelOutput:
        """x: ``(B, T, F)``; lengths: ``(B,)``."""
        if x.ndim != 3:
            raise ValueError(f"pooled_mlp expects (B, T, F) features, got shape {tuple(x.shape)}")
        if (lengths < 1).any():
            raise ValueError("every item needs at least one frame (lengths >= 1)")
        h = self.proj(x)  # (B, T, H)
        z = self.mlp(masked_mean_std(h, lengths))  # (B, 2H) -> (B, H)
        aux = {"gender": self.gender(z)} if self.gender is not None else {}
        return ModelOutput(logits=self.emotion(z) if self.emotion is not None else None,
                           avd=self.avd(z) if self.avd is not None else None, aux=aux, embedding=z)


def build_pooled_mlp(cfg: PooledMlpConfig, *, input_dim: int, num_classes: int,
                     vocab_size: int | None = None) -> PooledMlp:
    """Builder used by the registry."""
    return PooledMlp(cfg, input_dim=input_dim, num_classes=num_classes)


def tiny_config() -> PooledMlpConfig:
    """Hidden 16, for tests."""
    return PooledMlpConfig(hidden_dim=16, dropout=0.0, gender_head=True, avd_head=True)
