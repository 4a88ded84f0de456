"""CompactCnn: a small strided 1-D CNN over log-Mel frames with statistics pooling.

serkit's bundled default model. It follows the x-vector recipe of a frame-level time-delay
(1-D convolutional) network followed by mean + standard-deviation pooling and an utterance-level
classifier: D. Snyder et al., "X-Vectors: Robust DNN Embeddings for Speaker Recognition",
ICASSP 2018 (sections 2.1-2.2: TDNN frame layers, statistics pooling, segment-level layers).

Deviations, and why:
- Strided convolutions (each block halves the frame rate) instead of dilated, full-rate TDNN
  layers, and far fewer channels: the model must run at >= 200x real time on two CPU cores
  (issue 4), so frame-level compute is cut by 8x.
- Input normalisation (``input_norm``) is one code path, :meth:`CompactCnn.normalise`: training-set
  mean/std buffers (``global``, set by :meth:`CompactCnn.set_input_stats`; today's shipped
  model), each utterance's own per-bin mean and std (``utterance``: no dependence on the level or
  channel of the training corpora, and a VAD segment is normalised by itself, so streams work),
  or its mean only (``utterance_mean``). A speaker's statistics can replace either
  (``norm_stats``, speaker adaptation at prediction time), and so can the pooled statistics or
  the segment-level embedding (:meth:`CompactCnn.represent` / :meth:`CompactCnn.from_representation`,
  speaker adaptation of an intermediate representation, :mod:`serkit.adapt`).
- Emotion classes instead of speakers; an optional A/V/D regression head (``avd=True``).

Examples:
    >>> import torch
    >>> m = build_compact_cnn(tiny_config(), input_dim=40, num_classes=4)
    >>> out = m(torch.randn(2, 50, 40), torch.tensor([50, 30]))
    >>> tuple(out.logits.shape), tuple(out.embedding.shape)
    ((2, 4), (2, 32))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn

from serkit.features.functional import lengths_to_mask
from serkit.models.base import ModelOutput
from serkit.models.layers import masked_mean_std

#: model.input_norm values
INPUT_NORMS = ("global", "utterance", "utterance_mean")
#: representations speaker adaptation can map (see :meth:`CompactCnn.represent`)
ADAPT_LEVELS = ("pooled", "embedding")


@dataclass(frozen=True)
class CompactCnnConfig:
    """CompactCnn settings.

    Attributes:
        name: ``compact_cnn``.
        channels: output channels of each strided conv block (one block per entry).
        kernel_size: temporal kernel of every block, in frames.
        stride: temporal stride of every block.
        hidden_dim: size of the segment-level layer after pooling (the embedding).
        dropout: dropout before the classifier.
        avd: add an arousal/valence/dominance regression head.
        input_norm: how the log-Mel input is normalised before the first conv (see
            :meth:`CompactCnn.normalise`): ``global`` (training-set mean/std per bin),
            ``utterance`` (after the global standardisation, each utterance's own per-bin mean and
            std over its valid frames), ``utterance_mean`` (its mean only: CMN).
        utterance_cmn: older spelling of ``input_norm: utterance_mean`` (kept so older
            checkpoints load).
    """

    name: str = "compact_cnn"
    channels: tuple[int, ...] = (128, 128, 128)
    kernel_size: int = 5
    stride: int = 2
    hidden_dim: int = 128
    dropout: float = 0.3
    avd: bool = False
    input_norm: str = "global"
    utterance_cmn: bool = False

    def __post_init__(self) -> None:
        if self.input_norm not in INPUT_NORMS:
            raise ValueError(f"model.input_norm must be one of {list(INPUT_NORMS)}, got {self.input_norm!r}")

    @property
    def norm_mode(self) -> str:
        """The effective input normalisation (``utterance_cmn: true`` means ``utterance_mean``)."""
        return "utterance_mean" if self.utterance_cmn and self.input_norm == "global" else self.input_norm


def tiny_config() -> CompactCnnConfig:
    """Hidden 16, 2 blocks: for tests."""
    return CompactCnnConfig(channels=(16, 16), hidden_dim=32, dropout=0.0)


def _out_lengths(lengths: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    pad = kernel // 2
    return torch.div(lengths + 2 * pad - kernel, stride, rounding_mode="floor") + 1


class CompactCnn(nn.Module):
    """Strided 1-D conv blocks (Conv-BN-ReLU), masked mean+std pooling, MLP head.

    Args:
        cfg: config.
        input_dim: feature bins F of the input ``(B, T, F)``.
        num_classes: emotion classes C.
    """

    in_mean: torch.Tensor  # (F,) buffers, see set_input_stats
    in_std: torch.Tensor
    #: representations :meth:`represent` gives (speaker adaptation, :mod:`serkit.adapt`)
    adapt_levels: tuple[str, ...] = ADAPT_LEVELS

    def __init__(self, cfg: CompactCnnConfig, *, input_dim: int, num_classes: int) -> None:
        super().__init__()
        if not cfg.channels:
            raise ValueError("compact_cnn needs at least one conv block; set model.channels, e.g. [128, 128]")
        self.cfg = cfg
        self.register_buffer("in_mean", torch.zeros(input_dim))
        self.register_buffer("in_std", torch.ones(input_dim))
        blocks = []
        c_in = input_dim
        for c in cfg.channels:
            blocks.append(nn.ModuleDict({
                "conv": nn.Conv1d(c_in, c, cfg.kernel_size, stride=cfg.stride, padding=cfg.kernel_size // 2),
                "bn": nn.BatchNorm1d(c),
            }))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.segment = nn.Sequential(nn.Linear(2 * c_in, cfg.hidden_dim), nn.ReLU(), nn.Dropout(cfg.dropout))
        self.classifier = nn.Linear(cfg.hidden_dim, num_classes)
        self.avd_head = nn.Linear(cfg.hidden_dim, 3) if cfg.avd else None

    @torch.no_grad()
    def set_input_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Store the training set's per-bin feature mean and std ``(F,)`` (saved in the state dict)."""
        self.in_mean.copy_(mean)
        self.in_std.copy_(std.clamp(min=1e-3))

    def normalise(self, x: torch.Tensor, lengths: torch.Tensor,
                  norm_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The model's input normalisation (the one code path for every mode).

        Args:
            x: ``(B, T, F)`` raw log-Mel frames.
            lengths: ``(B,)`` valid frames.
            norm_stats: optional ``(mean (B, F), std (B, F))`` of the raw features over a
                speaker's speech (speaker adaptation). They replace the statistics the mode
                would use: the training-set ones under ``global``, the utterance's own under
                ``utterance`` / ``utterance_mean``. Under those two, a row of NaN keeps the
                utterance's own statistics (training with ``train.speaker_norm`` mixes both).

        Returns:
            ``(B, T, F)`` normalised frames (padding frames are not zeroed).
        """
        mode = self.cfg.norm_mode
        if norm_stats is not None and mode == "global":
            mean, std = norm_stats
            return (x - mean.unsqueeze(1)) / std.clamp(min=1e-3).unsqueeze(1)
        h = (x - self.in_mean) / self.in_std  # (B, T, F)
        if mode == "global":
            return h
        m, s = masked_mean_std(h, lengths).chunk(2, dim=-1)  # (B, F) each: the utterance's own
        if norm_stats is not None:
            given = ~torch.isnan(norm_stats[0][:, :1])  # (B, 1): rows of NaN keep their own statistics
            m = torch.where(given, (norm_stats[0] - self.in_mean) / self.in_std, m)  # standardised domain
            s = torch.where(given, norm_stats[1].clamp(min=1e-3) / self.in_std, s)
        if mode == "utterance_mean":
            return h - m.unsqueeze(1)
        return (h - m.unsqueeze(1)) / s.clamp(min=1e-2).unsqueeze(1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, *,
                norm_stats: tuple[torch.Tensor, torch.Tensor] | None = None, **inputs) -> ModelOutput:
        """Classify padded feature sequences.

        Args:
            x: ``(B, T, F)`` log-Mel frames.
            lengths: ``(B,)`` int64 valid frames per row.
            norm_stats: optional speaker statistics ``(mean (B, F), std (B, F))`` of the raw
                features (see :meth:`normalise`).

        Returns:
            ModelOutput with ``logits (B, C)``, ``embedding (B, hidden_dim)``, ``avd (B, 3)`` if enabled.
        """
        return self.from_representation(self.represent(x, lengths, "pooled", norm_stats=norm_stats), "pooled")

    def represent(self, x: torch.Tensor, lengths: torch.Tensor, level: str, *,
                  norm_stats: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """The utterance-level representation at ``level`` (speaker adaptation maps it per speaker).

        Args:
            x: ``(B, T, F)`` log-Mel frames.
            lengths: ``(B,)`` valid frames.
            level: ``pooled`` (the ``(B, 2C)`` mean + std statistics pooling output) or
                ``embedding`` (the ``(B, hidden_dim)`` segment-level layer the classifier reads).
            norm_stats: see :meth:`normalise`.

        Returns:
            ``(B, D)`` float tensor.
        """
        if level not in ADAPT_LEVELS:
            raise ValueError(f"level must be one of {list(ADAPT_LEVELS)}, got {level!r}")
        if x.dim() != 3:
            raise ValueError(f"compact_cnn expects features (B, T, F), got shape {tuple(x.shape)}")
        h = self.normalise(x, lengths, norm_stats).transpose(1, 2)  # (B, F, T)
        n = lengths
        for b in cast("Iterable[nn.ModuleDict]", self.blocks):
            # Zero the padding before every conv so a padded batch equals per-utterance runs.
            h = h * (~lengths_to_mask(n, h.shape[-1])).unsqueeze(1).to(h)  # (B, C, T)
            h = torch.relu(b["bn"](b["conv"](h)))  # (B, C, T')
            n = _out_lengths(n, self.cfg.kernel_size, self.cfg.stride).clamp(min=1)
        stats = masked_mean_std(h.transpose(1, 2), n)  # (B, 2C)
        return stats if level == "pooled" else self.segment(stats)

    def from_representation(self, h: torch.Tensor, level: str) -> ModelOutput:
        """The outputs from a representation of :meth:`represent` (possibly mapped per speaker)."""
        emb = self.segment(h) if level == "pooled" else h  # (B, D)
        return ModelOutput(logits=self.classifier(emb), embedding=emb,
                           avd=self.avd_head(emb) if self.avd_head is not None else None)

def build_compact_cnn(cfg: CompactCnnConfig, *, input_dim: int, num_classes: int,
                      vocab_size: int | None = None) -> CompactCnn:
    """Build a :class:`CompactCnn` (``vocab_size`` is unused: no CTC head)."""
    return CompactCnn(cfg, input_dim=input_dim, num_classes=num_classes)
