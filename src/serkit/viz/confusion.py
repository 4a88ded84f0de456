"""Confusion-matrix plot, and the figures of a saved evaluation report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from serkit.typing import PathLike
from serkit.viz.figure import save_figure

if TYPE_CHECKING:
    from serkit.eval.report import Report


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: PathLike, *, title: str = "") -> Path:
    """Row-normalised confusion matrix with counts, saved as PNG.

    Args:
        matrix: ``(C, C)`` counts, rows true.
        labels: class names.
        path: output PNG.
        title: plot title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=float)
    rec = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.7 * n))
    im = ax.imshow(rec, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{rec[i, j]:.2f}\n({int(m[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if rec[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="recall")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def save_report_figures(report: Report, json_path: PathLike) -> dict[str, Path]:
    """The figures of a report saved at ``json_path``: ``<stem>.confusion.png`` (pooled over folds).

    Returns:
        ``{"confusion": path}``, or ``{}`` when no prediction has a true class (regression only).
    """
    if not any(p.true is not None for p in report.predictions):
        return {}
    p = Path(json_path)
    png = p.with_name(p.stem + ".confusion.png")
    return {"confusion": plot_confusion(report.confusion_matrix(), report.labels, png, title=report.short_title())}
