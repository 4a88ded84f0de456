"""CNN-pooling blocks + BiLSTM + aggregation + stacked transformer layers on the utterance vector.

Paper: Xianfeng Wang, Min Wang, Wenbo Qi, Wanqi Su, Xiangqian Wang, Huan Zhou, "A Novel
End-to-End Speech Emotion Recognition Network with Stacked Transformer Layers", ICASSP 2021
(pp. 6289-6293, doi:10.1109/ICASSP39728.2021.9414314).

Implemented (paper Section 2): frame-level features (openSMILE LLDs or log-Mel) -> 6 CNN-pooling
blocks (Conv2d, BatchNorm, ELU, average pooling, dropout) -> BiLSTM -> aggregation over time
("attention": attentive pooling; "recurrence": the BiLSTM's final states) -> a 1-D convolution
that turns the aggregated vector into the utterance representation ``Z0`` -> ``L`` stacked
transformer encoder layers without positional encoding -> classifier on ``Z_L``.
``num_transformer_layers`` is configurable, 0 included (the paper's ablation; it found 5 best).

How ``Z0`` is formed (our reading of the paper): the aggregated vector ``u (B, D)`` is treated as
a one-channel 1-D signal; ``Conv1d(1, N, kernel k, stride s)`` gives ``N`` channels of length
``D'``, and ``Z0`` is that ``(B, N, D')`` map, i.e. ``N`` tokens of size ``D'``. The tokens are
channels, which have no order, which is why the transformer needs no positional encoding. The
classifier reads the flattened ``Z_L (B, N*D')``.

Deviations from the paper, and why:
- Sizes: the recipes (configs/wang2021/) use 6 blocks of 4-16 channels, a BiLSTM of 32 units
  per direction, 2-head attention aggregation, ``N = 8`` tokens of ``D' = 16``, 2 heads and a
  32-unit feed-forward layer per transformer layer (~40k parameters with L = 5), trained 20
  epochs: much smaller than the paper's, for CPU training on EmoDB / RAVDESS instead of IEMOCAP.
- Pooling: time is pooled only in the first two blocks (``pool_time``) so that 3-second
  utterances keep enough frames for the BiLSTM; frequency is pooled in the first four.
- Features: the recipes use 40-band log-Mel (40 ms windows, 20 ms hop, first 3 s / 3.5 s,
  standardised per speaker), cached and cheap; ``features.name: compare_lld`` /
  ``egemaps_lld`` gives the paper's openSMILE LLD input.
- Padding: "same" convolutions with length-aware masking and packed BiLSTM, so padded batches
  equal single-utterance runs (not discussed in the paper).

Examples:
    >>> import torch
    >>> m = build_cnn_bilstm_tf(tiny_config(), input_dim=32, num_classes=4).eval()
    >>> out = m(torch.randn(2, 40, 32), torch.tensor([40, 25]))
    >>> out.logits.shape, out.embeddings["before_transformer"].shape
    (torch.Size([2, 4]), torch.Size([2, 32]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from serkit.errors import ConfigError, UnknownKeyError
from serkit.models.base import ModelOutput
from serkit.models.layers import (
    AttentivePooling,
    CnnStack2d,
    PackedLSTM,
    check_conv_stack_config,
    check_inputs,
)

AGGREGATIONS = ("attention", "recurrence")


@dataclass(frozen=True)
class CnnBilstmTfConfig:
    """Wang et al. 2021 model settings.

    Attributes:
        name: registry name.
        channels: output channels of each CNN-pooling block (the paper has 6 blocks).
        kernel_size: odd conv kernel.
        pool_time: time pooling per block.
        pool_freq: frequency pooling per block.
        activation: conv activation (ELU in the paper).
        lstm_hidden: BiLSTM units per direction.
        aggregation: ``attention`` (attentive pooling) or ``recurrence`` (final BiLSTM states).
        attn_heads: heads of the attention aggregation.
        num_tokens: N, output channels of the 1-D convolution (tokens of ``Z0``).
        token_dim: D', length of each token (the 1-D convolution's stride and kernel follow).
        num_transformer_layers: L stacked transformer layers (0 = none).
        transformer_heads: attention heads per transformer layer (must divide token_dim).
        transformer_ff: feed-forward size of each transformer layer.
        dropout: dropout in CNN blocks, transformer and before the classifier.
    """

    name: str = "cnn_bilstm_tf"
    channels: tuple[int, ...] = (8, 16, 16, 32, 32, 32)
    kernel_size: int = 3
    pool_time: tuple[int, ...] = (2, 2, 1, 1, 1, 1)
    pool_freq: tuple[int, ...] = (2, 2, 2, 2, 1, 1)
    activation: str = "elu"
    lstm_hidden: int = 64
    aggregation: str = "attention"
    attn_heads: int = 1
    num_tokens: int = 8
    token_dim: int = 32
    num_transformer_layers: int = 5
    transformer_heads: int = 4
    transformer_ff: int = 64
    dropout: float = 0.2


def tiny_config() -> CnnBilstmTfConfig:
    """A tiny configuration for tests (hidden 16, 2 transformer layers)."""
    return CnnBilstmTfConfig(channels=(4, 4, 8, 8, 8, 8), pool_time=(2, 1, 1, 1, 1, 1),
                             pool_freq=(2, 2, 1, 1, 1, 1), lstm_hidden=16, num_tokens=4, token_dim=8,
                             num_transformer_layers=2, transformer_heads=2, transformer_ff=16, dropout=0.0)


def _validate(cfg: CnnBilstmTfConfig) -> None:
    if cfg.aggregation not in AGGREGATIONS:
        raise UnknownKeyError("model.aggregation", cfg.aggregation, AGGREGATIONS)
    check_conv_stack_config(cfg, example="[8, 16, 16, 32, 32, 32]")
    if cfg.num_transformer_layers < 0:
        raise ConfigError(f"model.num_transformer_layers must be >= 0, got {cfg.num_transformer_layers}")
    for k in ("lstm_hidden", "attn_heads", "num_tokens", "token_dim", "transformer_heads", "transformer_ff"):
        if getattr(cfg, k) < 1:
            raise ConfigError(f"model.{k} must be >= 1, got {getattr(cfg, k)}")
    if cfg.token_dim % cfg.transformer_heads:
        raise ConfigError(f"model.transformer_heads ({cfg.transformer_heads}) must divide model.token_dim "
                          f"({cfg.token_dim}); e.g. set model.transformer_heads=4 with token_dim 32")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {cfg.dropout}")


class CnnBilstmTransformer(nn.Module):
    """Wang et al. 2021 network (see the module docstring).

    ``forward(x (B, T, F), lengths (B,))`` returns ``logits (B, C)``, ``embedding`` = flattened
    ``Z_L (B, N*D')``, ``embeddings {"before_transformer": Z0, "after_transformer": Z_L}`` (both
    flattened ``(B, N*D')``) and, for attention aggregation, ``attn (B, heads, T')``.
    """

    def __init__(self, cfg: CnnBilstmTfConfig, *, input_dim: int, num_classes: int) -> None:
        super().__init__()
        _validate(cfg)
        self.cfg = cfg
        self.input_dim = input_dim
        self.cnn = CnnStack2d(input_dim, cfg.channels, kernel_size=cfg.kernel_size, pool_time=cfg.pool_time,
                              pool_freq=cfg.pool_freq, pool_type="avg", activation=cfg.activation,
                              dropout=cfg.dropout)
        self.bilstm = PackedLSTM(self.cnn.out_dim, cfg.lstm_hidden, bidirectional=True)
        self.attend: AttentivePooling | None
        if cfg.aggregation == "attention":
            self.attend = AttentivePooling(self.bilstm.out_dim, num_heads=cfg.attn_heads)
            agg_dim = self.attend.out_dim
        else:
            self.attend = None
            agg_dim = self.bilstm.out_dim
        # Conv1d(1 -> N) with stride s and kernel k maps the D-long vector to N x D' with
        # D' = floor((D - k) / s) + 1; choose s = D // D' and k = D - s (D' - 1) to hit D' exactly.
        if agg_dim < cfg.token_dim:
            raise ConfigError(f"model.token_dim ({cfg.token_dim}) must not exceed the aggregated size {agg_dim}; "
                              "lower token_dim or raise lstm_hidden / attn_heads")
        stride = agg_dim // cfg.token_dim
        kernel = agg_dim - stride * (cfg.token_dim - 1)
        self.to_tokens = nn.Conv1d(1, cfg.num_tokens, kernel_size=kernel, stride=stride)
        layer = nn.TransformerEncoderLayer(cfg.token_dim, cfg.transformer_heads, dim_feedforward=cfg.transformer_ff,
                                           dropout=cfg.dropout, batch_first=True, norm_first=False)
        self.transformer = (nn.TransformerEncoder(layer, cfg.num_transformer_layers, enable_nested_tensor=False)
                            if cfg.num_transformer_layers > 0 else None)
        self.drop = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(cfg.num_tokens * cfg.token_dim, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, **inputs) -> ModelOutput:
        """Classify a padded batch of feature frames (see the class docstring)."""
        check_inputs(x, lengths, input_dim=self.input_dim, model="cnn_bilstm_tf")
        h, h_lengths = self.cnn(x, lengths)  # (B, T', C*F')
        h, h_last = self.bilstm(h, h_lengths)  # (B, T', 2U), (B, 2U)
        w = None
        if self.attend is not None:
            u, w = self.attend(h, h_lengths)  # (B, heads*2U), (B, heads, T')
        else:
            u = h_last  # (B, 2U): forward state at the last valid frame, backward state at the first
        z0 = self.to_tokens(u.unsqueeze(1))  # (B, N, D')
        z = self.transformer(z0) if self.transformer is not None else z0  # (B, N, D'), no positional encoding
        before, after = z0.flatten(1), z.flatten(1)  # (B, N*D')
        logits = self.classifier(self.drop(after))
        return ModelOutput(logits=logits, embedding=after,
                           embeddings={"before_transformer": before, "after_transformer": after}, attn=w)


def build_cnn_bilstm_tf(cfg: CnnBilstmTfConfig, *, input_dim: int, num_classes: int,
                        vocab_size: int | None = None) -> CnnBilstmTransformer:
    """Build the Wang et al. 2021 model (``vocab_size`` is unused).

    Raises:
        ConfigError: invalid sizes.
        UnknownKeyError: unknown aggregation.
    """
    return CnnBilstmTransformer(cfg, input_dim=input_dim, num_classes=num_classes)


__all__ = ["AGGREGATIONS", "CnnBilstmTfConfig", "CnnBilstmTransformer", "build_cnn_bilstm_tf", "tiny_config"]
