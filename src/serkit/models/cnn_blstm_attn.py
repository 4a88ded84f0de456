"""CNN + BLSTM + multi-head self-attention pooling, with an auxiliary gender head.

Paper: Yuanchao Li, Tianyu Zhao, Tatsuya Kawahara, "Improved End-to-End Speech Emotion
Recognition Using Self Attention Mechanism and Multitask Learning", Interspeech 2019
(pp. 2803-2807, doi:10.21437/Interspeech.2019-2594).

Implemented (paper Sections 2-3): spectrogram frames -> 2-D CNN (convolution + pooling) ->
BLSTM -> multi-head self-attention pooling over time in the form of Lin et al. 2017
(``A = softmax(W_s2 tanh(W_s1 H^T))``, one row per head, heads concatenated) -> emotion head and
gender head on the same pooled vector. Training minimises ``L = L_emotion + beta * L_gender``;
``beta`` is ``train.loss_weights.gender`` of the recipe (the loss lives in
:mod:`serkit.train.losses`). ``gender_head: false`` gives the single-task ablation.

Deviations from the paper, and why:
- Input: the recipe chooses the front-end. The shipped recipes (configs/li2019/) use a 40-band
  log-Mel spectrogram with 40 ms windows and a 20 ms hop, cropped to the first 3 s (EmoDB) or
  3.5 s (RAVDESS), standardised per speaker, instead of the paper's linear-frequency
  spectrogram at a 10 ms hop. That is ~10x fewer input values per second, which is what makes
  ten-fold CPU training on a shared machine possible at all.
- Sizes: the recipes use 2 conv blocks of 8/16 channels, one BLSTM layer of 32 units per
  direction and 4 attention heads (~55k parameters), far smaller than the paper's, and train
  20 epochs; corpora of a few hundred utterances (EmoDB, RAVDESS) instead of IEMOCAP.
- No attention-diversity penalty ``||A A^T - I||_F^2`` (Lin et al.); the paper does not use it.
- The conv blocks are "same"-padded with batch normalisation and length-aware masking, so
  padded batches give the same outputs as single utterances (the paper does not discuss padding).
- Evaluated on EmoDB / RAVDESS with speaker-independent folds, not on IEMOCAP sessions.

Examples:
    >>> import torch
    >>> m = build_cnn_blstm_attn(tiny_config(), input_dim=20, num_classes=4).eval()
    >>> out = m(torch.randn(2, 40, 20), torch.tensor([40, 25]))
    >>> out.logits.shape, out.aux["gender"].shape, out.attn.shape
    (torch.Size([2, 4]), torch.Size([2, 2]), torch.Size([2, 2, 10]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from serkit.errors import ConfigError
from serkit.models.base import ModelOutput
from serkit.models.layers import (
    AttentivePooling,
    CnnStack2d,
    PackedLSTM,
    check_conv_stack_config,
    check_inputs,
)


@dataclass(frozen=True)
class CnnBlstmAttnConfig:
    """Li et al. 2019 model settings.

    Attributes:
        name: registry name.
        channels: output channels of each conv block.
        kernel_size: odd conv kernel (time and frequency).
        pool_time: time pooling of each block (the BLSTM runs at 10 ms x the product).
        pool_freq: frequency pooling of each block.
        activation: conv activation.
        lstm_hidden: BLSTM units per direction.
        lstm_layers: BLSTM layers.
        attn_heads: self-attention heads (hops).
        attn_hidden: size of the attention's tanh layer (``d_a``).
        dropout: dropout in the conv blocks and before the heads.
        gender_head: add the auxiliary gender classifier (multitask learning).
    """

    name: str = "cnn_blstm_attn"
    channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 3
    pool_time: tuple[int, ...] = (2, 2)
    pool_freq: tuple[int, ...] = (2, 2)
    activation: str = "relu"
    lstm_hidden: int = 64
    lstm_layers: int = 1
    attn_heads: int = 4
    attn_hidden: int = 64
    dropout: float = 0.3
    gender_head: bool = True


def tiny_config() -> CnnBlstmAttnConfig:
    """A tiny configuration for tests (hidden 16, 2 blocks)."""
    return CnnBlstmAttnConfig(channels=(4, 8), lstm_hidden=16, attn_heads=2, attn_hidden=16, dropout=0.0)


def _validate(cfg: CnnBlstmAttnConfig) -> None:
    check_conv_stack_config(cfg, example="[16, 32]")
    for k in ("lstm_hidden", "lstm_layers", "attn_heads", "attn_hidden"):
        if getattr(cfg, k) < 1:
            raise ConfigError(f"model.{k} must be >= 1, got {getattr(cfg, k)}")
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {cfg.dropout}")


class CnnBlstmAttention(nn.Module):
    """Li et al. 2019: CNN -> BLSTM -> multi-head attentive pooling -> emotion (+ gender) heads.

    ``forward(x (B, T, F), lengths (B,))`` returns logits ``(B, C)``, ``aux["gender"] (B, 2)``
    when ``gender_head``, ``embedding (B, H*2U)`` (the pooled vector) and ``attn (B, H, T')``
    (pooling weights per BLSTM frame; frame ``t'`` covers input frames
    ``[t' * prod(pool_time), (t'+1) * prod(pool_time))``).
    """

    def __init__(self, cfg: CnnBlstmAttnConfig, *, input_dim: int, num_classes: int) -> None:
        super().__init__()
        _validate(cfg)
        self.cfg = cfg
        self.input_dim = input_dim
        self.cnn = CnnStack2d(input_dim, cfg.channels, kernel_size=cfg.kernel_size, pool_time=cfg.pool_time,
                              pool_freq=cfg.pool_freq, activation=cfg.activation, dropout=cfg.dropout)
        self.blstm = PackedLSTM(self.cnn.out_dim, cfg.lstm_hidden, num_layers=cfg.lstm_layers,
                                bidirectional=True, dropout=cfg.dropout)
        self.pool = AttentivePooling(self.blstm.out_dim, num_heads=cfg.attn_heads, hidden_dim=cfg.attn_hidden)
        self.drop = nn.Dropout(cfg.dropout)
        self.emotion = nn.Linear(self.pool.out_dim, num_classes)
        self.gender = nn.Linear(self.pool.out_dim, 2) if cfg.gender_head else None
        self.frame_rate_factor = self.cnn.min_frames

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, **inputs) -> ModelOutput:
        """Classify a padded batch of feature frames (see the class docstring)."""
        check_inputs(x, lengths, input_dim=self.input_dim, model="cnn_blstm_attn")
        h, h_lengths = self.cnn(x, lengths)  # (B, T', C*F')
        h, _ = self.blstm(h, h_lengths)  # (B, T', 2U)
        z, w = self.pool(h, h_lengths)  # (B, H*2U), (B, H, T')
        zd = self.drop(z)
        aux = {"gender": self.gender(zd)} if self.gender is not None else {}
        return ModelOutput(logits=self.emotion(zd), aux=aux, embedding=z, embeddings={"pooled": z}, attn=w)


def build_cnn_blstm_attn(cfg: CnnBlstmAttnConfig, *, input_dim: int, num_classes: int,
                         vocab_size: int | None = None) -> CnnBlstmAttention:
    """Build the Li et al. 2019 model (``vocab_size`` is unused: no CTC head).

    Raises:
        ConfigError: invalid sizes.
    """
    return CnnBlstmAttention(cfg, input_dim=input_dim, num_classes=num_classes)


__all__ = ["CnnBlstmAttention", "CnnBlstmAttnConfig", "build_cnn_blstm_attn", "tiny_config"]
