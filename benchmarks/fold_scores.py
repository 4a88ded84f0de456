"""Per-fold scores of a ``serkit evaluate --json`` report, shared by the paired comparisons in
``chen2022_table.py`` and ``li2021_table.py``."""

from __future__ import annotations

import json
from pathlib import Path


def fold_scores(path: str | Path, metric: str = "ua") -> dict[str, float]:
    """``{fold name: score}`` of one report."""
    return {f["name"]: f["scores"][metric] for f in json.loads(Path(path).read_text())["folds"]}
