"""Emotion timeline of one recording, drawn from a ``serkit predict --format json`` result."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serkit.typing import PathLike
from serkit.viz.figure import save_figure


def plot_timeline(result: Mapping[str, Any], path: PathLike, *, title: str | None = None) -> Path:
    """Per-segment class probabilities over time (stacked bars) and the segment labels, as PNG.

    Args:
        result: one prediction dict ``{file, duration, label, scores, segments}``.
        path: output PNG.
        title: plot title (default: file, duration and aggregated label).

    Returns:
        the written path.

    Raises:
        ValueError: the result is an error line or has no segments.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "error" in result:
        raise ValueError(f"{result.get('file')}: cannot plot a failed prediction ({result['error']})")
    segs = result.get("segments") or []
    if not segs or "scores" not in segs[0]:
        raise ValueError(f"{result.get('file')}: no segments with scores to plot; "
                         "the file had no speech or the model predicts no classes")
    labels = list(segs[0]["scores"])
    cmap = plt.get_cmap("tab10")
    colors = {c: cmap(i % 10) for i, c in enumerate(labels)}
    has_avd = "arousal" in segs[0]
    fig, axes = plt.subplots(3 if has_avd else 2, 1, sharex=True, figsize=(11, 5.2 if has_avd else 3.8),
                             gridspec_kw={"height_ratios": [4, 1, 2] if has_avd else [4, 1]})
    ax = axes[0]
    for s in segs:
        bottom = 0.0
        for c in labels:
            p = s["scores"][c]
            ax.bar(s["start"], p, width=s["end"] - s["start"], bottom=bottom, align="edge", color=colors[c],
                   linewidth=0)
            bottom += p
    ax.set_ylim(0, 1)
    ax.set_ylabel("probability")
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colors[c]) for c in labels], labels=labels,
              ncol=len(labels), loc="upper center", bbox_to_anchor=(0.5, 1.25), fontsize=8, frameon=False)
    lab = axes[1]
    for s in segs:
        lab.axvspan(s["start"], s["end"], color=colors[s["label"]])
    lab.set_yticks([])
    lab.set_ylabel("label", rotation=0, ha="right", va="center")
    if has_avd:
        for k, st in zip(("arousal", "valence", "dominance"), ("-", "--", ":"), strict=False):
            axes[2].step([s["start"] for s in segs] + [segs[-1]["end"]], [s[k] for s in segs] + [segs[-1][k]],
                         where="post", linestyle=st, label=k)
        axes[2].legend(fontsize=8, ncol=3)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, max(result.get("duration", 0.0), segs[-1]["end"]))
    fig.suptitle(title or f"{Path(str(result.get('file', ''))).name}  {result.get('duration', 0):.1f} s  "
                 f"-> {result.get('label')}", y=1.1, fontsize=10)
    return save_figure(fig, path, bbox_inches="tight")
