"""Pure tensor functions: spectrogram, log-Mel, MFCC, deltas, CMVN, masks.

torchaudio cannot be installed beside serkit's pinned torch, so the three spectral transforms
follow torchaudio's definitions (HTK Mel scale, ortho DCT-II) in plain torch; tests compare
them with librosa-free closed forms. Every front-end returns ``(..., T, F)``.

Examples:
    >>> import torch
    >>> log_mel(torch.randn(2, 16000), n_mels=40).shape
    torch.Size([2, 101, 40])
"""

from __future__ import annotations

import math

import torch


def _frames(n_samples: int, hop_length: int) -> int:
    return n_samples // hop_length + 1


def spectrogram(waves: torch.Tensor, *, n_fft: int = 512, win_length: int = 400, hop_length: int = 160,
                power: float = 2.0) -> torch.Tensor:
    """Power spectrogram with a Hann window, centred frames.

    Args:
        waves: ``(..., S)`` float at 16 kHz.
        n_fft: FFT size in samples.
        win_length: window length in samples.
        hop_length: hop in samples.
        power: 1 for magnitude, 2 for power.

    Returns:
        ``(..., T, n_fft // 2 + 1)`` with ``T = S // hop_length + 1``.
    """
    shape = waves.shape
    x = waves.reshape(-1, shape[-1])  # (B, S)
    win = torch.hann_window(win_length, device=waves.device, dtype=waves.dtype)
    spec = torch.stft(x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=win,
                      center=True, pad_mode="reflect" if shape[-1] > n_fft // 2 else "constant",
                      return_complex=True)  # (B, F, T)
    spec = spec.abs().pow(power).transpose(1, 2)  # (B, T, F)
    return spec.reshape(*shape[:-1], spec.shape[-2], spec.shape[-1])


def mel_filterbank(n_freqs: int, n_mels: int, *, sample_rate: int = 16000, f_min: float = 0.0,
                   f_max: float | None = None) -> torch.Tensor:
    """Triangular HTK-Mel filterbank ``(n_freqs, n_mels)`` (torchaudio's melscale_fbanks, norm=None)."""
    f_max = f_max or sample_rate / 2

    def hz2mel(f: float) -> float:
        return 2595.0 * math.log10(1.0 + f / 700.0)

    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs)
    m_pts = torch.linspace(hz2mel(f_min), hz2mel(f_max), n_mels + 2)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]  # (n_mels + 1,)
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)  # (n_freqs, n_mels + 2)
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.clamp(torch.minimum(down, up), min=0.0)  # (n_freqs, n_mels)


def log_mel(waves: torch.Tensor, *, n_mels: int = 64, n_fft: int = 512, win_length: int = 400,
            hop_length: int = 160, sample_rate: int = 16000, eps: float = 1e-6) -> torch.Tensor:
    """Log Mel power spectrogram.

    Args:
        waves: ``(..., S)``.
        n_mels: Mel bands.

    Returns:
        ``(..., T, n_mels)``, natural log of (power + eps).
    """
    spec = spectrogram(waves, n_fft=n_fft, win_length=win_length, hop_length=hop_length)  # (..., T, F)
    fb = mel_filterbank(spec.shape[-1], n_mels, sample_rate=sample_rate).to(spec)
    return torch.log(spec @ fb + eps)  # (..., T, n_mels)


def dct_matrix(n_mfcc: int, n_mels: int) -> torch.Tensor:
    """Orthonormal DCT-II ``(n_mels, n_mfcc)`` (torchaudio's create_dct, norm='ortho')."""
    n = torch.arange(n_mels, dtype=torch.float64)
    k = torch.arange(n_mfcc, dtype=torch.float64).unsqueeze(1)
    dct = torch.cos(math.pi / n_mels * (n + 0.5) * k)  # (n_mfcc, n_mels)
    dct[0] *= 1.0 / math.sqrt(2.0)
    dct *= math.sqrt(2.0 / n_mels)
    return dct.t().float()


