"""CPC features -> self-attention -> mean/std pooling -> 2 x FC -> emotion and/or A/V/D heads.

Li et al., "Contrastive Unsupervised Learning for Speech Emotion Recognition", ICASSP 2021
(arXiv:2102.06357), Section 2.2 (recogniser) and 2.3 (CCC loss, computed in
:func:`serkit.train.losses.ccc_loss`): frame features (the CPC context ``c_t``) are projected to
512 dimensions and pass one 8-head self-attention layer; mean and standard deviation over time
are concatenated and fed to two fully connected layers of 128 units with ReLU and dropout 0.2;
the outputs are the emotion logits and/or arousal, valence and dominance.

Input is either

- ``(B, T, F)`` frozen features (``features.name: cpc``, or ``mfcc`` with 40 coefficients for the
  paper's supervised baseline), or
- ``(B, S)`` raw waves (``features.name: raw``) when ``encoder`` names a CPC checkpoint: the CPC
  encoder and GRU are then embedded and trained end to end with the recogniser
  (``freeze_encoder: true`` keeps them fixed).

Deviations: the paper does not say whether the attention layer has a residual connection or a
layer norm; we use one residual + LayerNorm (a standard transformer sub-layer), which trains
more stably on small corpora. ``frame_stride`` (default 1 = paper) optionally averages frames
before the attention to save CPU time; serkit's EmoDB recipes use 4 (40 ms) and say so (stride 1
measured on EmoDB: no UA gain at 5-6x the time, docs/results.md). Padded frames are masked in the
attention and in the pooling.
``input_norm`` (default off = paper) batch-normalises the input features: end-to-end training on
raw waves cannot standardise CPC features per speaker as the frozen recipes do, and without any
normalisation the recogniser stayed at chance on EmoDB (docs/results.md), so the end-to-end recipe
turns it on.
The paper feeds CPC alone; ``configs/li2021/emodb_cpc_lld.yaml`` appends openSMILE ComParE LLDs
(``features.append``) to the CPC frames, a deviation that adds the prosodic and voice-quality cues
the classical baselines live on (its own row in docs/results.md; the paper row stays CPC alone).
The builder reads the CPC checkpoint named in ``encoder`` (only to initialise the embedded
encoder; a saved recogniser's state dict then overrides those weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from serkit.errors import ConfigError
from serkit.features.functional import lengths_to_mask
from serkit.models.base import ModelOutput
from serkit.models.layers import masked_mean_std

if TYPE_CHECKING:
    from serkit.features.cpc import CpcModel

TASKS = ("emotion", "avd")


@dataclass(frozen=True)
class CpcCccConfig:
    """Recogniser settings (paper values as defaults).

    Attributes:
        name: ``"cpc_ccc"``.
        d_model: attention dimension (paper: 512).
        heads: attention heads (paper: 8).
        fc_dim: units of the two fully connected layers (paper: 128).
        dropout: dropout after each FC layer (paper: 0.2).
        tasks: heads to build: ``emotion`` (categorical) and/or ``avd`` (arousal, valence, dominance).
        encoder: CPC checkpoint for end-to-end training on raw waves; None = frozen input features.
        freeze_encoder: keep the embedded CPC encoder fixed.
        layer: CPC representation for the embedded encoder: None/1 = GRU context, 0 = encoder z.
        frame_stride: average this many consecutive frames before the attention (1 = the paper's
            10 ms frames; 4 = 40 ms, about 4x cheaper, used by the CPU recipes).
        input_norm: batch-normalise each input dimension before the projection (learned running
            statistics). Frozen recipes standardise features per speaker instead
            (``features.speaker_norm``); end-to-end training on raw waves cannot, and without
            either the recogniser barely moves from chance in a few epochs (docs/results.md).
    """

    name: str = "cpc_ccc"
    d_model: int = 512
    heads: int = 8
    fc_dim: int = 128
    dropout: float = 0.2
    tasks: tuple[str, ...] = ("emotion",)
    encoder: str | None = None
    freeze_encoder: bool = False
    layer: int | None = None
    frame_stride: int = 1
    input_norm: bool = False


def tiny_config() -> CpcCccConfig:
    """Small recogniser for tests (d_model 16, 2 heads, FC 16)."""
    return CpcCccConfig(d_model=16, heads=2, fc_dim=16, dropout=0.0, tasks=("emotion", "avd"))


def masked_average_frames(x: torch.Tensor, lengths: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Average non-overlapping windows of ``stride`` valid frames: ``(B, T, F) -> (B, ceil(T/stride), F)``.

    Padded frames never enter a window's mean, so a padded batch matches per-utterance runs.
    """
    if stride == 1:
        return x, lengths
    B, T, F = x.shape
    valid = (~lengths_to_mask(lengths, T)).to(x.dtype)[..., None]  # (B, T, 1)
    pad = (-T) % stride
    xs = torch.nn.functional.pad(x * valid, (0, 0, 0, pad)).view(B, -1, stride, F).sum(2)  # (B, T', F)
    n = torch.nn.functional.pad(valid, (0, 0, 0, pad)).view(B, -1, stride, 1).sum(2)  # (B, T', 1)
    return xs / n.clamp(min=1), torch.div(lengths + stride - 1, stride, rounding_mode="floor")


