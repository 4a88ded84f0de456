"""Blocks shared by several models: input checks, length arithmetic, masked pooling, attentive
pooling, length-aware convolution blocks and a packed BiLSTM.

Every block takes absolute ``lengths (B,)`` and keeps padded frames out of its results, so a
padded batch gives the same outputs as the utterances run one by one (in eval mode). Padded
frames are kept at exactly zero between blocks: a "same"-padded convolution then sees the same
zeros at the end of a short utterance whether they come from batch padding or from its own
zero padding.

Examples:
    >>> import torch
    >>> x, lengths = torch.randn(2, 50, 8), torch.tensor([50, 20])
    >>> masked_mean_std(x, lengths).shape
    torch.Size([2, 16])
    >>> pooled, weights = AttentivePooling(8, num_heads=2)(x, lengths)
    >>> pooled.shape, weights.shape
    (torch.Size([2, 16]), torch.Size([2, 2, 50]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch
from torch import nn

from serkit.errors import ConfigError
from serkit.features.functional import lengths_to_mask, masked_mean, masked_mean_var

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
POOLS = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}


class ConvStackConfig(Protocol):
    """The fields of a 2-D CNN stack config (read-only, as in the frozen model configs)."""

    @property
    def channels(self) -> Sequence[int]: ...
    @property
    def pool_time(self) -> Sequence[int]: ...
    @property
    def pool_freq(self) -> Sequence[int]: ...
    @property
    def kernel_size(self) -> int: ...
    @property
    def activation(self) -> str: ...


def check_conv_stack_config(cfg: ConvStackConfig, *, example: str) -> None:
    """Check the CNN-stack fields shared by the 2-D CNN models (``CnnStack2d`` configs).

    Args:
        cfg: a model config with ``channels``, ``pool_time``, ``pool_freq``, ``kernel_size``
            and ``activation``.
        example: a valid ``channels`` value for the error message.

    Raises:
        ConfigError: naming the field and the fix.
    """
    if not cfg.channels:
        raise ConfigError(f"model.channels must list at least one conv block, e.g. {example}")
    if not (len(cfg.channels) == len(cfg.pool_time) == len(cfg.pool_freq)):
        raise ConfigError(f"model.channels, model.pool_time and model.pool_freq need one value per block, got "
                          f"{list(cfg.channels)}, {list(cfg.pool_time)}, {list(cfg.pool_freq)}")
    if any(p < 1 for p in (*cfg.pool_time, *cfg.pool_freq)) or any(c < 1 for c in cfg.channels):
        raise ConfigError("model.channels, model.pool_time and model.pool_freq must be positive integers")
    if cfg.kernel_size < 1 or cfg.kernel_size % 2 == 0:
        raise ConfigError(f"model.kernel_size must be a positive odd integer, got {cfg.kernel_size}")
    if cfg.activation not in ACTIVATIONS:
        raise ConfigError(f"model.activation must be one of {sorted(ACTIVATIONS)}, got {cfg.activation!r}")


def check_inputs(x: torch.Tensor, lengths: torch.Tensor, *, input_dim: int, model: str) -> None:
    """Check a ``(B, T, F)`` feature batch and its lengths; raise a clear error otherwise.

    Args:
        x: ``(B, T, F)`` features.
        lengths: ``(B,)`` int64 valid frames, each in ``[1, T]``.
        input_dim: expected F.
        model: model name for the message.

    Raises:
        ValueError: wrong rank, feature size or lengths (zero-length inputs included).
    """
    if x.dim() != 3:
        raise ValueError(f"{model}: expected features (B, T, F), got shape {tuple(x.shape)}; "
                         "use frame-level features (logmel, spectrogram, mfcc, *_lld)")
    if x.shape[-1] != input_dim:
        raise ValueError(f"{model}: expected {input_dim} features per frame, got {x.shape[-1]}; "
                         "build the model with input_dim equal to the front-end's feature size")
    if lengths.dim() != 1 or lengths.shape[0] != x.shape[0]:
        raise ValueError(f"{model}: lengths must have shape ({x.shape[0]},), got {tuple(lengths.shape)}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > x.shape[1]):
        raise ValueError(f"{model}: lengths must lie in [1, {x.shape[1]}] frames, got "
                         f"min {int(lengths.min())}, max {int(lengths.max())}; drop empty utterances "
                         "(serkit.data.audio rejects files shorter than its minimum duration)")


def ensure_min_frames(x: torch.Tensor, lengths: torch.Tensor, min_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad utterances shorter than ``min_frames`` (and count the padding as valid).

    Down-sampling stacks need a minimum length to keep one frame. Because padded frames are zero
    in a batch anyway, treating them as valid gives identical results batched or one by one.

    Args:
        x: ``(B, T, F)``.
        lengths: ``(B,)``.
        min_frames: minimum valid length.

    Returns:
        ``(x, lengths)`` with ``T >= min_frames`` and every length ``>= min_frames``.
    """
    if x.shape[1] < min_frames:
        x = nn.functional.pad(x, (0, 0, 0, min_frames - x.shape[1]))  # (B, min_frames, F)
    return x, lengths.clamp(min=min_frames)


