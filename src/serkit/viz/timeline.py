"""Emotion timelines of recordings, drawn from ``serkit predict --format json`` results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from serkit.typing import PathLike
from serkit.viz.figure import save_figure

AVD = ("arousal", "valence", "dominance")


def _check(result: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if "error" in result:
        raise ValueError(f"{result.get('file')}: cannot plot a failed prediction ({result['error']})")
    segs = result.get("segments") or []
    if not segs or "scores" not in segs[0]:
        raise ValueError(f"{result.get('file')}: no segments with scores to plot; "
                         "the file had no speech or the model predicts no classes")
    return list(segs)


def plot_timelines(results: Sequence[Mapping[str, Any]], path: PathLike, *,
                   titles: Sequence[str] | None = None) -> Path:
    """Per-segment class probabilities over time, one panel per recording, in one PNG.

    Each panel shows stacked probability bars per segment, a strip of segment labels and, for
    models with arousal/valence/dominance, their step curves.

    Args:
        results: prediction dicts ``{file, duration, label, scores, segments}``.
        path: output PNG.
        titles: panel titles (default: file, duration and aggregated label).

    Returns:
        the written path.

    Raises:
        ValueError: a result is an error line or has no segments; no results.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("no prediction results to plot")
    all_segs = [_check(r) for r in results]
    labels = list(dict.fromkeys(c for segs in all_segs for c in segs[0]["scores"]))
    cmap = plt.get_cmap("tab10")
    colors = {c: cmap(i % 10) for i, c in enumerate(labels)}
    ratios: list[float] = []
    layout: list[list[int]] = []
    for segs in all_segs:
        heights = [4.0, 1.0] + ([2.0] if "arousal" in segs[0] else [])
        layout.append(list(range(len(ratios), len(ratios) + len(heights))))
        ratios += heights + [1.2]  # a spacer row between recordings
    ratios = ratios[:-1]
    height = 0.45 * sum(ratios) + 0.6
    fig, axes = plt.subplots(len(ratios), 1, figsize=(11, height), gridspec_kw={"height_ratios": ratios},
                             squeeze=False)
    axes = axes[:, 0]
    for i, ax in enumerate(axes):
        if not any(i in rows for rows in layout):
            ax.axis("off")
    for n, (result, segs, rows) in enumerate(zip(results, all_segs, layout, strict=True)):
        ax, lab = axes[rows[0]], axes[rows[1]]
        for s in segs:
            bottom = 0.0
            for c in labels:
                p = s["scores"].get(c, 0.0)
                ax.bar(s["start"], p, width=s["end"] - s["start"], bottom=bottom, align="edge",
                       color=colors[c], linewidth=0)
                bottom += p
            lab.axvspan(s["start"], s["end"], color=colors.get(s["label"], "0.5"))
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        default = (f"{Path(str(result.get('file', ''))).name}  ({result.get('file', '')})  "
                   f"{result.get('duration', 0):.1f} s  -> {result.get('label')}")
        ax.set_title(titles[n] if titles else default, fontsize=9, loc="left")
        lab.set_yticks([])
        lab.set_ylabel("label", rotation=0, ha="right", va="center")
        if len(rows) > 2:
            for k, st in zip(AVD, ("-", "--", ":"), strict=False):
                axes[rows[2]].step([s["start"] for s in segs] + [segs[-1]["end"]],
                                   [s[k] for s in segs] + [segs[-1][k]], where="post", linestyle=st, label=k)
            axes[rows[2]].legend(fontsize=8, ncol=3)
        end = max(float(result.get("duration", 0.0)), segs[-1]["end"])
        for r in rows:
            axes[r].set_xlim(0, end)
            if r != rows[-1]:
                axes[r].tick_params(labelbottom=False)
        axes[rows[-1]].set_xlabel("time (s)")
    fig.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colors[c]) for c in labels], labels=labels,
               ncol=len(labels), loc="upper center", fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / height))
    return save_figure(fig, path, bbox_inches="tight")


def plot_timeline(result: Mapping[str, Any], path: PathLike, *, title: str | None = None) -> Path:
    """The timeline of one recording (:func:`plot_timelines` with one result).

    Args:
        result: one prediction dict ``{file, duration, label, scores, segments}``.
        path: output PNG.
        title: plot title (default: file, duration and aggregated label).

    Returns:
        the written path.

    Raises:
        ValueError: the result is an error line or has no segments.
    """
    return plot_timelines([result], path, titles=[title] if title else None)


def unique_names(files: Sequence[str], suffix: str = "_timeline.png") -> list[str]:
    """Distinct output file names for input paths: the stem, prefixed by as many parent folders
    as it takes to tell files of the same name apart (``day1_call_timeline.png``).

    Examples:
        >>> unique_names(["a/x/call.wav", "a/y/call.wav", "b.wav"])
        ['x_call_timeline.png', 'y_call_timeline.png', 'b_timeline.png']
    """
    parts = [Path(f).with_suffix("").parts or ("file",) for f in files]
    depth = [1] * len(files)
    while True:
        names = ["_".join(p[-d:]) for p, d in zip(parts, depth, strict=True)]
        clash = {n for n in names if names.count(n) > 1}
        grow = [i for i, n in enumerate(names) if n in clash and depth[i] < len(parts[i])]
        if not grow:
            break
        for i in grow:
            depth[i] += 1
    out, seen = [], set()
    for n in names:  # identical paths listed twice: number them
        m, k = n, 2
        while m in seen:
            m, k = f"{n}_{k}", k + 1
        seen.add(m)
        out.append(m.replace("/", "_").lstrip("_.") + suffix)
    return out
