"""Plots of self-supervised pretraining logs (``steps.jsonl`` and ``history.json`` of serkit pretrain)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from serkit.typing import PathLike
from serkit.viz.figure import save_figure


def _read_steps(run_dir: Path) -> list[dict]:
    p = run_dir / "steps.jsonl"
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def plot_cpc_curve(run_dirs: PathLike | Sequence[PathLike], out: PathLike, *, smooth: int = 20,
                   labels: Sequence[str] | None = None) -> Path:
    """Positive-picking accuracy (and InfoNCE loss) against step for one or more CPC runs.

    Args:
        run_dirs: ``serkit pretrain cpc`` output folder(s).
        out: PNG path.
        smooth: moving-average window over steps.
        labels: legend names (default: folder names).

    Returns:
        the PNG path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    dirs = [Path(run_dirs)] if isinstance(run_dirs, (str, os.PathLike)) else [Path(d) for d in run_dirs]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    chance = None
    for i, d in enumerate(dirs):
        rows = _read_steps(d)
        name = labels[i] if labels else d.name
        hist_p = d / "history.json"
        hist = json.loads(hist_p.read_text()) if hist_p.is_file() else []
        if hist:
            chance = hist[0].get("chance", chance)
        if not rows:
            continue
        s = np.array([r["step"] for r in rows])
        w = max(1, min(smooth, len(rows)))
        kern = np.ones(w) / w
        acc = np.convolve([r["accuracy"] for r in rows], kern, mode="valid")
        loss = np.convolve([r["loss"] for r in rows], kern, mode="valid")
        line = ax1.plot(s[w - 1:], acc, label=f"{name} (train, {w}-step mean)")[0]
        ax2.plot(s[w - 1:], loss, color=line.get_color(), label=name)
        va = [(h["steps"], h["valid_accuracy"]) for h in hist if "valid_accuracy" in h]
        if va:
            ax1.plot(*zip(*va, strict=True), "o--", color=line.get_color(), label=f"{name} (held-out files)")
    if chance:
        ax1.axhline(chance, color="grey", ls=":", label=f"chance {chance:.3f}")
        ax2.axhline(float(np.log(1 / chance)), color="grey", ls=":", label="log(N+1)")
    ax1.set_xlabel("step")
    ax1.set_ylabel("accuracy of picking the positive")
    ax2.set_xlabel("step")
    ax2.set_ylabel("InfoNCE loss")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, dpi=110)
