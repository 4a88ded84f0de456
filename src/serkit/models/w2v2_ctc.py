"""Multitask emotion recognition with an auxiliary character CTC head (Cai et al. 2021).

Paper: X. Cai, J. Yuan, R. Zheng, L. Huang, K. Church, "Speech Emotion Recognition with
Multi-Task Learning", Interspeech 2021 (doi:10.21437/Interspeech.2021-1852); authors' code:
github.com/TideDancer/interspeech21_emotion.

Implemented (paper section 2): waves -> wav2vec 2.0 encoder -> z ``(B, T, D)``;
z -> linear -> character logits for CTC (``aux["ctc"]``); z -> mean pooling over time -> linear
-> emotion logits. The loss ``L = L_CE + alpha L_CTC`` is composed in :mod:`serkit.train.losses`
(``train.ctc_weighting: ce_plus_alpha_ctc``, ``train.loss_weights.ctc = alpha``); the authors'
README describes the other order ``L_CTC + alpha L_CE`` (``ctc_plus_alpha_ce``), which is also
supported - each recipe says which it uses. At prediction the emotion is the argmax of the logits
and :func:`transcribe` greedily decodes the CTC head into a transcript.

Encoders (``encoder``):
  * ``pretrained``: a local Hugging Face wav2vec2 / HuBERT / WavLM folder (``encoder_path``).
  * ``scratch``: a small random wav2vec2-style encoder (:meth:`SslEncoder.from_config`).
  * ``cpc``: serkit's CPC encoder from a ``serkit pretrain cpc`` checkpoint (``encoder_path``);
    z = its GRU context ``c_t``. Fine-tuning trains the GRU with the convolutions frozen, so the
    recipe feeds cached conv frames (``features.name: cpc``, ``features.layer: 0``) instead of
    waves: same model, same result, the frozen convolutions run once instead of every epoch.

Modes (``mode``):
  * ``finetune`` (paper): the transformer is trained, the convolutional feature encoder is
    frozen (``freeze_feature_encoder``; default true except for ``scratch``), z = last layer.
    ``encoder_lr`` sets the encoder's own learning rate through :meth:`W2v2Ctc.param_groups`,
    which serkit's optimizer builder uses when a model defines it.
  * ``frozen`` (SUPERB-style): encoder weights fixed, z = learned weighted sum of all layers
    (:class:`serkit.features.ssl.WeightedLayerSum`); only that and the heads train.

Deviations:
  * Mean pooling uses only the valid frames of each utterance; the authors' code averages over
    padded frames too (``torch.mean(hidden_states, dim=1)``), which makes the prediction depend on
    the batch it is in.
  * Character vocabulary built from the training transcripts (:class:`serkit.data.vocab.CharVocab`,
    lowercase letters, apostrophe, space, blank) instead of the fine-tuned wav2vec2-base-960h
    tokenizer (upper-case letters with ``|`` as word delimiter).
  * The ``scratch`` and ``cpc`` encoders and the ``frozen`` mode are serkit additions that run on
    a CPU without pretrained weights; the paper fine-tunes wav2vec2-base.

Examples:
    >>> import torch
    >>> m = build_w2v2_ctc(tiny_config(), input_dim=1, num_classes=4, vocab_size=10)
    >>> out = m(torch.randn(2, 4000), torch.tensor([4000, 3000]))
    >>> tuple(out.logits.shape), tuple(out.aux["ctc"][0].shape[::2]), out.aux["ctc"][1].tolist()
    ((2, 4), (2, 10), [49, 37])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from serkit.errors import ConfigError, UnknownKeyError
from serkit.features.functional import masked_mean
from serkit.features.ssl import SslEncoder, WeightedLayerSum
from serkit.models.base import ModelOutput

ENCODERS = ("pretrained", "scratch", "cpc")
MODES = ("finetune", "frozen")


@dataclass(frozen=True)
class W2v2CtcConfig:
    """Configuration of :class:`W2v2Ctc`.

    Attributes:
        name: ``w2v2_ctc``.
        encoder: ``pretrained`` (local HF folder), ``scratch`` or ``cpc``.
        encoder_path: the HF folder (``pretrained``) or CPC checkpoint (``cpc``).
        mode: ``finetune`` or ``frozen``.
        encoder_lr: learning rate of the encoder's trainable parameters; None = ``train.lr``.
        freeze_feature_encoder: freeze the conv feature encoder in ``finetune`` mode; None =
            true for ``pretrained`` / ``cpc``, false for ``scratch``.
        layer_sum: z = learned weighted sum of layers (true) or the last layer (false); None =
            weighted in ``frozen`` mode, last layer in ``finetune`` mode.
        dropout: dropout on z before both heads (the authors' ``final_dropout``).
        hidden_size: ``scratch``: transformer width.
        num_layers: ``scratch``: transformer layers.
        num_heads: ``scratch``: attention heads.
        intermediate_size: ``scratch``: feed-forward width.
        conv_dim: ``scratch``: channels of each conv layer.
        conv_kernel: ``scratch``: conv kernels.
        conv_stride: ``scratch``: conv strides (their product is the samples per frame).
        pos_conv_kernel: ``scratch``: positional conv kernel.
        encoder_dropout: ``scratch``: dropout inside the encoder.
        mask_time_prob: ``scratch``: time masking while training (SpecAugment in wav2vec2).
    """

    name: str = "w2v2_ctc"
    encoder: str = "scratch"
    encoder_path: str | None = None
    mode: str = "finetune"
    encoder_lr: float | None = None
    freeze_feature_encoder: bool | None = None
    layer_sum: bool | None = None
    dropout: float = 0.1
    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 128
    conv_dim: tuple[int, ...] = (32, 32, 32, 32)
    conv_kernel: tuple[int, ...] = (10, 4, 4, 4)
    conv_stride: tuple[int, ...] = (5, 4, 2, 2)
    pos_conv_kernel: int = 16
    encoder_dropout: float = 0.1
    mask_time_prob: float = 0.0


def tiny_config() -> W2v2CtcConfig:
    """A tiny scratch model for tests (hidden 16, 2 layers, 80 samples per frame)."""
    return W2v2CtcConfig(hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
                         conv_dim=(16, 16, 16), conv_kernel=(10, 4, 4), conv_stride=(5, 4, 4),
                         pos_conv_kernel=8, encoder_dropout=0.0, dropout=0.0)


def build_encoder(cfg: W2v2CtcConfig) -> SslEncoder:
    """The encoder a config asks for.

    Raises:
        UnknownKeyError: unknown ``encoder``.
        ConfigError: ``encoder_path`` missing for ``pretrained`` / ``cpc``.
        ModelNotFoundError: the folder or checkpoint does not exist.
    """
    if cfg.encoder not in ENCODERS:
        raise UnknownKeyError("model.encoder", cfg.encoder, ENCODERS)
    if cfg.encoder == "scratch":
        return SslEncoder.from_config(
            hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, num_heads=cfg.num_heads,
            intermediate_size=cfg.intermediate_size, conv_dim=cfg.conv_dim, conv_kernel=cfg.conv_kernel,
            conv_stride=cfg.conv_stride, pos_conv_kernel=cfg.pos_conv_kernel,
            pos_conv_groups=_groups(cfg.hidden_size), dropout=cfg.encoder_dropout,
            mask_time_prob=cfg.mask_time_prob)
    if not cfg.encoder_path:
        hint = "a local Hugging Face folder, e.g. models/wav2vec2-base" if cfg.encoder == "pretrained" \
            else "bundled:cpc (shipped with serkit) or a CPC checkpoint from `serkit pretrain cpc`"
        raise ConfigError(f"model.encoder={cfg.encoder} needs model.encoder_path = {hint}")
    if cfg.encoder == "pretrained":
        return SslEncoder.from_pretrained(cfg.encoder_path)
    return SslEncoder.from_cpc(cfg.encoder_path)


def _groups(hidden: int) -> int:
    return next(g for g in (4, 2, 1) if hidden % g == 0)


class W2v2Ctc(nn.Module):
    """SSL encoder -> (CTC head on frames, emotion head on mean-pooled frames).

    Args:
        cfg: model config.
        num_classes: emotion classes C.
        vocab_size: CTC output size V (blank included); None builds no CTC head.
        encoder: inject an encoder (tests); None builds it from ``cfg``.
    """

    def __init__(self, cfg: W2v2CtcConfig, *, num_classes: int, vocab_size: int | None = None,
                 encoder: SslEncoder | None = None) -> None:
        super().__init__()
        if cfg.mode not in MODES:
            raise UnknownKeyError("model.mode", cfg.mode, MODES)
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        if vocab_size is not None and vocab_size < 2:
            raise ConfigError(f"vocab_size must be >= 2 (blank + one symbol), got {vocab_size}")
        self.cfg = cfg
        self.encoder = encoder if encoder is not None else build_encoder(cfg)
        d = self.encoder.hidden_size
        self.frozen = cfg.mode == "frozen"
        use_sum = cfg.layer_sum if cfg.layer_sum is not None else self.frozen
        self.layer_sum = WeightedLayerSum(self.encoder.num_layers) if use_sum else None
        if self.frozen:
            self.encoder.requires_grad_(False)
        else:
            freeze_cnn = cfg.freeze_feature_encoder
            if freeze_cnn is None:
                freeze_cnn = cfg.encoder != "scratch"
            fe = self.encoder.feature_encoder()
            if freeze_cnn and fe is not None:
                fe.requires_grad_(False)
        self.dropout = nn.Dropout(cfg.dropout)
        self.ctc_head = nn.Linear(d, vocab_size) if vocab_size else None
        self.emotion_head = nn.Linear(d, num_classes)
        self.train()

    def train(self, mode: bool = True) -> W2v2Ctc:
        """Set training mode; a frozen encoder always stays in eval mode (no dropout/masking)."""
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def param_groups(self, base_lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups: the encoder at ``encoder_lr``, the rest at ``base_lr``.

        Only parameters with ``requires_grad`` are listed; empty groups are left out.
        """
        enc = [p for p in self.encoder.parameters() if p.requires_grad]
        enc_ids = {id(p) for p in enc}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in enc_ids]
        groups = []
        if enc:
            groups.append({"params": enc, "lr": self.cfg.encoder_lr if self.cfg.encoder_lr is not None
                           else base_lr, "name": "encoder"})
        if rest:
            groups.append({"params": rest, "lr": base_lr, "name": "heads"})
        return groups

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, **inputs: Any) -> ModelOutput:
        """Classify and transcribe a batch.

        Args:
            x: ``(B, S)`` 16 kHz waves (``features.name: raw``); with the CPC encoder also
                ``(B, T, C)`` cached frames of its frozen conv encoder (``features.name: cpc``,
                ``features.layer: 0``), which gives the same result at a fraction of the cost.
            lengths: ``(B,)`` int64 valid samples (or frames).

        Returns:
            ModelOutput with ``logits (B, C)``, ``aux["ctc"] = (logits (B, T', V), lengths (B,))``
            (when a vocabulary was given), ``embedding (B, D)`` the pooled z, and ``attn`` the
            softmaxed layer weights ``(L,)`` in weighted-sum mode.
        """
        frames_ok = hasattr(self.encoder.model, "forward_frames")
        if x.dim() != 2 and not (x.dim() == 3 and frames_ok):
            raise ValueError(f"w2v2_ctc takes raw waves (B, S) (features.name: raw)"
                             f"{' or cached CPC conv frames (B, T, C) (features.name: cpc, layer: 0)' if frames_ok else ''}"
                             f", got shape {tuple(x.shape)}")
        if self.frozen:
            with torch.no_grad():
                layers, out_lengths = self.encoder(x, lengths)
        else:
            layers, out_lengths = self.encoder(x, lengths)
        z = self.layer_sum(layers) if self.layer_sum is not None else layers[-1]  # (B, T', D)
        z = self.dropout(z)
        pooled = masked_mean(z, out_lengths)  # (B, D)
        aux: dict[str, Any] = {}
        if self.ctc_head is not None:
            aux["ctc"] = (self.ctc_head(z), out_lengths)  # (B, T', V), (B,)
        attn = torch.softmax(self.layer_sum.weights, 0).detach() if self.layer_sum is not None else None
        return ModelOutput(logits=self.emotion_head(pooled), aux=aux, embedding=pooled, attn=attn)


