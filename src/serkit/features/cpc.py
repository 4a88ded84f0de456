"""Contrastive predictive coding (CPC) speech encoder, its checkpoints and frozen CPC features.

Implements the CPC model of Li et al., "Contrastive Unsupervised Learning for Speech Emotion
Recognition", ICASSP 2021 (arXiv:2102.06357), Section 2.1, itself after van den Oord et al.,
"Representation Learning with Contrastive Predictive Coding" (arXiv:1807.03748), Section 2:

- encoder ``g_enc``: 4 one-dimensional convolutions, strides [5, 4, 4, 2], kernels [10, 8, 8, 4],
  128 channels, ReLU -> ``z_t`` (B, T, 128) at one frame per 160 samples (10 ms at 16 kHz);
- autoregressive model ``g_ar``: a unidirectional GRU with 256 units -> context ``c_t`` (B, T, 256);
- one linear predictor ``W_k`` per step ``k = 1..12`` mapping ``c_t`` to a guess of ``z_{t+k}``
  (the InfoNCE loss that trains them lives in :mod:`serkit.train.cpc`).

Representation used as features: the GRU context ``c_t`` (256-d), as in the paper, which feeds
``c_t`` to the emotion recogniser. ``features.layer: 0`` selects the 128-d encoder output
``z_t`` instead; ``None`` or ``1`` selects ``c_t``.

Deviations: each input is standardised to zero mean and unit variance over its valid samples
before the first convolution (the paper does not say how it scales waveforms; this makes the
encoder insensitive to recording level). Convolutions are zero-padded by ``(kernel - stride) / 2``
so that ``T = S // 160`` exactly for ``S`` a multiple of 160.

Examples:
    >>> import torch
    >>> m = CpcModel(tiny_cpc_config())
    >>> z, c, n = m(torch.randn(2, 3200), torch.tensor([3200, 1600]))
    >>> z.shape, c.shape, n.tolist()
    (torch.Size([2, 20, 8]), torch.Size([2, 20, 16]), [20, 10])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from serkit.config import FeatureConfig, from_dict
from serkit.errors import ConfigError, ModelNotFoundError
from serkit.features.encoder_cache import load_frozen
from serkit.features.functional import masked_standardise
from serkit.typing import PathLike

#: the ``kind`` field that marks a serkit CPC checkpoint
CHECKPOINT_KIND = "serkit-cpc"


@dataclass(frozen=True)
class CpcConfig:
    """Architecture and InfoNCE settings of a CPC model (paper values as defaults).

    Attributes:
        name: always ``"cpc"``.
        channels: convolution channels (dimension of ``z_t``).
        kernels: kernel sizes of the 4 convolutions, in samples / frames.
        strides: strides of the convolutions; their product is the hop (160 = 10 ms).
        hidden: GRU units (dimension of ``c_t``).
        prediction_steps: ``K``, frames predicted ahead.
        negatives: negatives per prediction, drawn from the same sequence.
        segment_seconds: training segment length (longer files cut, shorter repeated).
    """

    name: str = "cpc"
    channels: int = 128
    kernels: tuple[int, ...] = (10, 8, 8, 4)
    strides: tuple[int, ...] = (5, 4, 4, 2)
    hidden: int = 256
    prediction_steps: int = 12
    negatives: int = 50
    segment_seconds: float = 10.0

    @property
    def hop(self) -> int:
        """Samples per output frame."""
        return int(math.prod(self.strides))


def tiny_cpc_config() -> CpcConfig:
    """A small CPC for tests (8 channels, 16 GRU units, 3 steps, 5 negatives, 0.5 s segments)."""
    return CpcConfig(channels=8, hidden=16, prediction_steps=3, negatives=5, segment_seconds=0.5)


def _padding(kernel: int, stride: int) -> int:
    return (kernel - stride + 1) // 2


def conv_output_lengths(lengths: torch.Tensor, cfg: CpcConfig) -> torch.Tensor:
    """Frames produced from ``lengths`` samples by the encoder (``floor`` convolution arithmetic)."""
    n = lengths.clone()
    for k, s in zip(cfg.kernels, cfg.strides, strict=True):
        n = torch.div(n + 2 * _padding(k, s) - k, s, rounding_mode="floor") + 1
    return n.clamp(min=0)


class CpcEncoder(nn.Module):
    """``g_enc``: strided 1-D convolutions with ReLU, waves ``(B, S)`` -> ``z (B, T, C)``."""

    def __init__(self, cfg: CpcConfig) -> None:
        super().__init__()
        if len(cfg.kernels) != len(cfg.strides) or not cfg.kernels:
            raise ConfigError(f"CPC kernels {cfg.kernels} and strides {cfg.strides} must be non-empty and "
                              "of equal length, e.g. kernels [10, 8, 8, 4] and strides [5, 4, 4, 2]")
        self.cfg = cfg
        layers: list[nn.Module] = []
        cin = 1
        for k, s in zip(cfg.kernels, cfg.strides, strict=True):
            layers += [nn.Conv1d(cin, cfg.channels, k, stride=s, padding=_padding(k, s)), nn.ReLU()]
            cin = cfg.channels
        self.convs = nn.Sequential(*layers)

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode waves.

        Args:
            waves: ``(B, S)`` 16 kHz samples (zero-padded).
            lengths: ``(B,)`` valid samples.

        Returns:
            ``z (B, T, C)`` and its valid frame counts ``(B,)``.
        """
        x = masked_standardise(waves, lengths)  # (B, S)
        z = self.convs(x[:, None, :])  # (B, C, T)
        z = z.transpose(1, 2)  # (B, T, C)
        return z, conv_output_lengths(lengths, self.cfg).clamp(max=z.shape[1])


