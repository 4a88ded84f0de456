"""Training losses.

``ccc_loss``: the dimensional-emotion loss of Li et al., "Contrastive Unsupervised Learning for
Speech Emotion Recognition", ICASSP 2021 (arXiv:2102.06357), Section 2.3:
``L = 1 - alpha CCC_act - beta CCC_val - gamma CCC_dom``, with Lin's concordance correlation
coefficient computed over the batch (population moments, as :func:`serkit.eval.metrics.concordance_cc`).

Examples:
    >>> import torch
    >>> y = torch.tensor([[1.0, 2.0, 3.0], [2.0, 1.0, 0.0], [3.0, 0.0, 1.0]])
    >>> round(float(ccc_loss(y, y, (1.0, 1.0, 1.0))), 6)
    -2.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def concordance_cc_torch(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """CCC per column of ``(B, D)`` tensors over the batch axis -> ``(D,)`` (differentiable)."""
    mp, mt = pred.mean(0), target.mean(0)
    vp = ((pred - mp) ** 2).mean(0)
    vt = ((target - mt) ** 2).mean(0)
    cov = ((pred - mp) * (target - mt)).mean(0)
    return 2 * cov / (vp + vt + (mp - mt) ** 2 + eps)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """``1 - sum_d w_d CCC_d`` over arousal, valence, dominance.

    Args:
        pred: ``(B, 3)`` predictions.
        target: ``(B, 3)`` labels (NaN rows are ignored).
        weights: alpha, beta, gamma (``train.avd_weights``).

    Returns:
        scalar loss; with weights summing to 1 it lies in [0, 2] (0 = perfect agreement).

    Raises:
        ValueError: shapes differ, or fewer than 2 labelled rows (CCC needs a batch).
    """
    if pred.shape != target.shape or pred.dim() != 2:
        raise ValueError(f"ccc_loss needs pred and target of equal shape (B, 3), got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    keep = ~torch.isnan(target).any(1)
    if int(keep.sum()) < 2:
        raise ValueError("ccc_loss needs at least 2 labelled rows in a batch (CCC is a batch statistic); "
                         "use train.batch_size >= 2")
    w = torch.as_tensor(list(weights), dtype=pred.dtype, device=pred.device)
    if w.numel() != pred.shape[1]:
        raise ValueError(f"ccc_loss: {w.numel()} weights for {pred.shape[1]} dimensions")
    return 1 - (w * concordance_cc_torch(pred[keep], target[keep])).sum()
