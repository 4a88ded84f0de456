"""Writing a matplotlib figure: the one place plots touch the disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from serkit.typing import PathLike


def save_figure(fig: Any, path: PathLike, *, dpi: int = 120, **kwargs: Any) -> Path:
    """Save ``fig`` as ``path`` (folders created), close it, and return the path."""
    import matplotlib.pyplot as plt

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi, **kwargs)
    plt.close(fig)
    return p