def build_w2v2_ctc(cfg: W2v2CtcConfig, *, input_dim: int = 1, num_classes: int,
                   vocab_size: int | None = None, **_: Any) -> W2v2Ctc:
    """Build the model (``input_dim`` is unused: the model takes raw waves)."""
    return W2v2Ctc(cfg, num_classes=num_classes, vocab_size=vocab_size)


def greedy_ctc(logits: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best path per frame, cut to each utterance's length: ``(B, T, V)`` -> B lists of ``T_b`` ids."""
    best = logits.argmax(-1)  # (B, T)
    return [best[b, : int(lengths[b])].tolist() for b in range(best.shape[0])]


def transcribe(output: ModelOutput | tuple[torch.Tensor, torch.Tensor], vocab: Any) -> list[str]:
    """Greedy CTC transcripts of a batch.

    Args:
        output: a :class:`ModelOutput` with ``aux["ctc"]``, or the ``(logits, lengths)`` pair.
        vocab: a :class:`serkit.data.vocab.CharVocab` (or its ``to_dict()``).

    Returns:
        one string per utterance.

    Raises:
        ConfigError: the model has no CTC head (trained without a vocabulary).
    """
    from serkit.data.vocab import CharVocab

    if isinstance(output, ModelOutput):
        if "ctc" not in output.aux:
            raise ConfigError("this model has no CTC head (it was trained with train.loss_weights.ctc=0 "
                              "or without transcripts), so it cannot transcribe")
        logits, lengths = output.aux["ctc"]
    else:
        logits, lengths = output
    if isinstance(vocab, dict):
        vocab = CharVocab.from_dict(vocab)
    return [vocab.decode_ctc(ids) for ids in greedy_ctc(logits, lengths)]


__all__: Sequence[str] = ("W2v2Ctc", "W2v2CtcConfig", "build_w2v2_ctc", "tiny_config", "transcribe")
