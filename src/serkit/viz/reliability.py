"""Reliability diagram: accuracy against confidence per bin, before and after calibration."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from serkit.typing import PathLike
from serkit.viz.figure import save_figure


def plot_reliability(curves: Mapping[str, Mapping[str, np.ndarray]], path: PathLike, *, title: str = "",
                     ece: Mapping[str, float] | None = None, band: str | None = None) -> Path:
    """Reliability diagram of one or more score sets (e.g. "uncalibrated", "temperature").

    Args:
        curves: name -> :func:`serkit.eval.metrics.calibration_bins` output
            (``confidence``, ``accuracy``, ``count`` per bin).
        path: output PNG.
        title: plot title.
        ece: name -> ECE, shown in the legend.
        band: name of the curve whose consistency band is drawn: per bin, the 5-95 % range of the
            accuracy a perfectly calibrated model would show with that bin's count and mean
            confidence (binomial; Bröcker and Smith 2007). Points inside it are consistent with
            perfect calibration at this test-set size.

    Returns:
        the written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, axh) = plt.subplots(2, 1, figsize=(4.6, 5.6), height_ratios=[3, 1], sharex=True)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    n_bins = len(next(iter(curves.values()))["count"])
    edges = np.linspace(0, 1, n_bins + 1)
    width = 1.0 / n_bins
    if band is not None:
        from scipy.stats import binom

        b = curves[band]
        n, c = np.asarray(b["count"]), np.asarray(b["confidence"], dtype=float)
        m = n > 0
        lo, hi = binom.ppf(0.05, n[m], c[m]) / n[m], binom.ppf(0.95, n[m], c[m]) / n[m]
        ax.vlines(c[m], lo, hi, color="grey", alpha=0.45, lw=5, label=f"5-95 % if perfectly calibrated ({band})")
    for k, (name, b) in enumerate(curves.items()):
        m = np.asarray(b["count"]) > 0
        lab = name + (f" (ECE {ece[name]:.3f})" if ece and name in ece else "")
        ax.plot(np.asarray(b["confidence"])[m], np.asarray(b["accuracy"])[m], marker="o", ms=4, lw=1.5, label=lab)
        off = (k - (len(curves) - 1) / 2) * width / max(len(curves), 1)
        axh.bar(edges[:-1] + width / 2 + off, b["count"], width=width / max(len(curves), 1), alpha=0.7)
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="upper left")
    if title:
        ax.set_title(title, fontsize=9)
    axh.set_xlabel("confidence (top-label probability)")
    axh.set_ylabel("utterances")
    return save_figure(fig, path)