class CpcCcc(nn.Module):
    """The recogniser of Li et al. (2021).

    Args:
        cfg: settings.
        input_dim: ``F`` of frozen input features (ignored with an embedded encoder).
        num_classes: emotion classes (0 = no emotion head).
        encoder: embedded CPC model for raw-wave input, or None.
    """

    encoder: CpcModel | None

    def __init__(self, cfg: CpcCccConfig, *, input_dim: int, num_classes: int, encoder: CpcModel | None = None) -> None:
        super().__init__()
        bad = [t for t in cfg.tasks if t not in TASKS]
        if bad or not cfg.tasks:
            raise ConfigError(f"model.tasks must be a non-empty subset of {list(TASKS)}, got {list(cfg.tasks)}")
        if cfg.frame_stride < 1:
            raise ConfigError(f"model.frame_stride must be >= 1, got {cfg.frame_stride}")
        if cfg.d_model % cfg.heads:
            raise ConfigError(f"model.d_model ({cfg.d_model}) must be divisible by model.heads ({cfg.heads})")
        self.cfg = cfg
        self.encoder = encoder
        if encoder is not None:
            input_dim = encoder.output_dim(cfg.layer)
            if cfg.freeze_encoder:
                for p in encoder.parameters():
                    p.requires_grad_(False)
            # the predictors W_k only serve the pretraining loss
            for p in encoder.predictors.parameters():
                p.requires_grad_(False)
        if input_dim < 1:
            raise ConfigError(f"cpc_ccc needs input features of dimension >= 1, got {input_dim}")
        self.input_norm = nn.BatchNorm1d(input_dim) if cfg.input_norm else None
        self.proj = nn.Linear(input_dim, cfg.d_model)
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.heads, batch_first=True)
        self.norm = nn.LayerNorm(cfg.d_model)
        self.fc = nn.Sequential(nn.Linear(2 * cfg.d_model, cfg.fc_dim), nn.ReLU(), nn.Dropout(cfg.dropout),
                                nn.Linear(cfg.fc_dim, cfg.fc_dim), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.emotion = nn.Linear(cfg.fc_dim, num_classes) if "emotion" in cfg.tasks and num_classes > 0 else None
        self.avd = nn.Linear(cfg.fc_dim, 3) if "avd" in cfg.tasks else None
        if self.emotion is None and self.avd is None:
            raise ConfigError("cpc_ccc has no output head: tasks=['emotion'] needs num_classes > 0; "
                              "add 'avd' to model.tasks for dimensional labels")

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, **inputs) -> ModelOutput:
        """Predict.

        Args:
            x: ``(B, T, F)`` features, or ``(B, S)`` waves with an embedded encoder.
            lengths: ``(B,)`` int64 valid frames (or samples for waves).

        Returns:
            ModelOutput with ``logits (B, C)`` and/or ``avd (B, 3)``, ``embedding (B, fc_dim)``
            and ``attn (B, T, T)`` (head-averaged attention weights).
        """
        if self.encoder is not None:
            if x.dim() != 2:
                raise ValueError(f"cpc_ccc with an embedded encoder expects waves (B, S), got {tuple(x.shape)}; "
                                 "use features.name=raw")
            if self.cfg.freeze_encoder:
                self.encoder.eval()
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.cfg.freeze_encoder):
                x, lengths = self.encoder.representation(x, lengths, layer=self.cfg.layer)  # (B, T, F)
        elif x.dim() != 3:
            raise ValueError(f"cpc_ccc expects features (B, T, F), got {tuple(x.shape)}; for raw waves set "
                             "model.encoder to a CPC checkpoint")
        lengths = lengths.clamp(min=1, max=x.shape[1])
        x, lengths = masked_average_frames(x, lengths, self.cfg.frame_stride)  # (B, T', F)
        mask = lengths_to_mask(lengths, x.shape[1])  # (B, T)
        if self.input_norm is not None:
            # statistics over valid frames only, so padding never shifts them
            bn = self.input_norm
            valid = x[~mask]  # (N, F)
            if len(valid) > 1:
                normed = bn(valid)
            else:  # one frame has no batch variance: use the running statistics
                normed = nn.functional.batch_norm(valid, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                                  training=False, eps=bn.eps)
            x = x.masked_scatter((~mask)[..., None].expand_as(x), normed)  # (B, T, F)
        h = self.proj(x)  # (B, T, D)
        a, w = self.attn(h, h, h, key_padding_mask=mask, need_weights=True)
        h = self.norm(h + a)  # (B, T, D)
        e = self.fc(masked_mean_std(h, lengths))  # (B, fc_dim)
        return ModelOutput(logits=self.emotion(e) if self.emotion is not None else None,
                           avd=self.avd(e) if self.avd is not None else None, embedding=e, attn=w)


def build_cpc_ccc(cfg: CpcCccConfig, *, input_dim: int, num_classes: int, vocab_size: int | None = None) -> CpcCcc:
    """Build the recogniser; with ``cfg.encoder`` set, embed that CPC checkpoint for raw-wave input."""
    enc = None
    if cfg.encoder:
        from serkit.features.cpc import cpc_from_checkpoint, read_cpc_checkpoint

        enc = cpc_from_checkpoint(read_cpc_checkpoint(cfg.encoder))  # private, trainable copy
    return CpcCcc(cfg, input_dim=input_dim, num_classes=num_classes, encoder=enc)


__all__ = ["CpcCcc", "CpcCccConfig", "build_cpc_ccc", "masked_average_frames", "masked_mean_std", "tiny_config"]