def conv_lengths(lengths: torch.Tensor, kernel_size: int, stride: int = 1, padding: int = 0,
                 dilation: int = 1) -> torch.Tensor:
    """Output lengths of a convolution or pooling along time (floor mode), as PyTorch computes them.

    ``L_out = floor((L + 2 padding - dilation (kernel_size - 1) - 1) / stride) + 1``, at least 0.

    Examples:
        >>> conv_lengths(torch.tensor([7, 8]), kernel_size=2, stride=2).tolist()
        [3, 4]
    """
    out = torch.div(lengths + 2 * padding - dilation * (kernel_size - 1) - 1, stride, rounding_mode="floor") + 1
    return out.clamp(min=0)


def zero_padded(x: torch.Tensor, lengths: torch.Tensor, *, time_dim: int = 1) -> torch.Tensor:
    """Set the padded frames of ``x`` to zero along ``time_dim`` (``lengths (B,)``, batch first)."""
    mask = lengths_to_mask(lengths, x.shape[time_dim])  # (B, T) True = padded
    shape = [x.shape[0]] + [1] * (x.dim() - 1)
    shape[time_dim] = x.shape[time_dim]
    return x.masked_fill(mask.view(shape), 0.0)


def masked_mean_std(x: torch.Tensor, lengths: torch.Tensor, *, eps: float = 1e-5) -> torch.Tensor:
    """Statistics pooling: mean and standard deviation over valid frames, ``(B, T, D)`` -> ``(B, 2D)``.

    ``eps`` keeps the gradient of the square root finite for constant inputs.
    """
    mean, var = masked_mean_var(x, lengths)  # (B, D) each
    return torch.cat([mean, torch.sqrt(var + eps)], dim=-1)  # (B, 2D)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax with ``mask`` (True = excluded) set to zero weight; rows fully masked give zeros."""
    scores = scores.masked_fill(mask, float("-inf"))
    w = torch.softmax(scores, dim=dim)
    return torch.nan_to_num(w, nan=0.0)


