"""Checkpoint files below the model layer: the one rule that finds a checkpoint (run folder, file,
``bundled:NAME``), the one atomic writer and the one safe reader, all raising :class:`CheckpointError`.

The typed :class:`serkit.models.checkpoint.Checkpoint` is built on these. They live here, below
``features``, because frozen encoders (CPC features, :mod:`serkit.features.cpc`) are loaded in
the feature layer, which may not import ``serkit.models``; both layers thus find, read and write
checkpoint files the same way.

Examples:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = atomic_save({"state_dict": {}}, d / "run" / "last.pt")
    >>> find_checkpoint(d / "run").name, read_checkpoint_file(d / "run")[1]
    ('last.pt', {'state_dict': {}})
    >>> resolve_bundled("bundled:default").name, str(resolve_bundled("runs/x"))
    ('default', 'runs/x')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from serkit.errors import CheckpointError
from serkit.typing import PathLike

#: file names looked for, in this order, inside a run folder
CHECKPOINT_NAMES = ("model.pt", "checkpoint.pt", "best.pt", "last.pt")
#: prefix naming a model or encoder shipped inside the package (``serkit/assets/<name>/``)
BUNDLED_PREFIX = "bundled:"
#: the package's asset folder
ASSETS_DIR = Path(__file__).resolve().parent / "assets"


def bundled_names() -> list[str]:
    """Names of the models and encoders shipped in the package (``bundled:<name>``)."""
    return sorted(p.name for p in ASSETS_DIR.iterdir() if p.is_dir()) if ASSETS_DIR.is_dir() else []


def resolve_bundled(spec: PathLike) -> Path:
    """``bundled:NAME`` -> the package folder ``serkit/assets/NAME``; any other path unchanged.

    Raises:
        CheckpointError: ``bundled:NAME`` with no such asset (the message lists the names).
    """
    s = str(spec)
    if not s.startswith(BUNDLED_PREFIX):
        return Path(spec).expanduser()
    name = s[len(BUNDLED_PREFIX):]
    d = ASSETS_DIR / name
    if not name or not d.is_dir():
        raise CheckpointError(f"{s}: no bundled asset {name!r} in {ASSETS_DIR}; expected one of "
                              f"{[BUNDLED_PREFIX + n for n in bundled_names()]} (reinstall serkit if one is missing)")
    return d


def find_checkpoint(path: PathLike) -> Path:
    """Resolve a run folder, checkpoint file, ``.onnx`` file or ``bundled:NAME`` to one model file.

    A file is returned as is. In a folder, the first of :data:`CHECKPOINT_NAMES`; else its
    single ``*.pt`` (or ``*/*.pt``); else the single ``fold_*/checkpoint.pt`` of a one-fold run;
    else its single ``.onnx`` file.

    Raises:
        CheckpointError: nothing loadable there, or several candidates (the message lists them).
    """
    p = resolve_bundled(path)
    if p.is_file():
        return p
    if not p.is_dir():
        raise CheckpointError(f"model {str(path)!r} not found; expected a bundled name (e.g. 'default', "
                              "'bundled:cpc'), a run folder, a .pt checkpoint or an .onnx file")
    for n in CHECKPOINT_NAMES:
        if (p / n).is_file():
            return p / n
    pts = sorted(p.glob("*.pt")) or sorted(p.glob("*/*.pt"))
    if len(pts) == 1:
        return pts[0]
    # a run folder of serkit evaluate / train: fold_<name>/checkpoint.pt (+ last.pt)
    folds = sorted(p.glob("*/checkpoint.pt"))
    if len(folds) == 1:
        return folds[0]
    if folds:
        raise CheckpointError(f"{p}: {len(folds)} fold models ({', '.join(f.parent.name for f in folds)}); "
                              f"pass one fold's folder, e.g. {folds[0].parent}")
    onnx = sorted(p.glob("*.onnx"))
    if not pts and len(onnx) == 1:
        return onnx[0]
    found = [str(x.relative_to(p)) for x in pts + onnx]
    raise CheckpointError(f"{p}: expected one of {list(CHECKPOINT_NAMES)} or a single .pt/.onnx file, "
                          f"found {found or 'none'}; pass the file itself")


def atomic_save(obj: dict[str, Any], path: PathLike) -> Path:
    """``torch.save`` to a temp file, then rename, so a kill never leaves half a checkpoint.

    Returns:
        the path written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def read_checkpoint_file(path: PathLike) -> tuple[Path, dict[str, Any]]:
    """The file :func:`find_checkpoint` picks and its dict, read on the CPU with
    ``torch.load(weights_only=True)`` (no pickled code is ever run).

    Raises:
        CheckpointError: missing, an ONNX export, unreadable, or not a dict.
    """
    p = find_checkpoint(path)
    if p.suffix == ".onnx":
        raise CheckpointError(f"{p}: an ONNX export, not a torch checkpoint; load it with serkit.inference.Predictor")
    try:
        d = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        first = (str(e).splitlines() or [""])[0][:160]
        raise CheckpointError(f"{p}: not a readable serkit checkpoint ({type(e).__name__}: {first}); "
                              "train one with serkit train CONFIG --out DIR") from None
    if not isinstance(d, dict):
        raise CheckpointError(f"{p}: not a serkit checkpoint (expected a dict, got {type(d).__name__})")
    return p, d


__all__ = ["ASSETS_DIR", "BUNDLED_PREFIX", "CHECKPOINT_NAMES", "atomic_save", "bundled_names", "find_checkpoint",
           "read_checkpoint_file", "resolve_bundled"]
