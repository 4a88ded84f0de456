"""Ensemble: average the class probabilities (and A/V/D) of several trained models.

Model averaging of independently trained networks (e.g. L. K. Hansen and P. Salamon, "Neural
network ensembles", IEEE TPAMI 12(10), 1990; B. Lakshminarayanan et al., "Simple and Scalable
Predictive Uncertainty Estimation using Deep Ensembles", NeurIPS 2017, arXiv:1612.01474, sec. 2.4,
which averages the members' softmax outputs). The members share one input (the same feature
config) but may differ in architecture; each is any model in :data:`serkit.models.MODELS`.
Members are trained separately and merged with :func:`merge_checkpoints`.

Deviations: no adversarial training of members (paper sec. 2.3); ``logits`` are returned as the
log of the mean probability so that ``softmax(logits)`` is the ensemble's averaged distribution.

Examples:
    >>> import torch
    >>> cfg = EnsembleConfig(members=({"name": "compact_cnn", "channels": [8], "hidden_dim": 8},) * 2)
    >>> m = build_ensemble(cfg, input_dim=4, num_classes=3).eval()
    >>> out = m(torch.randn(2, 20, 4), torch.tensor([20, 11]))
    >>> torch.allclose(out.logits.softmax(-1).sum(-1), torch.ones(2))
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from serkit.errors import ConfigError
from serkit.models.base import ModelOutput
from serkit.typing import PathLike


@dataclass(frozen=True)
class EnsembleConfig:
    """Ensemble settings.

    Attributes:
        name: ``ensemble``.
        members: the members' ``model`` sections (each with its own ``name``).
    """

    name: str = "ensemble"
    members: tuple[dict[str, Any], ...] = ()


def tiny_config() -> EnsembleConfig:
    """Two tiny CompactCnn members."""
    m = {"name": "compact_cnn", "channels": [16, 16], "hidden_dim": 16, "dropout": 0.0}
    return EnsembleConfig(members=(m, m))


class Ensemble(nn.Module):
    """Mean of the members' softmax outputs (and of their A/V/D outputs).

    Args:
        cfg: config.
        input_dim: feature bins F.
        num_classes: classes C.
        vocab_size: passed to members.
    """

    def __init__(self, cfg: EnsembleConfig, *, input_dim: int, num_classes: int, vocab_size: int | None = None) -> None:
        super().__init__()
        from serkit.models import build_model, model_config_from_dict

        if not cfg.members:
            raise ConfigError("ensemble needs at least one member in model.members")
        self.members = nn.ModuleList()
        for m in cfg.members:
            if m.get("name") == "ensemble":
                raise ConfigError("an ensemble member cannot itself be an ensemble")
            self.members.append(build_model(model_config_from_dict(m), input_dim=input_dim,
                                            num_classes=num_classes, vocab_size=vocab_size))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, **inputs) -> ModelOutput:
        """Average the members.

        Args:
            x: ``(B, T, F)`` features (or ``(B, S)`` waves, as the members expect).
            lengths: ``(B,)`` int64.

        Returns:
            ModelOutput with ``logits (B, C)`` = log mean probability, ``avd (B, 3)`` mean if any.
        """
        return self._average([m(x, lengths, **inputs) for m in self.members])


    @property
    def adapt_levels(self) -> tuple[str, ...]:
        """Representation levels every member has (speaker adaptation, :mod:`serkit.adapt`)."""
        levels = [tuple(getattr(m, "adapt_levels", ())) for m in self.members]
        return tuple(lv for lv in levels[0] if all(lv in other for other in levels[1:]))

    def represent(self, x: torch.Tensor, lengths: torch.Tensor, level: str, **inputs) -> torch.Tensor:
        """The members' representations at ``level``, concatenated: ``(B, sum of D_m)``."""
        hs = [cast(Any, m).represent(x, lengths, level, **inputs) for m in self.members]
        self._rep_dims = [h.shape[-1] for h in hs]
        return torch.cat(hs, -1)

    def from_representation(self, h: torch.Tensor, level: str) -> ModelOutput:
        """Average the members' outputs from a (mapped) concatenated representation of :meth:`represent`."""
        dims = getattr(self, "_rep_dims", None)
        if dims is None or sum(dims) != h.shape[-1]:
            raise ValueError(f"ensemble representation of width {h.shape[-1]} does not match its members; call "
                             "represent first")
        outs = [cast(Any, m).from_representation(part, level)
                for m, part in zip(self.members, h.split(dims, -1), strict=True)]
        return self._average(outs)

    def _average(self, outs: list[ModelOutput]) -> ModelOutput:
        logits = [o.logits for o in outs if o.logits is not None]
        if len(logits) != len(outs):
            raise ValueError("every ensemble member must return class logits")
        probs = torch.stack([lg.softmax(-1) for lg in logits]).mean(0)  # (B, C)
        avd = [o.avd for o in outs if o.avd is not None]
        emb = [o.embedding for o in outs if o.embedding is not None]
        return ModelOutput(logits=torch.log(probs.clamp_min(1e-12)),
                           avd=torch.stack(avd).mean(0) if avd else None,
                           embedding=torch.cat(emb, -1) if emb else None)


def build_ensemble(cfg: EnsembleConfig, *, input_dim: int, num_classes: int,
                   vocab_size: int | None = None) -> Ensemble:
    """Build an :class:`Ensemble` of untrained members (load a merged state dict into it)."""
    return Ensemble(cfg, input_dim=input_dim, num_classes=num_classes, vocab_size=vocab_size)


def merge_checkpoints(paths: Sequence[PathLike], out: PathLike) -> Path:
    """Merge serkit checkpoints trained on the same features and labels into one ensemble checkpoint.

    Args:
        paths: member ``.pt`` checkpoints.
        out: ensemble ``.pt`` to write.

    Raises:
        ConfigError: members disagree on features, labels or input size.
        CheckpointError: a member cannot be loaded.
    """
    from serkit.models.checkpoint import Checkpoint, load_checkpoint

    cks = [load_checkpoint(p) for p in paths]
    first = cks[0]
    for p, ck in zip(paths, cks, strict=False):
        for k in ("label_names", "input_dim"):
            if getattr(ck, k) != getattr(first, k):
                raise ConfigError(f"{p}: {k} {getattr(ck, k)} differs from {paths[0]}'s {getattr(first, k)}")
        if ck.features != first.features:
            raise ConfigError(f"{p}: feature config differs from {paths[0]}'s; members must share one input")
    state = {f"members.{i}.{k}": v for i, ck in enumerate(cks) for k, v in ck.state_dict.items()}
    cfg = {**first.config, "model": {"name": "ensemble", "members": [ck.config["model"] for ck in cks]}}
    merged = Checkpoint(config=cfg, state_dict=state, label_names=first.label_names, input_dim=first.input_dim,
                        avd_stats=first.avd_stats, vocab=first.vocab, extra={"members": [str(p) for p in paths]})
    return merged.save(out)
