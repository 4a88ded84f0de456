"""Key-sparse attention maps of one utterance: how important each frame and word was, and which were kept.

Drawn from arrays only (the ``attn`` dict of a Key-Sparse Transformer output, see
:mod:`serkit.models.ks_transformer`), never from a model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from serkit.typing import PathLike
from serkit.viz.figure import save_figure


def plot_attention(path: PathLike, *, features: np.ndarray | None = None,
                   audio_importance: np.ndarray | None = None, audio_kept: np.ndarray | None = None,
                   tokens: Sequence[str] | None = None, text_importance: np.ndarray | None = None,
                   text_kept: np.ndarray | None = None, hop_seconds: float = 0.01, title: str = "") -> Path:
    """Save a PNG with the audio panel (features + frame importance) and/or the text panel (word bars).

    Args:
        path: output PNG.
        features: ``(T, F)`` input features (e.g. log-Mel) drawn under the audio curve, or None.
        audio_importance: ``(T,)`` attention weight each frame received (summed over queries).
        audio_kept: ``(T,)`` share of heads in ``[0, 1]`` that kept the frame (drawn as a strip).
        tokens: the ``L`` text tokens.
        text_importance: ``(L,)`` attention weight each token received.
        text_kept: ``(L,)`` share of heads that kept the token.
        hop_seconds: frame hop (time axis).
        title: figure title.

    Returns:
        the PNG path.

    Raises:
        ValueError: nothing to draw, or array lengths disagree.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    has_audio = audio_importance is not None
    has_text = text_importance is not None
    if not (has_audio or has_text):
        raise ValueError("plot_attention needs audio_importance and/or text_importance")
    heights = ([3.0, 0.35] if has_audio else []) + ([2.4] if has_text else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(9.5, 1.4 + sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights}, layout="constrained")
    cmap = plt.get_cmap("Oranges")
    row = 0
    if has_audio:
        imp = np.asarray(audio_importance, dtype=float)
        kept = np.asarray(audio_kept if audio_kept is not None else np.ones_like(imp), dtype=float)
        if kept.shape != imp.shape:
            raise ValueError(f"audio_kept has shape {kept.shape}, expected {imp.shape} like audio_importance")
        dur = len(imp) * hop_seconds
        ax = axes[row, 0]
        t = (np.arange(len(imp)) + 0.5) * hop_seconds
        if features is not None:
            f = np.asarray(features)[: len(imp)]
            ax.imshow(f.T, origin="lower", aspect="auto", cmap="Greys", extent=(0, len(f) * hop_seconds, 0, f.shape[1]))
            ax.set_ylabel("feature bin")
            ax2 = ax.twinx()
        else:
            ax2 = ax
        ax2.plot(t, imp, color="tab:red", lw=1.4)
        ax2.set_ylabel("attention received", color="tab:red")
        ax2.set_ylim(bottom=0)
        ax.set_xlim(0, dur)
        ax.set_xticklabels([])
        ax.set_title("audio frames: attention each frame received (red, summed over queries, mean over heads)",
                     fontsize=9)
        strip = axes[row + 1, 0]
        strip.imshow(kept[None, :], aspect="auto", cmap=cmap, vmin=0, vmax=1, extent=(0, dur, 0, 1))
        strip.set_yticks([0.5], ["kept"])
        strip.set_xlabel("time (s)")
        row += 2
    if has_text:
        imp = np.asarray(text_importance, dtype=float)
        kept = np.asarray(text_kept if text_kept is not None else np.ones_like(imp), dtype=float)
        toks = list(tokens) if tokens is not None else [str(i) for i in range(len(imp))]
        if not (len(toks) == len(imp) == len(kept)):
            raise ValueError(f"tokens ({len(toks)}), text_importance ({len(imp)}) and text_kept ({len(kept)}) "
                             "must have the same length")
        ax = axes[row, 0]
        ax.bar(range(len(imp)), imp, color=[cmap(0.15 + 0.85 * k) for k in kept], edgecolor="black", lw=0.5)
        ax.set_xticks(range(len(imp)), toks, rotation=45, ha="right", fontsize=8)
        for i, k in enumerate(kept):
            ax.text(i, imp[i], f"{k:.0%}", ha="center", va="bottom", fontsize=6)
        ax.set_ylabel("attention received")
        ax.set_title("text tokens: attention received; colour and label = share of heads that kept the token",
                     fontsize=9)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=list(axes[:, 0]), fraction=0.03, pad=0.01, shrink=0.6, label="share of heads that kept it")
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, path, dpi=110)


def plot_key_sparse_attention(path: PathLike, attn: Mapping[str, Any], *, features: np.ndarray | None = None,
                              tokens: Sequence[str] | None = None, hop_seconds: float = 0.01,
                              title: str = "") -> Path:
    """:func:`plot_attention` from one utterance's ``attn`` output of a Key-Sparse Transformer.

    Args:
        path: output PNG.
        attn: the utterance's row of ``ModelOutput.attn``: ``{m}_importance (L_m,)``,
            ``{m}_kept (L_m,)`` and ``{m}_lengths`` (valid length) for ``m`` in audio / text;
            arrays may be padded past the valid length (batches), which is cut here.
        features: ``(T, F)`` input features under the audio curve.
        tokens: the text tokens.
        hop_seconds: frame hop.
        title: figure title.
    """
    maps: dict[str, Any] = {}
    for m in ("audio", "text"):
        if f"{m}_importance" in attn:
            n = int(attn[f"{m}_lengths"])
            maps[f"{m}_importance"] = np.asarray(attn[f"{m}_importance"])[:n]
            maps[f"{m}_kept"] = np.asarray(attn[f"{m}_kept"])[:n]
            if m == "text":
                maps["tokens"] = list(tokens or [])[:n] or None
    return plot_attention(path, features=features, hop_seconds=hop_seconds, title=title, **maps)
