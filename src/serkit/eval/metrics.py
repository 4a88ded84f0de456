"""Metrics on arrays: WA, UA, macro-F1, confusion matrix (scikit-learn) and CCC (numpy).

WA is plain accuracy; UA is the mean per-class recall (unweighted average recall); F1 is
macro-averaged; CCC is Lin's concordance correlation coefficient, per dimension.

Examples:
    >>> weighted_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
    0.75
    >>> unweighted_accuracy([0, 0, 0, 1], [0, 0, 0, 0])
    0.5
    >>> round(concordance_cc([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), 6)
    1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm


def weighted_accuracy(y_true: Sequence, y_pred: Sequence) -> float:
    """Accuracy over all utterances (WA)."""
    return float(skm.accuracy_score(y_true, y_pred))


def unweighted_accuracy(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """Mean recall over the classes present in ``y_true`` (UA / UAR)."""
    present = sorted(set(np.asarray(y_true).tolist()))
    if labels is not None:
        present = [c for c in labels if c in set(present)]
    return float(skm.recall_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def macro_f1(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> float:
    """Macro-averaged F1 over the classes present in ``y_true``."""
    present = sorted(set(np.asarray(y_true).tolist()))
    if labels is not None:
        present = [c for c in labels if c in set(present)]
    return float(skm.f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))


def confusion(y_true: Sequence, y_pred: Sequence, labels: Sequence) -> np.ndarray:
    """Confusion matrix ``(C, C)``: rows true, columns predicted, in ``labels`` order."""
    return skm.confusion_matrix(y_true, y_pred, labels=list(labels))


def concordance_cc(x: Sequence[float], y: Sequence[float]) -> float:
    """Lin's concordance correlation coefficient of two 1-D arrays.

    ``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)`` with population moments.
    Returns 0.0 when both inputs are constant and unequal (undefined, no agreement).
    """
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"CCC needs two 1-D arrays of equal length, got {a.shape} and {b.shape}")
    ma, mb = a.mean(), b.mean()
    va, vb = a.var(), b.var()
    cov = ((a - ma) * (b - mb)).mean()
    den = va + vb + (ma - mb) ** 2
    return float(2 * cov / den) if den > 0 else (1.0 if np.allclose(a, b) else 0.0)


def ccc_per_dimension(y_true: np.ndarray, y_pred: np.ndarray,
                      names: Sequence[str] = ("arousal", "valence", "dominance")) -> dict[str, float]:
    """CCC for each column of ``(N, D)`` arrays, keyed by dimension name."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    return {n: concordance_cc(t[:, i], p[:, i]) for i, n in enumerate(names[: t.shape[1]])}


def classification_scores(y_true: Sequence, y_pred: Sequence, labels: Sequence | None = None) -> dict[str, float]:
    """``{"ua", "wa", "f1"}`` for one fold."""
    return {"ua": unweighted_accuracy(y_true, y_pred, labels), "wa": weighted_accuracy(y_true, y_pred),
            "f1": macro_f1(y_true, y_pred, labels)}
