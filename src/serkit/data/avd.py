"""Arousal / valence / dominance targets: the training-set statistics and the (de-)standardisation.

Models regress standardised A/V/D (zero mean, unit variance over the training utterances); the
statistics travel in the checkpoint as ``avd_stats = {"mean": [3], "std": [3]}`` on the corpus'
raw scale, and every prediction is mapped back with :func:`destandardise_avd`.

Examples:
    >>> stats = {"mean": [3.0, 3.0, 3.0], "std": [1.0, 0.5, 2.0]}
    >>> destandardise_avd(standardise_avd([4.0, 2.0, 3.0], stats), stats).tolist()
    [4.0, 2.0, 3.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from serkit.data.manifest import AVD as AVD_NAMES

if TYPE_CHECKING:
    from serkit.data.manifest import Utterance

#: ``{"mean": [a, v, d], "std": [a, v, d]}`` on the corpus' raw scale
AvdStats = Mapping[str, Sequence[float]]


def fit_avd_stats(utts: Sequence[Utterance]) -> dict[str, list[float]] | None:
    """Mean and std of the A/V/D labels of ``utts``; None with fewer than two labelled utterances."""
    a = np.array([u.avd for u in utts if u.avd is not None], dtype=np.float64)
    if len(a) < 2:
        return None
    return {"mean": a.mean(0).tolist(), "std": (a.std(0) + 1e-8).tolist()}


def standardise_avd(avd: Sequence[float] | np.ndarray, stats: AvdStats | None) -> np.ndarray:
    """Raw-scale ``(..., 3)`` -> standardised; ``stats`` None returns the values unchanged."""
    a = np.asarray(avd, dtype=np.float64)
    if not stats:
        return a
    return (a - np.asarray(stats["mean"], dtype=np.float64)) / np.asarray(stats["std"], dtype=np.float64)


def destandardise_avd(avd: Sequence[float] | np.ndarray, stats: AvdStats | None) -> np.ndarray:
    """Standardised model output ``(..., 3)`` -> the corpus' raw scale; ``stats`` None: unchanged."""
    a = np.asarray(avd, dtype=np.float64)
    if not stats:
        return a
    return a * np.asarray(stats["std"], dtype=np.float64) + np.asarray(stats["mean"], dtype=np.float64)


__all__ = ["AVD_NAMES", "AvdStats", "destandardise_avd", "fit_avd_stats", "standardise_avd"]
