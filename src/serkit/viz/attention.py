"""Self-attention pooling weights over time, drawn under the utterance's spectrogram.

Examples:
    >>> import numpy as np, tempfile, os
    >>> feats, w = np.random.randn(200, 40), np.random.dirichlet(np.ones(50), size=2)
    >>> plot_attention_weights(feats, w, os.path.join(tempfile.mkdtemp(), "a.png"), frames_per_step=4).suffix
    '.png'
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from serkit.typing import PathLike
from serkit.viz.figure import save_figure


def plot_attention_weights(features: np.ndarray, weights: np.ndarray, path: PathLike, *, frames_per_step: int = 1,
                           frame_shift: float = 0.01, title: str = "") -> Path:
    """Save a two-panel figure: features ``(T, F)`` on top, attention weights per head below.

    Args:
        features: ``(T, F)`` input frames (e.g. log-Mel) of one utterance.
        weights: ``(H, T')`` pooling weights of each head (rows sum to 1 over valid steps).
        path: output PNG.
        frames_per_step: input frames per attention step (the model's time down-sampling).
        frame_shift: seconds per input frame.
        title: figure title (file, true and predicted emotion).

    Raises:
        ValueError: wrong ranks.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    features = np.asarray(features)
    weights = np.atleast_2d(np.asarray(weights))
    if features.ndim != 2 or weights.ndim != 2:
        raise ValueError(f"expected features (T, F) and weights (H, T'), got {features.shape} and {weights.shape}")
    dur = features.shape[0] * frame_shift
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 5), sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    ax0.imshow(features.T, origin="lower", aspect="auto", cmap="magma", extent=(0, dur, 0, features.shape[1]))
    ax0.set_ylabel("feature bin")
    step = frames_per_step * frame_shift
    t = (np.arange(weights.shape[1]) + 0.5) * step
    for h, w in enumerate(weights):
        ax1.step(t, w, where="mid", label=f"head {h + 1}", linewidth=1.2)
    ax1.set_xlim(0, dur)
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("attention weight")
    if weights.shape[0] > 1:
        ax1.legend(fontsize=7, ncol=min(4, weights.shape[0]), frameon=False)
    if title:
        ax0.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["plot_attention_weights"]