class CpcModel(nn.Module):
    """CPC: encoder, unidirectional GRU and ``K`` linear step predictors.

    Args:
        cfg: architecture.
    """

    def __init__(self, cfg: CpcConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = CpcEncoder(cfg)
        self.gru = nn.GRU(cfg.channels, cfg.hidden, batch_first=True)
        self.predictors = nn.ModuleList(nn.Linear(cfg.hidden, cfg.channels) for _ in range(cfg.prediction_steps))

    def forward(self, waves: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode and summarise.

        Args:
            waves: ``(B, S)`` samples.
            lengths: ``(B,)`` valid samples.

        Returns:
            ``z (B, T, C)``, ``c (B, T, H)`` and frame lengths ``(B,)``. The GRU is causal, so
            ``c_t`` of valid frames never sees padding.
        """
        if waves.dim() != 2:
            raise ValueError(f"CPC expects waves (B, S), got shape {tuple(waves.shape)}")
        z, n = self.encoder(waves, lengths)
        c, _ = self.gru(z)  # (B, T, H)
        return z, c, n

    def representation(self, waves: torch.Tensor, lengths: torch.Tensor, *, layer: int | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features for emotion recognition: ``c_t`` (layer None/1) or ``z_t`` (layer 0), with lengths."""
        if layer not in (None, 0, 1):
            raise ConfigError(f"CPC layer must be 0 (encoder z_t, {self.cfg.channels}-d) or 1 / null "
                              f"(GRU context c_t, {self.cfg.hidden}-d), got {layer}")
        if layer == 0:
            return self.encoder(waves, lengths)
        _, c, n = self(waves, lengths)
        return c, n

    def output_dim(self, layer: int | None = None) -> int:
        """Feature dimension of :meth:`representation`."""
        return self.cfg.channels if layer == 0 else self.cfg.hidden


def cpc_config_from_dict(d: dict[str, Any]) -> CpcConfig:
    """CpcConfig from a (checkpoint or YAML) dict; unknown keys raise."""
    return from_dict(CpcConfig, d, where="cpc")


def save_cpc(path: PathLike, model: CpcModel, **extra: Any) -> Path:
    """Write a serkit CPC checkpoint ``{kind, config, state_dict, serkit_version, **extra}`` atomically."""
    from serkit import __version__

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ck = {"kind": CHECKPOINT_KIND, "config": asdict(model.cfg), "state_dict": model.state_dict(),
          "serkit_version": __version__, **extra}
    tmp = p.with_suffix(p.suffix + ".tmp")
    torch.save(ck, tmp)
    tmp.replace(p)
    return p


def read_cpc_checkpoint(path: PathLike) -> dict[str, Any]:
    """Read a serkit CPC checkpoint dict (``torch.load(weights_only=True)``).

    Args:
        path: a ``.pt`` file written by ``serkit pretrain cpc``, or its output folder (then
            ``DIR/cpc.pt`` is used).

    Raises:
        ModelNotFoundError: no such file.
        ConfigError: the file is not a serkit CPC checkpoint.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "cpc.pt"
    if not p.is_file():
        raise ModelNotFoundError(f"{p}: CPC checkpoint not found; pretrain one with "
                                 "serkit pretrain cpc --audio DIR --out OUT and pass OUT/cpc.pt")
    try:
        ck = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle/zip errors have many types
        raise ConfigError(f"{p}: cannot be read as a torch checkpoint ({type(e).__name__}); "
                          "pass a file written by serkit pretrain cpc") from None
    if not isinstance(ck, dict) or ck.get("kind") != CHECKPOINT_KIND:
        raise ConfigError(f"{p}: not a serkit CPC checkpoint (kind={ck.get('kind') if isinstance(ck, dict) else None!r},"
                          f" expected {CHECKPOINT_KIND!r}); pass a file written by serkit pretrain cpc")
    return ck


def cpc_from_checkpoint(ck: dict[str, Any]) -> CpcModel:
    """Rebuild a CpcModel from a checkpoint dict (see :func:`read_cpc_checkpoint`)."""
    known = {f.name for f in fields(CpcConfig)}
    model = CpcModel(cpc_config_from_dict({k: v for k, v in ck["config"].items() if k in known}))
    model.load_state_dict(ck["state_dict"])
    return model


def load_cpc(path: PathLike) -> CpcModel:
    """Load a CPC checkpoint in eval mode, once per process and version of the file.

    Args:
        path: checkpoint file or ``serkit pretrain cpc`` output folder.

    Returns:
        the model (shared: do not train the returned object; use :func:`read_cpc_checkpoint` and
        :func:`cpc_from_checkpoint` for a private copy).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "cpc.pt"
    if not p.is_file():
        read_cpc_checkpoint(p)  # raises the helpful error
    return load_frozen("cpc", p, lambda f: cpc_from_checkpoint(read_cpc_checkpoint(f)))


def cpc_features(signal: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Frozen CPC features of one 16 kHz mono signal.

    Args:
        signal: ``(S,)`` float32.
        cfg: feature config with ``encoder`` = CPC checkpoint path and ``layer`` (None/1 = GRU
            context ``c_t``, the paper's representation; 0 = encoder output ``z_t``).

    Returns:
        ``(T, 256)`` (or ``(T, 128)`` for layer 0) float32, ``T = S // 160``.

    Raises:
        ConfigError: ``cfg.encoder`` is not set.
    """
    if not cfg.encoder:
        raise ConfigError("features.name=cpc needs features.encoder = a CPC checkpoint; "
                          "pretrain one with serkit pretrain cpc --audio DIR --out OUT and set features.encoder=OUT/cpc.pt")
    model = load_cpc(cfg.encoder)
    x = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))[None]  # (1, S)
    with torch.no_grad():
        y, n = model.representation(x, torch.tensor([x.shape[1]]), layer=cfg.layer)
    return y[0, : int(n[0])].numpy().astype(np.float32)


__all__ = ["CpcConfig", "CpcEncoder", "CpcModel", "conv_output_lengths", "cpc_features",
           "cpc_from_checkpoint", "load_cpc", "read_cpc_checkpoint", "save_cpc", "tiny_cpc_config"]
