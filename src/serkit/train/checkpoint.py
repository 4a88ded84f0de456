"""Checkpoints: plain dicts of tensors and primitives, loadable with ``weights_only=True``.

A checkpoint holds ``config`` (the resolved recipe), ``state_dict``, ``label_names``,
``serkit_version``, ``input_dim``, optional ``avd_stats`` and ``vocab``; a training state
(``last.pt``) also holds the optimiser, scheduler, epoch, history and RNG state for ``--resume``.
No pickled code is ever loaded from a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from serkit.errors import ModelNotFoundError
from serkit.typing import PathLike


def save_checkpoint(path: PathLike, ckpt: dict[str, Any]) -> Path:
    """Write atomically (temp file then rename), so a kill never leaves half a checkpoint."""
    from serkit import __version__

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + f".{os.getpid()}.tmp")
    torch.save({"serkit_version": __version__, **ckpt}, tmp)
    os.replace(tmp, p)
    return p


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """Load a checkpoint with ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        ModelNotFoundError: missing file.
        ValueError: not a serkit checkpoint.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoint.pt"
    if not p.is_file():
        raise ModelNotFoundError(f"{p}: checkpoint not found; train one with serkit train CONFIG --out DIR")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        raise ValueError(f"{p}: not a loadable serkit checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "config" not in ckpt:
        raise ValueError(f"{p}: not a serkit checkpoint (needs keys config and state_dict)")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> tuple[torch.nn.Module, Any]:
    """Rebuild the model of a checkpoint from its config alone and load its weights (eval mode).

    Returns:
        (model, model config dataclass).
    """
    from serkit.models import MODELS, model_config_from_dict

    mcfg = model_config_from_dict(ckpt["config"]["model"])
    build = MODELS[mcfg.name][1]
    vocab_size = None
    if ckpt.get("vocab"):
        from serkit.data.vocab import CharVocab

        vocab_size = len(CharVocab.from_dict(ckpt["vocab"]))
    model = build(mcfg, input_dim=int(ckpt["input_dim"]), num_classes=len(ckpt["label_names"]),
                  vocab_size=vocab_size)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, mcfg
