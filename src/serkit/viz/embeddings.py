"""t-SNE scatter plots of utterance embeddings coloured by emotion (scikit-learn + matplotlib).

Draws one panel per named embedding, e.g. Wang et al. 2021's figure of the utterance vectors
before and after the stacked transformer layers.

Examples:
    >>> import numpy as np, tempfile, os
    >>> rng = np.random.default_rng(0)
    >>> emb = {"before": rng.normal(size=(40, 8)), "after": rng.normal(size=(40, 8))}
    >>> labels = ["angry", "sad"] * 20
    >>> p = plot_embeddings_tsne(emb, labels, os.path.join(tempfile.mkdtemp(), "t.png"))
    >>> p.name
    't.png'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from serkit.typing import PathLike
from serkit.viz.figure import save_figure


def tsne_2d(x: np.ndarray, *, perplexity: float = 30.0, seed: int = 0, max_iter: int = 1000) -> np.ndarray:
    """2-D t-SNE of ``(N, D)`` vectors (standardised first); perplexity is capped below N.

    Raises:
        ValueError: fewer than 3 vectors or not a 2-D array.
    """
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 3:
        raise ValueError(f"t-SNE needs an (N, D) array with N >= 3, got shape {x.shape}")
    x = StandardScaler().fit_transform(x)
    perp = float(min(perplexity, max(1.0, (x.shape[0] - 1) / 3)))
    return TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed, max_iter=max_iter).fit_transform(x)


def plot_embeddings_tsne(embeddings: Mapping[str, np.ndarray], labels: Sequence[str], path: PathLike, *,
                         title: str = "", perplexity: float = 30.0, seed: int = 0,
                         max_iter: int = 1000) -> Path:
    """Save side-by-side t-SNE panels of named ``(N, D)`` embeddings, coloured by ``labels``.

    Args:
        embeddings: panel title -> ``(N, D)`` array (same N and row order for all).
        labels: N emotion names.
        path: output PNG.
        title: figure title (say which corpus, protocol and folds the points come from).
        perplexity: t-SNE perplexity.
        seed: t-SNE seed.
        max_iter: t-SNE iterations.

    Raises:
        ValueError: no embeddings or row counts that differ from ``len(labels)``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not embeddings:
        raise ValueError("no embeddings to plot")
    for k, v in embeddings.items():
        if len(v) != len(labels):
            raise ValueError(f"embedding {k!r} has {len(v)} rows but there are {len(labels)} labels")
    classes = sorted(set(labels))
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    n = len(embeddings)
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 5.0), squeeze=False)
    lab = np.asarray(labels)
    for ax, (name, x) in zip(axes[0], embeddings.items(), strict=True):
        y = tsne_2d(np.asarray(x), perplexity=perplexity, seed=seed, max_iter=max_iter)
        for i, c in enumerate(classes):
            sel = lab == c
            ax.scatter(y[sel, 0], y[sel, 1], s=16, color=cmap(i), label=c, alpha=0.8, linewidths=0)
        ax.set_title(name, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["plot_embeddings_tsne", "tsne_2d"]
