"""Self-supervised speech encoders behind one interface: waves in, per-layer frames out.

:class:`SslEncoder` wraps Hugging Face ``Wav2Vec2Model``, ``HubertModel`` and ``WavLMModel``
(loaded from a *local* folder in the Hugging Face format, never from the hub), a small random
wav2vec2-style encoder built by :meth:`SslEncoder.from_config` for training from scratch, and
serkit's own CPC encoder (:mod:`serkit.features.cpc`) through a small adapter.

``forward(waves (B, S), lengths (B,)) -> (layers, out_lengths)``: ``layers`` is a list of
``(B, T, D)`` hidden states (for the transformers: the transformer input, then every layer's
output), ``out_lengths (B,)`` the valid frames. Lengths are converted to Hugging Face's
``attention_mask`` only here (STYLE section 4). Models whose conv stack uses group norm over time
(``feat_extract_norm="group"``, e.g. wav2vec2-base) still see the zero padding there, so their
padded-batch outputs differ slightly from per-utterance runs; layer-norm models (the scratch
encoder, wav2vec2-large-lv60, HuBERT/WavLM large) are padding-invariant.

:class:`WeightedLayerSum` is SUPERB's learned softmax-weighted sum of layers (Yang et al., "SUPERB:
Speech processing Universal PERformance Benchmark", Interspeech 2021, section 3; s3prl's
``Featurizer``).

:func:`ssl_features` gives frozen, cacheable ``(T, D)`` features for ``features.name: ssl``.

Getting a pretrained folder (on a machine with internet, then copy the folder here)::

    huggingface-cli download facebook/wav2vec2-base --local-dir models/wav2vec2-base

Examples:
    >>> import torch
    >>> enc = SslEncoder.from_config(hidden_size=16, num_layers=2, num_heads=2, intermediate_size=32,
    ...                              conv_dim=(16, 16), conv_kernel=(10, 4), conv_stride=(5, 4))
    >>> layers, out_lengths = enc(torch.randn(2, 4000), torch.tensor([4000, 3000]))
    >>> len(layers), tuple(layers[-1].shape), out_lengths.tolist()
    (3, (2, 199, 16), [199, 149])
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from serkit.errors import ConfigError, MissingDependencyError, ModelNotFoundError, UnknownKeyError
from serkit.features.encoder_cache import load_frozen
from serkit.features.functional import lengths_to_mask, masked_standardise
from serkit.typing import PathLike

if TYPE_CHECKING:
    from serkit.features.cpc import CpcModel

log = logging.getLogger(__name__)

#: Hugging Face ``config.model_type`` -> model class name in transformers
HF_MODEL_TYPES = {"wav2vec2": "Wav2Vec2Model", "hubert": "HubertModel", "wavlm": "WavLMModel"}


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:  # pragma: no cover - transformers is in the dev env
        raise MissingDependencyError("transformers", "ssl") from None
    return transformers


def model_not_found(name: PathLike, what: str = "a Hugging Face model folder") -> ModelNotFoundError:
    """The error for an encoder name that is not a local folder, with how to get one."""
    return ModelNotFoundError(
        f"{name}: not {what} on this machine (serkit never downloads weights). On a machine with "
        f"internet run `huggingface-cli download {name if '/' in str(name) else 'facebook/wav2vec2-base'} "
        f"--local-dir DIR` (or `snapshot_download(repo_id, local_dir=DIR)` in Python), copy DIR here "
        f"and pass its path, e.g. --ssl-model DIR or model.encoder_path=DIR; the folder must hold "
        f"config.json and model.safetensors or pytorch_model.bin")


class SslEncoder(nn.Module):
    """A self-supervised encoder giving every layer's frames.

    Build it with :meth:`from_pretrained` (local Hugging Face folder), :meth:`from_config`
    (random small wav2vec2-style model) or :meth:`from_cpc` (serkit CPC checkpoint).

    Args:
        model: a Hugging Face ``Wav2Vec2Model`` / ``HubertModel`` / ``WavLMModel``, or a module
            with ``forward(waves, lengths) -> (list of (B, T, D), out_lengths)``, ``hidden_size``,
            ``num_layers`` and (optionally) ``feature_encoder`` (the part frozen when fine-tuning).
        kind: ``wav2vec2``, ``hubert``, ``wavlm`` or ``custom``.
        normalize_waveform: standardise each utterance before the encoder (as the model's
            Hugging Face feature extractor does when ``do_normalize`` is true).
        source: where the weights came from (for messages and checkpoints).
    """

    #: a Hugging Face model or a module with the custom-encoder contract (duck-typed)
    model: Any

    def __init__(self, model: nn.Module, *, kind: str, normalize_waveform: bool = True,
                 source: str = "") -> None:
        super().__init__()
        if kind not in (*HF_MODEL_TYPES, "custom"):
            raise UnknownKeyError("SSL encoder kind", kind, [*HF_MODEL_TYPES, "custom"])
        self.model = model
        self.kind = kind
        self.normalize_waveform = normalize_waveform
        self.source = source
        self.min_samples = self._min_samples()

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_pretrained(cls, path: PathLike) -> SslEncoder:
        """Load wav2vec 2.0 / HuBERT / WavLM weights from a local Hugging Face folder.

        Args:
            path: folder with ``config.json`` and the weights (``save_pretrained`` output or a
                ``huggingface-cli download --local-dir`` copy).

        Raises:
            ModelNotFoundError: ``path`` is not an existing folder with ``config.json`` (e.g. a
                hub name such as ``facebook/wav2vec2-base``); the message says how to get it.
            UnknownKeyError: the folder holds another model type.
        """
        p = Path(path).expanduser()
        if not p.is_dir() or not (p / "config.json").is_file():
            raise model_not_found(path)
        tf = _transformers()
        model_type = json.loads((p / "config.json").read_text(encoding="utf-8")).get("model_type")
        if model_type not in HF_MODEL_TYPES:
            raise UnknownKeyError(f"model_type in {p / 'config.json'}", str(model_type), HF_MODEL_TYPES)
        model_cls = getattr(tf, HF_MODEL_TYPES[model_type])
        try:
            model = model_cls.from_pretrained(str(p), local_files_only=True)
        except OSError as e:  # config present but weights missing or unreadable
            raise ModelNotFoundError(f"{p}: cannot load {model_type} weights ({e}); the folder needs "
                                     f"model.safetensors or pytorch_model.bin next to config.json") from None
        normalize = True
        pre = p / "preprocessor_config.json"
        if pre.is_file():
            normalize = bool(json.loads(pre.read_text(encoding="utf-8")).get("do_normalize", True))
        return cls(model, kind=model_type, normalize_waveform=normalize, source=str(p))

    @classmethod
    def from_config(cls, *, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4,
                    intermediate_size: int = 128, conv_dim: Sequence[int] = (32, 32, 32, 32),
                    conv_kernel: Sequence[int] = (10, 4, 4, 4), conv_stride: Sequence[int] = (5, 4, 2, 2),
                    pos_conv_kernel: int = 16, pos_conv_groups: int = 4, dropout: float = 0.1,
                    mask_time_prob: float = 0.0, mask_time_length: int = 5) -> SslEncoder:
        """A random wav2vec2-style encoder (conv feature encoder + transformer) to train from scratch.

        The default strides give 5*4*2*2 = 80 samples per frame (5 ms at 16 kHz) with a
        much smaller conv stack than wav2vec2-base's 512-channel, 320-sample one. Layer norm in the
        conv stack (``feat_extract_norm="layer"``, as wav2vec2-large-lv60) keeps padded batches
        equal to per-utterance runs.

        Args:
            hidden_size: transformer width D.
            num_layers: transformer layers.
            num_heads: attention heads.
            intermediate_size: feed-forward width.
            conv_dim: channels of each conv layer.
            conv_kernel: kernel of each conv layer (samples / frames).
            conv_stride: stride of each conv layer.
            pos_conv_kernel: kernel of the convolutional positional embedding (frames).
            pos_conv_groups: its groups.
            dropout: hidden, attention and activation dropout.
            mask_time_prob: SpecAugment-style time masking while training (0 disables).
            mask_time_length: frames per mask.

        Raises:
            ConfigError: inconsistent conv settings.
        """
        if not (len(conv_dim) == len(conv_kernel) == len(conv_stride)) or not conv_dim:
            raise ConfigError(f"conv_dim, conv_kernel and conv_stride need the same non-zero length, "
                              f"got {len(conv_dim)}, {len(conv_kernel)}, {len(conv_stride)}")
        if hidden_size % num_heads or hidden_size % pos_conv_groups:
            raise ConfigError(f"hidden_size={hidden_size} must be divisible by num_heads={num_heads} "
                              f"and pos_conv_groups={pos_conv_groups}")
        tf = _transformers()
        config = tf.Wav2Vec2Config(
            hidden_size=hidden_size, num_hidden_layers=num_layers, num_attention_heads=num_heads,
            intermediate_size=intermediate_size, conv_dim=tuple(conv_dim), conv_kernel=tuple(conv_kernel),
            conv_stride=tuple(conv_stride), feat_extract_norm="layer", conv_bias=True,
            num_conv_pos_embeddings=pos_conv_kernel, num_conv_pos_embedding_groups=pos_conv_groups,
            hidden_dropout=dropout, attention_dropout=dropout, activation_dropout=dropout,
            feat_proj_dropout=dropout, layerdrop=0.0, mask_time_prob=mask_time_prob,
            mask_time_length=mask_time_length, mask_time_min_masks=0,
        )
        return cls(tf.Wav2Vec2Model(config), kind="wav2vec2", normalize_waveform=True, source="scratch")

    @classmethod
    def from_cpc(cls, path: PathLike) -> SslEncoder:
        """serkit's CPC encoder (``serkit pretrain cpc``) from its checkpoint, via :class:`CpcLayers`.

        Raises:
            ModelNotFoundError: no checkpoint at ``path``.
        """
        return cls(CpcLayers.from_checkpoint(path), kind="custom", normalize_waveform=False, source=str(path))

    # ---------------------------------------------------------------- properties
    @property
    def is_hf(self) -> bool:
        """Whether the wrapped model is a Hugging Face model."""
        return self.kind in HF_MODEL_TYPES

    @property
    def hidden_size(self) -> int:
        """Frame dimension D of every layer."""
        return int(self.model.config.hidden_size) if self.is_hf else int(self.model.hidden_size)

    @property
    def num_layers(self) -> int:
        """Number of tensors forward returns (transformer input + each layer for HF models)."""
        return int(self.model.config.num_hidden_layers) + 1 if self.is_hf else int(self.model.num_layers)

    def feature_encoder(self) -> nn.Module | None:
        """The convolutional feature encoder (frozen when fine-tuning), or None."""
        if self.is_hf:
            return self.model.feature_extractor
        return getattr(self.model, "feature_encoder", None)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid output frames ``(B,)`` for input ``lengths (B,)`` in samples."""
        if self.is_hf:
            return self.model._get_feat_extract_output_lengths(lengths).to(torch.long)
        return self.model.output_lengths(lengths).to(torch.long)

    def _min_samples(self) -> int:
        n = 1
        while int(self.output_lengths(torch.tensor([n])).item()) < 1:
            n *= 2
        lo, hi = n // 2, n
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if int(self.output_lengths(torch.tensor([mid])).item()) >= 1 else (mid, hi)
        return hi

    # ---------------------------------------------------------------- forward
    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Encode a padded batch.

        Args:
            waves: ``(B, S)`` float 16 kHz waves, zero-padded; for the CPC adapter also
                ``(B, T, C)`` frames of its frozen conv encoder (then ``lengths`` are frames).
            lengths: ``(B,)`` int64 valid samples (or frames).

        Returns:
            (list of ``(B, T, D)`` hidden states, ``out_lengths (B,)`` int64 valid frames).

        Raises:
            ValueError: wrong ranks, or an utterance shorter than the encoder's receptive field.
        """
        if waves.dim() == 3 and hasattr(self.model, "forward_frames"):  # cached frozen conv frames
            return self.model.forward_frames(waves, lengths.to(waves.device))
        if waves.dim() != 2 or lengths.dim() != 1 or lengths.shape[0] != waves.shape[0]:
            raise ValueError(f"SslEncoder expects waves (B, S) and lengths (B,), got {tuple(waves.shape)} "
                             f"and {tuple(lengths.shape)}")
        lengths = lengths.to(waves.device)
        if int(lengths.min()) < self.min_samples:
            raise ValueError(f"an utterance has {int(lengths.min())} samples; the encoder needs at least "
                             f"{self.min_samples} ({self.min_samples / 16000:.3f} s at 16 kHz); drop or pad "
                             f"such clips (serkit.data.audio.MIN_DURATION)")
        if self.normalize_waveform:
            waves = masked_standardise(waves, lengths)  # (B, S)
        if not self.is_hf:
            return self.model(waves, lengths)
        attention_mask = (~lengths_to_mask(lengths, waves.shape[1])).long()  # (B, S) 1 = valid
        out = self.model(waves, attention_mask=attention_mask, output_hidden_states=True)
        layers = list(out.hidden_states)
        out_lengths = self.output_lengths(lengths)
        t = layers[-1].shape[1]
        return layers, out_lengths.clamp(max=t)


class WeightedLayerSum(nn.Module):
    """SUPERB's learned weighted sum of encoder layers: ``sum_l softmax(w)_l h_l``.

    Args:
        num_layers: number of layers L.
        layer_norm: layer-normalise each layer before weighting (s3prl's ``normalize`` option).

    Examples:
        >>> import torch
        >>> wls = WeightedLayerSum(3)
        >>> tuple(wls([torch.ones(2, 5, 4)] * 3).shape)
        (2, 5, 4)
    """

    def __init__(self, num_layers: int, *, layer_norm: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ConfigError(f"WeightedLayerSum needs at least one layer, got {num_layers}")
        self.weights = nn.Parameter(torch.zeros(num_layers))  # uniform at start, as in SUPERB
        self.layer_norm = layer_norm

    def forward(self, layers: Sequence[torch.Tensor]) -> torch.Tensor:
        """Combine ``L`` tensors ``(B, T, D)`` into one ``(B, T, D)``."""
        if len(layers) != self.weights.numel():
            raise ValueError(f"WeightedLayerSum was built for {self.weights.numel()} layers, got {len(layers)}")
        x = torch.stack(list(layers), dim=0)  # (L, B, T, D)
        if self.layer_norm:
            x = nn.functional.layer_norm(x, x.shape[-1:])
        w = torch.softmax(self.weights, dim=0)
        return (w[:, None, None, None] * x).sum(0)  # (B, T, D)


class CpcLayers(nn.Module):
    """Adapter that exposes serkit's CPC model (:mod:`serkit.features.cpc`) as an SSL encoder.

    The single layer is the GRU context ``c_t`` (the representation Li et al. 2021 use; the
    encoder output ``z_t`` has another width, so it cannot enter a weighted layer sum). The
    strided convolutions are the ``feature_encoder`` frozen when fine-tuning. Because they are
    frozen, their output can be cached: :meth:`forward_frames` runs only the GRU on ``z_t``
    frames from ``features.name: cpc`` with ``features.layer: 0``.

    Args:
        cpc: a ``serkit.features.cpc.CpcModel``.
    """

    cpc: CpcModel

    def __init__(self, cpc: CpcModel) -> None:
        super().__init__()
        self.cpc = cpc
        self.hidden_size = int(cpc.cfg.hidden)
        self.frame_dim = int(cpc.cfg.channels)
        self.num_layers = 1

    @classmethod
    def from_checkpoint(cls, path: PathLike) -> CpcLayers:
        """A private, trainable copy of the CPC model in a ``serkit pretrain cpc`` checkpoint.

        Raises:
            ModelNotFoundError: no such file (the message gives the pretraining command).
        """
        from serkit.features import cpc as cpc_mod

        return cls(cpc_mod.cpc_from_checkpoint(cpc_mod.read_cpc_checkpoint(path)))

    @property
    def feature_encoder(self) -> nn.Module:
        """The CPC convolutional encoder ``g_enc``."""
        return self.cpc.encoder

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid frames for ``lengths`` samples."""
        from serkit.features.cpc import conv_output_lengths

        return conv_output_lengths(lengths, self.cpc.cfg)

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``[c (B, T, H)]`` and ``out_lengths (B,)`` from waves (the CPC standardises them itself)."""
        z, n = self.cpc.encoder(waves, lengths)  # (B, T, C)
        return self.forward_frames(z, n)

    def forward_frames(self, z: torch.Tensor, lengths: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``[c (B, T, H)]`` from encoder frames ``z (B, T, C)``; the GRU is causal, so padding never leaks."""
        if z.shape[-1] != self.frame_dim:
            raise ValueError(f"CPC frames must have {self.frame_dim} channels (features.name: cpc with "
                             f"features.layer: 0), got {z.shape[-1]}")
        c, _ = self.cpc.gru(z)  # (B, T, H)
        return [c], lengths


# ---------------------------------------------------------------- frozen cached features
def load_encoder(path: PathLike) -> SslEncoder:
    """A frozen encoder in eval mode, loaded once per process and version of the folder."""
    return load_frozen("ssl", path, SslEncoder.from_pretrained)


def ssl_features(signal: np.ndarray, cfg: Any) -> np.ndarray:
    """Frozen SSL features of one signal for ``features.name: ssl``.

    Args:
        signal: ``(S,)`` float32 16 kHz mono.
        cfg: a :class:`serkit.config.FeatureConfig`; ``cfg.encoder`` is the local Hugging Face
            folder, ``cfg.layer`` the layer index into the list forward returns (0 = transformer
            input; None = last; negative counts from the end).

    Returns:
        ``(T, D)`` float32.

    Raises:
        ConfigError: ``features.encoder`` unset or ``features.layer`` out of range.
        ModelNotFoundError: the folder does not exist.
    """
    if not cfg.encoder:
        raise ConfigError("features.name=ssl needs features.encoder = a local Hugging Face folder "
                          "(wav2vec2 / HuBERT / WavLM), e.g. features.encoder=models/wav2vec2-base")
    enc = load_encoder(cfg.encoder)
    layer = -1 if cfg.layer is None else int(cfg.layer)
    if not -enc.num_layers <= layer < enc.num_layers:
        raise ConfigError(f"features.layer={cfg.layer} out of range for {cfg.encoder} with "
                          f"{enc.num_layers} layers (0 .. {enc.num_layers - 1}, or negative from the end)")
    x = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))[None]  # (1, S)
    with torch.inference_mode():
        layers, lens = enc(x, torch.tensor([x.shape[1]]))
    return layers[layer][0, : int(lens[0])].numpy().astype(np.float32)  # (T, D)