class AttentivePooling(nn.Module):
    """Multi-head self-attentive pooling over time (Lin et al., ICLR 2017, "A structured
    self-attentive sentence embedding"): ``A = softmax_T(W2 tanh(W1 h_t))``, one row per head;
    each head's weighted sum of the frames is concatenated.

    Args:
        dim: D of the input frames.
        num_heads: H attention heads (hops).
        hidden_dim: size of the tanh layer (``d_a``); defaults to D.

    Shapes:
        ``x (B, T, D)``, ``lengths (B,)`` -> ``(pooled (B, H*D), weights (B, H, T))``; weights of
        padded frames are exactly 0 and each head's weights sum to 1 over valid frames.
    """

    def __init__(self, dim: int, *, num_heads: int = 1, hidden_dim: int | None = None) -> None:
        super().__init__()
        if dim < 1 or num_heads < 1:
            raise ValueError(f"AttentivePooling needs dim >= 1 and num_heads >= 1, got {dim}, {num_heads}")
        self.num_heads = num_heads
        self.proj = nn.Linear(dim, hidden_dim or dim)
        self.score = nn.Linear(hidden_dim or dim, num_heads, bias=False)
        self.out_dim = num_heads * dim

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Pool ``(B, T, D)`` to ``(B, H*D)``; also return the weights ``(B, H, T)``."""
        scores = self.score(torch.tanh(self.proj(x))).transpose(1, 2)  # (B, H, T)
        mask = lengths_to_mask(lengths, x.shape[1]).unsqueeze(1)  # (B, 1, T)
        w = masked_softmax(scores, mask, dim=-1)  # (B, H, T)
        pooled = torch.bmm(w, x)  # (B, H, D)
        return pooled.flatten(1), w  # (B, H*D), (B, H, T)


class ConvPoolBlock2d(nn.Module):
    """Conv2d -> BatchNorm2d -> activation -> pooling -> dropout over ``(B, C, T, F)``, length-aware.

    The convolution is "same"-padded (odd kernels) so the time axis changes only through the
    pooling; padded frames are reset to zero before pooling and pooling runs in floor mode, so a
    valid output frame only ever sees valid input frames.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: odd ``(kt, kf)`` or one odd int.
        pool: ``(pt, pf)`` pooling kernel = stride; 1 keeps the axis.
        pool_type: ``avg`` or ``max``.
        activation: a key of :data:`ACTIVATIONS`.
        dropout: dropout after pooling.
    """

    def __init__(self, in_channels: int, out_channels: int, *, kernel_size: int | Sequence[int] = 3,
                 pool: int | Sequence[int] = 2, pool_type: str = "avg", activation: str = "relu",
                 dropout: float = 0.0) -> None:
        super().__init__()
        kt, kf = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if kt % 2 == 0 or kf % 2 == 0:
            raise ValueError(f"ConvPoolBlock2d kernel_size must be odd (same padding), got {(kt, kf)}")
        pt, pf = (pool, pool) if isinstance(pool, int) else tuple(pool)
        if pool_type not in POOLS:
            raise ValueError(f"unknown pool_type {pool_type!r}; expected one of {sorted(POOLS)}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}")
        self.conv = nn.Conv2d(in_channels, out_channels, (kt, kf), padding=(kt // 2, kf // 2))
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = ACTIVATIONS[activation]()
        self.pool = POOLS[pool_type]((pt, pf), stride=(pt, pf)) if (pt, pf) != (1, 1) else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.pool_time, self.pool_freq = pt, pf

    def out_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Time lengths after this block."""
        return conv_lengths(lengths, self.pool_time, self.pool_time)

    def out_freq(self, n_freq: int) -> int:
        """Frequency bins after this block."""
        return n_freq // self.pool_freq

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, C, T, F)`` -> ``(B, C', T', F')`` and ``lengths (B,)`` -> ``(B,)``."""
        y = self.act(self.norm(self.conv(x)))  # (B, C', T, F)
        y = zero_padded(y, lengths, time_dim=2)
        y = self.drop(self.pool(y))  # (B, C', T', F')
        out_lengths = self.out_lengths(lengths)
        return zero_padded(y, out_lengths, time_dim=2), out_lengths


class CnnStack2d(nn.Module):
    """A stack of :class:`ConvPoolBlock2d` over ``(B, T, F)`` features, flattened back to frames.

    Args:
        input_dim: F.
        channels: output channels per block.
        kernel_size: odd kernel of every block.
        pool_time: time pooling per block (one value per block).
        pool_freq: frequency pooling per block.
        pool_type, activation, dropout: see :class:`ConvPoolBlock2d`.

    Shapes:
        ``x (B, T, F)``, ``lengths (B,)`` -> ``(y (B, T', C_last * F'), lengths (B,))``.
    """

    def __init__(self, input_dim: int, channels: Sequence[int], *, kernel_size: int | Sequence[int] = 3,
                 pool_time: Sequence[int], pool_freq: Sequence[int], pool_type: str = "avg",
                 activation: str = "relu", dropout: float = 0.0) -> None:
        super().__init__()
        if not (len(channels) == len(pool_time) == len(pool_freq)):
            raise ValueError(f"channels, pool_time and pool_freq need one value per block, got "
                             f"{len(channels)}, {len(pool_time)}, {len(pool_freq)}")
        blocks, c_in, f = [], 1, input_dim
        for c, pt, pf in zip(channels, pool_time, pool_freq, strict=True):
            blocks.append(ConvPoolBlock2d(c_in, c, kernel_size=kernel_size, pool=(pt, pf), pool_type=pool_type,
                                          activation=activation, dropout=dropout))
            c_in, f = c, f // pf
        if f < 1:
            raise ValueError(f"frequency pooling {list(pool_freq)} leaves no bins of {input_dim} input "
                             "features; pool frequency less or use more features")
        self.blocks = nn.ModuleList(blocks)
        self.out_dim = c_in * f
        self.min_frames = 1
        for pt in pool_time:
            self.min_frames *= pt

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the blocks; see the class docstring for shapes."""
        x, lengths = ensure_min_frames(x, lengths, self.min_frames)
        y = zero_padded(x, lengths).unsqueeze(1)  # (B, 1, T, F): the CNN sees a 1-channel image
        for b in self.blocks:
            y, lengths = b(y, lengths)  # (B, C, T', F')
        y = y.permute(0, 2, 1, 3).flatten(2)  # (B, T', C * F')
        return y, lengths


class PackedLSTM(nn.Module):
    """A (bi)LSTM that skips padded frames (``pack_padded_sequence``).

    Args:
        input_dim: D_in.
        hidden_dim: units per direction.
        num_layers: stacked layers.
        bidirectional: run both directions.
        dropout: between layers.

    Shapes:
        ``x (B, T, D_in)``, ``lengths (B,)`` -> ``(y (B, T, dirs*H) zero-padded, h_last (B, dirs*H))``
        where ``h_last`` concatenates the last layer's final state of each direction.
    """

    def __init__(self, input_dim: int, hidden_dim: int, *, num_layers: int = 1, bidirectional: bool = True,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.out_dim = hidden_dim * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the LSTM over valid frames only; see the class docstring for shapes."""
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, (h, _) = self.lstm(packed)
        y, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])  # (B, T, dirs*H)
        dirs = 2 if self.lstm.bidirectional else 1
        h_last = h[-dirs:].transpose(0, 1).flatten(1)  # (B, dirs*H)
        return y, h_last


__all__ = [
    "ACTIVATIONS", "AttentivePooling", "CnnStack2d", "ConvPoolBlock2d", "PackedLSTM", "check_inputs",
    "conv_lengths", "ensure_min_frames", "masked_mean", "masked_mean_std", "masked_softmax", "zero_padded",
]
