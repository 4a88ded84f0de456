"""The one checkpoint: a typed :class:`Checkpoint`, its atomic :meth:`~Checkpoint.save`, and the one
loader :func:`load_checkpoint` (file or run folder) that raises one error type.

On disk a checkpoint is a plain dict of tensors and primitives, loadable with
``torch.load(weights_only=True)`` (no pickled code is ever loaded): ``config`` (the resolved
recipe), ``state_dict``, ``label_names``, ``input_dim``, ``serkit_version``, optional
``avd_stats``, ``vocab`` and ``temperature``, plus free extra keys (``n_parameters``,
``history``, ``best_valid``; a training state ``last.pt`` also holds ``optimizer``,
``scheduler``, ``epoch`` ... for ``--resume``). Files written by older serkit versions (e.g. the
bundled ``assets/default/model.pt``) load unchanged: missing recipe keys take their defaults.
Self-supervised encoders (``serkit pretrain cpc``) are checkpoints of this same type: their
``model`` section names an encoder (:data:`serkit.models.PRETRAINED_ENCODERS`), ``label_names`` is empty and
``input_dim`` 1 (raw waves); ``cpc.pt`` files of older versions are upgraded on load.

This is the ``from_pretrained`` / ``save_pretrained`` pair of Hugging Face transformers, reduced
to what serkit needs: inference (:class:`serkit.inference.Predictor`), the training loop,
CTC transcripts, ensembles, export and plots all read models through :func:`load_checkpoint`.

Examples:
    >>> import tempfile, pathlib
    >>> from serkit.testing import save_tiny_checkpoint
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> ck = load_checkpoint(save_tiny_checkpoint(d / "run" / "model.pt").parent)  # a run folder
    >>> ck.model_config.name, ck.label_names[:2], type(ck.build_model()).__name__
    ('compact_cnn', ['angry', 'happy'], 'CompactCnn')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from serkit.checkpoint_file import (
    CHECKPOINT_NAMES,
    atomic_save,
    find_checkpoint,
    read_checkpoint_file,
)
from serkit.config import FeatureConfig, from_dict
from serkit.errors import CheckpointError, SerkitError
from serkit.features.cpc import is_legacy_cpc_checkpoint, upgrade_legacy_cpc_checkpoint
from serkit.typing import PathLike

log = logging.getLogger(__name__)

#: the resumable training state in a run folder (``--resume`` continues from it)
RESUME_NAME = "last.pt"
_FIELDS = ("config", "state_dict", "label_names", "input_dim", "avd_stats", "vocab", "temperature", "serkit_version")


@dataclass
class Checkpoint:
    """A trained model's weights and everything needed to rebuild and use it.

    Attributes:
        config: the resolved recipe as a plain dict (``ExperimentConfig.to_dict()``); the model
            is rebuilt from its ``model`` section, inputs from its ``features`` section.
        state_dict: model weights.
        label_names: class names in logit order.
        input_dim: feature bins F of the model input (1 for raw waves).
        avd_stats: ``{"mean": [3], "std": [3]}`` of the training A/V/D targets, or None.
        vocab: CTC character vocabulary (``CharVocab.to_dict()``), or None.
        temperature: logit temperature applied at prediction time (1.0 = none).
        serkit_version: version that wrote the file.
        extra: every other key (``n_parameters``, ``history``, training state, ...).
        model_config: the typed model section (resolved once, from ``config["model"]``).
    """

    config: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    label_names: list[str]
    input_dim: int
    avd_stats: dict[str, list[float]] | None = None
    vocab: dict[str, Any] | None = None
    temperature: float = 1.0
    serkit_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    model_config: Any = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        from serkit.models import model_config_from_dict

        if not self.serkit_version:
            from serkit import __version__

            self.serkit_version = __version__
        # a checkpoint may also hold a self-supervised encoder (serkit pretrain), which a recipe may not name
        self.model_config = model_config_from_dict(self.config.get("model") or {}, encoders=True)

    @property
    def features(self) -> FeatureConfig:
        """The feature config the model was trained on."""
        return from_dict(FeatureConfig, self.config.get("features"), where="features")

    @property
    def vocab_size(self) -> int | None:
        """Size of the CTC vocabulary (blank included), None without a CTC head."""
        if not self.vocab:
            return None
        from serkit.data.vocab import CharVocab

        return len(CharVocab.from_dict(self.vocab))

    def build_model(self) -> Any:
        """Rebuild the model from the config alone and load the weights (eval mode).

        Returns:
            an ``nn.Module``; for classical models (``linear_svm``) the fitted
            :class:`serkit.models.classical.LinearScorer`.
        """
        from serkit.models import CLASSICAL, build_model

        if self.model_config.name in CLASSICAL:
            from serkit.models.classical import LinearScorer

            return LinearScorer.from_state_dict(self.state_dict)

        model = build_model(self.model_config, input_dim=self.input_dim, num_classes=len(self.label_names),
                            vocab_size=self.vocab_size)
        model.load_state_dict(self.state_dict)
        return model.eval()

    def to_dict(self) -> dict[str, Any]:
        """The on-disk form: a plain dict (fields, then ``extra`` keys at top level)."""
        d = {k: getattr(self, k) for k in _FIELDS}
        return {**d, **self.extra}

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "checkpoint") -> Checkpoint:
        """Build from the on-disk dict.

        Raises:
            CheckpointError: required keys missing or the model section invalid.
        """
        if not isinstance(d, dict):
            raise CheckpointError(f"{where}: not a serkit checkpoint (expected a dict, got {type(d).__name__})")
        if is_legacy_cpc_checkpoint(d):  # cpc.pt of serkit pretrain cpc before the typed checkpoint
            d = upgrade_legacy_cpc_checkpoint(d)
        missing = [k for k in ("config", "state_dict", "label_names", "input_dim") if k not in d]
        if missing:
            raise CheckpointError(f"{where}: checkpoint lacks {missing}; expected a file written by serkit train")
        kw = {k: d[k] for k in _FIELDS if k in d and d[k] is not None}
        kw["label_names"] = list(kw["label_names"])
        kw["input_dim"] = int(kw["input_dim"])
        try:
            return cls(**kw, extra={k: v for k, v in d.items() if k not in _FIELDS})
        except SerkitError as e:
            raise CheckpointError(f"{where}: {e}") from None

    def save(self, path: PathLike) -> Path:
        """Write atomically (temp file, then rename), so a kill never leaves half a checkpoint.

        Returns:
            the path written.
        """
        return atomic_save(self.to_dict(), path)


def load_checkpoint(path: PathLike) -> Checkpoint:
    """Load a checkpoint file or the checkpoint of a run folder (:func:`find_checkpoint`) on the CPU.

    Args:
        path: ``.pt`` file or run folder.

    Returns:
        the typed checkpoint.

    Raises:
        CheckpointError: missing, unreadable (``torch.load(weights_only=True)`` refuses it), or
            not a serkit checkpoint.
    """
    p, d = read_checkpoint_file(path)
    return Checkpoint.from_dict(d, where=str(p))


def load_resume_state(out_dir: PathLike | None, *, resume: bool) -> Checkpoint | None:
    """The training state to continue from: ``OUT/last.pt`` when ``resume`` and it exists, else None.

    The one resume rule of the training loop and of ``serkit pretrain``: every run writes its
    state (weights, optimiser, position, history) to ``OUT/last.pt`` with :meth:`Checkpoint.save`;
    ``--resume`` continues from it, and without one starts from scratch (logged).

    Raises:
        CheckpointError: the state exists but cannot be read.
    """
    if out_dir is None or not resume:
        return None
    p = Path(out_dir) / RESUME_NAME
    if not p.is_file():
        log.warning("--resume: no %s; starting from scratch", p)
        return None
    return load_checkpoint(p)


def load_model(path: PathLike) -> tuple[torch.nn.Module, Checkpoint]:
    """The model of a checkpoint file or run folder, rebuilt and in eval mode, with its checkpoint.

    Raises:
        CheckpointError: as :func:`load_checkpoint`.
    """
    ck = load_checkpoint(path)
    return ck.build_model(), ck


__all__ = ["CHECKPOINT_NAMES", "RESUME_NAME", "Checkpoint", "find_checkpoint", "load_checkpoint", "load_model",
           "load_resume_state"]
