"""Atomic ``.npy`` files: the storage under every serkit feature cache."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def load_npy(path: Path) -> np.ndarray | None:
    """The array at ``path``, or None when missing or unreadable (a cache miss)."""
    if path.is_file():
        try:
            return np.load(path)
        except (OSError, ValueError):
            return None
    return None


def save_npy(path: Path, x: np.ndarray) -> None:
    """Write atomically (temp file, then rename), so a killed run never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, x)
    os.replace(tmp, path)
