"""Contrastive predictive coding (CPC) speech encoder, reading its checkpoints, and frozen CPC features.

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

Checkpoints are ordinary serkit checkpoints (:class:`serkit.models.checkpoint.Checkpoint`, written
by ``serkit pretrain cpc``, :mod:`serkit.train.cpc`) whose ``model`` section is a :class:`CpcConfig`;
this module reads them with the same file rule (:mod:`serkit.checkpoint_file`). ``bundled:cpc``
names the encoder shipped in the package (``serkit/assets/cpc``, pretrained on LJSpeech only;
card: ``docs/cpc_card.md``).

Examples:
    >>> import torch
    >>> m = CpcModel(tiny_cpc_config())
    >>> z, c, n = m(torch.randn(2, 3200), torch.tensor([3200, 1600]))
    >>> z.shape, c.shape, n.tolist()
    (torch.Size([2, 20, 8]), torch.Size([2, 20, 16]), [20, 10])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from serkit.checkpoint_file import find_checkpoint, read_checkpoint_file
from serkit.config import FeatureConfig, from_dict
from serkit.errors import CheckpointError, ConfigError
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


def build_cpc(cfg: CpcConfig, **_: Any) -> CpcModel:
    """A CPC model with random weights (the builder of :data:`serkit.models.PRETRAINED_ENCODERS`)."""
    return CpcModel(cfg)


def is_legacy_cpc_checkpoint(d: dict[str, Any]) -> bool:
    """Whether ``d`` is a ``cpc.pt`` of serkit before the typed checkpoint (flat CPC ``config``)."""
    return d.get("kind") == CHECKPOINT_KIND and "label_names" not in d


def upgrade_legacy_cpc_checkpoint(d: dict[str, Any]) -> dict[str, Any]:
    """Rewrite an old ``cpc.pt`` dict in the layout of :class:`serkit.models.checkpoint.Checkpoint`.

    Old layout: ``{kind, config: CpcConfig fields, state_dict, serkit_version, optimizer?, epoch?,
    batch_in_epoch?, step?, history (JSON text)?, epoch_sums (JSON text)?, train?}``. New layout:
    ``config = {"model": {"name": "cpc", ...}, "features": {"name": "raw"}}``, ``label_names``
    empty, ``input_dim`` 1; the training state keys are kept (history parsed), so an old run
    resumes too.
    """
    known = {f.name for f in fields(CpcConfig)}
    model = {k: v for k, v in dict(d.get("config") or {}).items() if k in known}
    out = {k: v for k, v in d.items() if k != "config"}
    out.update(config={"model": {**model, "name": "cpc"}, "features": {"name": "raw"}}, label_names=[], input_dim=1)
    for k in ("history", "epoch_sums"):
        if isinstance(out.get(k), str):
            out[k] = json.loads(out[k])
    return out


def _find_cpc(path: PathLike) -> Path:
    try:
        return find_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(f"{e} (CPC checkpoint not found: use bundled:cpc, the encoder shipped with serkit, or "
                              "pretrain one with serkit pretrain cpc --audio DIR --out OUT and pass OUT)") from None


def read_cpc_checkpoint(path: PathLike) -> dict[str, Any]:
    """The dict of a CPC checkpoint, found and read as every serkit checkpoint is
    (:func:`serkit.checkpoint_file.read_checkpoint_file`); old ``cpc.pt`` files are upgraded.

    Args:
        path: ``bundled:cpc``, a checkpoint written by ``serkit pretrain cpc``, or its output folder
            (``checkpoint.pt`` when the run has finished, else ``last.pt``).

    Raises:
        CheckpointError: no such file or not a serkit CPC checkpoint (the message says how to get one).
    """
    p, d = read_checkpoint_file(_find_cpc(path))
    if is_legacy_cpc_checkpoint(d):
        d = upgrade_legacy_cpc_checkpoint(d)
    model = (d.get("config") or {}).get("model") if isinstance(d.get("config"), dict) else None
    name = model.get("name") if isinstance(model, dict) else None
    if name != "cpc" or "state_dict" not in d:
        raise CheckpointError(f"{p}: not a serkit CPC checkpoint (model {name!r}, expected 'cpc'); pass bundled:cpc "
                              "or a checkpoint written by serkit pretrain cpc")
    return d


def cpc_from_checkpoint(ck: dict[str, Any]) -> CpcModel:
    """Rebuild a CpcModel from a checkpoint dict (see :func:`read_cpc_checkpoint`)."""
    model = CpcModel(cpc_config_from_dict(ck["config"]["model"]))
    model.load_state_dict(ck["state_dict"])
    return model


def load_cpc(path: PathLike) -> CpcModel:
    """Load a CPC checkpoint in eval mode, once per process and version of the file.

    Args:
        path: ``bundled:cpc``, a checkpoint file or a ``serkit pretrain cpc`` output folder.

    Returns:
        the model (shared: do not train the returned object; use :func:`read_cpc_checkpoint` and
        :func:`cpc_from_checkpoint` for a private copy).
    """
    return load_frozen("cpc", _find_cpc(path), lambda f: cpc_from_checkpoint(read_cpc_checkpoint(f)))


def cpc_features(signal: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Frozen CPC features of one 16 kHz mono signal.

    Args:
        signal: ``(S,)`` float32.
        cfg: feature config with ``encoder`` = CPC checkpoint (``bundled:cpc`` or a path) and ``layer`` (None/1 = GRU
            context ``c_t``, the paper's representation; 0 = encoder output ``z_t``).

    Returns:
        ``(T, 256)`` (or ``(T, 128)`` for layer 0) float32, ``T = S // 160``.

    Raises:
        ConfigError: ``cfg.encoder`` is not set.
    """
    if not cfg.encoder:
        raise ConfigError("features.name=cpc needs features.encoder = a CPC checkpoint: bundled:cpc (shipped with "
                          "serkit), or pretrain one with serkit pretrain cpc --audio DIR --out OUT and set features.encoder=OUT")
    model = load_cpc(cfg.encoder)
    x = torch.from_numpy(np.ascontiguousarray(signal, dtype=np.float32))[None]  # (1, S)
    with torch.no_grad():
        y, n = model.representation(x, torch.tensor([x.shape[1]]), layer=cfg.layer)
    return y[0, : int(n[0])].numpy().astype(np.float32)


__all__ = ["CHECKPOINT_KIND", "CpcConfig", "CpcEncoder", "CpcModel", "build_cpc", "conv_output_lengths", "cpc_features",
           "cpc_from_checkpoint", "is_legacy_cpc_checkpoint", "load_cpc", "read_cpc_checkpoint", "tiny_cpc_config",
           "upgrade_legacy_cpc_checkpoint"]
