"""The per-process cache of frozen encoders (SSL, CPC, text) that feature extraction shares.

Loading an encoder takes seconds; extracting features calls it once per file. One object per
``(kind, resolved path, modification time, size)`` lives for the process, so a checkpoint
rewritten in place (a resumed pretraining) is loaded again, and a thread-safe lock keeps
concurrent extraction threads from loading the same file twice. Cached modules are shared: they
are in eval mode with gradients off, and callers must not train them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from torch import nn

from serkit.typing import PathLike

T = TypeVar("T")

_CACHE: dict[tuple[str, str, float, int], Any] = {}
_LOCK = threading.Lock()


def _stamp(p: Path) -> tuple[float, int]:
    """Modification time and size of a file, or of a folder's files (newest time, total size)."""
    if p.is_dir():
        files = [f.stat() for f in p.iterdir() if f.is_file()]
        return max((s.st_mtime for s in files), default=0.0), sum(s.st_size for s in files)
    st = p.stat()
    return st.st_mtime, st.st_size


def _freeze(obj: Any) -> None:
    for m in obj if isinstance(obj, tuple) else (obj,):
        if isinstance(m, nn.Module):
            m.eval().requires_grad_(False)


def load_frozen(kind: str, path: PathLike, load: Callable[[str], T]) -> T:
    """``load(path)`` once per process and version of the file; modules come back frozen.

    Args:
        kind: what is cached (``"ssl"``, ``"cpc"``, ``"text"``), part of the key.
        path: local file or folder; a path that does not exist is passed to ``load`` uncached
            (``load`` raises the helpful error).
        load: builds the object (a module, or a tuple holding modules) from the path string.

    Returns:
        the shared object.
    """
    p = Path(path).expanduser()
    if not p.exists():
        return load(str(path))
    key = (kind, str(p.resolve()), *_stamp(p))
    with _LOCK:
        if key not in _CACHE:
            obj = load(str(p))
            _freeze(obj)
            _CACHE[key] = obj
        return _CACHE[key]


def clear_encoder_cache() -> None:
    """Drop every cached encoder (frees memory; the next use loads again)."""
    with _LOCK:
        _CACHE.clear()


__all__ = ["clear_encoder_cache", "load_frozen"]
