"""Metrics on arrays: WA, UA, macro-F1, confusion matrix (scikit-learn), CCC and ECE (numpy).

WA is plain accuracy; UA is the mean per-class recall (unweighted average recall); F1 is
macro-averaged; CCC is Lin's concordance correlation coefficient, per dimension; ECE is the
expected calibration error of the top label over 15 equal-width confidence bins, with the
ECE a perfectly calibrated model would show on a test set of the same size (:func:`ece_consistency`).

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
from numpy.typing import ArrayLike
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


def concordance_cc(x: ArrayLike, y: ArrayLike) -> float:
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


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bin of each confidence: bin i holds (i/n, (i+1)/n]; confidence 0 goes into the first."""
    return np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)


def calibration_bins(probs: np.ndarray, y_true: Sequence[int] | np.ndarray, n_bins: int = 15) -> dict[str, np.ndarray]:
    """Top-label reliability bins: equal-width confidence bins over [0, 1].

    Args:
        probs: ``(N, C)`` class probabilities (rows sum to 1).
        y_true: ``(N,)`` true class indices into the columns of ``probs``.
        n_bins: number of bins (15 as Guo et al., "On Calibration of Modern Neural Networks",
            ICML 2017).

    Returns:
        ``{"confidence", "accuracy", "count"}``, each ``(n_bins,)``; empty bins have count 0 and
        confidence / accuracy NaN.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true)
    if p.ndim != 2 or y.shape != (p.shape[0],):
        raise ValueError(f"calibration_bins needs probs (N, C) and y_true (N,), got {p.shape} and {y.shape}")
    conf = p.max(1)
    correct = (p.argmax(1) == y).astype(np.float64)
    idx = _bin_index(conf, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.bincount(idx, weights=conf, minlength=n_bins) / count
        a = np.bincount(idx, weights=correct, minlength=n_bins) / count
    return {"confidence": c, "accuracy": a, "count": count}


def expected_calibration_error(probs: np.ndarray, y_true: Sequence[int] | np.ndarray, n_bins: int = 15) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over reliability bins.

    ``sum_b |B_b| / N * |acc(B_b) - conf(B_b)|`` on the top label (Guo et al., ICML 2017).

    Args:
        probs: ``(N, C)`` class probabilities.
        y_true: ``(N,)`` true class indices.
        n_bins: equal-width confidence bins (15 by default).

    Examples:
        >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), [0, 1])
        0.4
    """
    b = calibration_bins(probs, y_true, n_bins)
    n = b["count"].sum()
    if n == 0:
        raise ValueError("expected_calibration_error needs at least one prediction")
    m = b["count"] > 0
    return float(np.sum(b["count"][m] / n * np.abs(b["accuracy"][m] - b["confidence"][m])))


def ece_consistency(probs: np.ndarray, n_bins: int = 15, *, draws: int = 2000, seed: int = 0,
                    observed: float | None = None) -> dict[str, float]:
    """The ECE a *perfectly calibrated* model with these scores would show on a test set this size.

    ECE over a finite test set is biased upwards: even when every top-label confidence is exactly
    the probability of being right, the accuracy within a bin scatters around its confidence, and
    the count-weighted gaps add up. Consistency resampling (Bröcker and Smith, "Increasing the
    reliability of reliability diagrams", Weather and Forecasting 2007) measures that floor: draw
    the scores with replacement, draw each outcome as correct with probability equal to its
    confidence, and compute the ECE; repeat ``draws`` times. An observed ECE below the 95th
    percentile is consistent with perfect calibration at this test-set size.

    Args:
        probs: ``(N, C)`` class probabilities (only the top-label confidence is used).
        n_bins: bins of :func:`expected_calibration_error`.
        draws: resamples.
        seed: random seed (the figures are reproducible).
        observed: the test set's actual ECE; if given, ``p`` is the share of resamples at least as large.

    Returns:
        ``{"mean", "p95", "n"}`` (and ``"p"`` with ``observed``).

    Examples:
        >>> p = np.tile([0.7, 0.3], (100, 1))
        >>> r = ece_consistency(p, draws=500)
        >>> 0.02 < r["mean"] < 0.07 and r["mean"] < r["p95"]
        True
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) == 0:
        raise ValueError(f"ece_consistency needs probs (N, C) with N > 0, got shape {p.shape}")
    conf = p.max(1)
    n = len(conf)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(draws, n))
    c = conf[idx]
    correct = rng.random((draws, n)) < c
    b = _bin_index(c, n_bins) + n_bins * np.arange(draws)[:, None]  # one block of bins per draw
    size = draws * n_bins
    gap = (np.bincount(b.ravel(), weights=c.ravel(), minlength=size)
           - np.bincount(b.ravel(), weights=correct.ravel().astype(np.float64), minlength=size)).reshape(draws, n_bins)
    ece = np.abs(gap).sum(1) / n  # sum_b |B_b|/N * |conf_b - acc_b| = sum_b |sum conf - sum correct| / N
    out = {"mean": float(ece.mean()), "p95": float(np.percentile(ece, 95)), "n": int(n)}
    if observed is not None:
        out["p"] = float(np.mean(ece >= observed))
    return out


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1).

    Examples:
        >>> edit_distance("kitten", "sitting")
        3
    """
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def character_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus-level CER: total character edit distance over total reference characters.

    Args:
        refs: reference transcripts (already normalised the way the hypotheses are).
        hyps: hypotheses, one per reference.

    Raises:
        ValueError: different numbers of references and hypotheses, or no reference characters.

    Examples:
        >>> character_error_rate(["abc", "de"], ["abd", "de"])
        0.2
    """
    if len(refs) != len(hyps):
        raise ValueError(f"character_error_rate needs one hypothesis per reference, got {len(refs)} "
                         f"references and {len(hyps)} hypotheses")
    total = sum(len(r) for r in refs)
    if total == 0:
        raise ValueError("character_error_rate: the references have no characters")
    return sum(edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)) / total