def mfcc(waves: torch.Tensor, *, n_mfcc: int = 40, n_mels: int = 64, **kw) -> torch.Tensor:
    """MFCCs: DCT-II of the log-Mel spectrogram.

    Returns:
        ``(..., T, n_mfcc)``.
    """
    lm = log_mel(waves, n_mels=n_mels, **kw)
    return lm @ dct_matrix(n_mfcc, n_mels).to(lm)


def deltas(x: torch.Tensor, *, win: int = 2) -> torch.Tensor:
    """Regression deltas along time of ``(..., T, F)`` (HTK formula, edge-padded)."""
    t = x.shape[-2]
    denom = 2 * sum(n * n for n in range(1, win + 1))
    pad = torch.cat([x[..., :1, :].expand(*x.shape[:-2], win, x.shape[-1]), x,
                     x[..., -1:, :].expand(*x.shape[:-2], win, x.shape[-1])], dim=-2)
    out = torch.zeros_like(x)
    for n in range(1, win + 1):
        out = out + n * (pad[..., win + n: win + n + t, :] - pad[..., win - n: win - n + t, :])
    return out / denom


def lengths_to_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """Padding mask ``(B, T)`` with ``True`` = padded, as PyTorch's ``key_padding_mask``.

    The one place where lengths become a mask (STYLE.md: lengths cross module boundaries).

    Args:
        lengths: ``(B,)`` valid steps per row.
        max_len: ``T``; default ``max(lengths)``.
    """
    # max_len stays as given: under ONNX tracing a shape is symbolic and must not become an int
    t = max_len if max_len is not None else (int(lengths.max()) if lengths.numel() else 0)
    return torch.arange(t, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)


def frames_for(n_samples: torch.Tensor, hop_length: int = 160) -> torch.Tensor:
    """Frame counts of centred STFT frames for sample counts ``(B,)``."""
    return torch.div(n_samples, hop_length, rounding_mode="floor") + 1


#: variance floor of every per-utterance standardisation (``x / sqrt(var + eps)``), the value of
#: Hugging Face's Wav2Vec2FeatureExtractor, so pretrained SSL encoders see their own preprocessing.
STANDARDISE_EPS = 1e-7


def _valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(B, T, 1, ...)`` 1.0 on valid steps of ``x (B, T, ...)``, broadcastable against ``x``."""
    valid = (~lengths_to_mask(lengths, x.shape[1])).to(x.dtype)  # (B, T)
    return valid[(...,) + (None,) * (x.dim() - 2)]


def masked_mean(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the valid steps of dim 1: ``x (B, T, ...)``, ``lengths (B,)`` -> ``(B, ...)``.

    Rows with no valid step give zeros.
    """
    valid = _valid(x, lengths)  # (B, T, 1...)
    return (x * valid).sum(1) / valid.sum(1).clamp(min=1)


def masked_mean_var(x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (biased) variance over the valid steps of dim 1: ``(B, T, ...)`` -> two ``(B, ...)``."""
    valid = _valid(x, lengths)  # (B, T, 1...)
    n = valid.sum(1).clamp(min=1)
    mean = (x * valid).sum(1) / n
    var = (((x - mean.unsqueeze(1)) * valid) ** 2).sum(1) / n
    return mean, var


def masked_standardise(x: torch.Tensor, lengths: torch.Tensor | None = None, *,
                       eps: float = STANDARDISE_EPS) -> torch.Tensor:
    """Zero mean, unit variance per row over its valid steps of dim 1; padding stays 0.

    Args:
        x: ``(B, T, ...)``, e.g. waves ``(B, S)`` or features ``(B, T, F)`` (per bin).
        lengths: ``(B,)`` valid steps; None = all.
        eps: variance floor.

    Returns:
        ``x``'s shape.
    """
    if lengths is None:
        lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
    mean, var = masked_mean_var(x, lengths)
    return (x - mean.unsqueeze(1)) / torch.sqrt(var.unsqueeze(1) + eps) * _valid(x, lengths)


def cmvn(x: torch.Tensor, lengths: torch.Tensor | None = None, eps: float = STANDARDISE_EPS) -> torch.Tensor:
    """Per-utterance mean/variance normalisation of ``(B, T, F)`` over valid frames."""
    return masked_standardise(x, lengths, eps=eps)
