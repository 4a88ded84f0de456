"""Run folders as a library: the folds of a run, the fold that held an utterance out, a fold's
model, inputs and outputs.

A run folder is what ``serkit evaluate RECIPE --out RUN_DIR`` (or ``serkit train``) wrote: one
``fold_<name>/`` per fold with ``checkpoint.pt`` (and ``resolved.yaml``, the resolved recipe).
Everything here is rebuilt from those files by the library's single paths: the recipe by
:func:`serkit.experiment.recipe_from_dict`, the folds by :func:`serkit.data.splits.recipe_folds`,
the model by :func:`serkit.models.checkpoint.load_checkpoint`, the inputs by
:func:`serkit.train.loop.prepare` and the outputs by :func:`serkit.train.loop.run_model`. Every
``serkit plot`` command reads runs through this module and only draws.

Examples:
    >>> from serkit.runs import Run  # doctest: +SKIP
    >>> run = Run("runs/li2019_emodb")  # doctest: +SKIP
    >>> fold, utt = run.fold_holding_out("03a01Wa")  # doctest: +SKIP
    >>> fold.outputs([utt])[0]["attn"].shape  # doctest: +SKIP
    (4, 120)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from serkit.config import ExperimentConfig, load_dict
from serkit.data.manifest import Utterance
from serkit.errors import ConfigError, UnknownKeyError
from serkit.models.checkpoint import Checkpoint, load_checkpoint
from serkit.typing import PathLike

if TYPE_CHECKING:
    import torch

    from serkit.train.loop import Prepared


def fold_dirs(run_dir: PathLike) -> dict[str, Path]:
    """``{fold name: folder}`` of a run, in name order.

    Raises:
        FileNotFoundError: no ``fold_*/checkpoint.pt`` under ``run_dir``.
    """
    root = Path(run_dir)
    found = {d.name[len("fold_"):]: d for d in sorted(root.glob("fold_*")) if (d / "checkpoint.pt").is_file()}
    if not found:
        raise FileNotFoundError(f"{root}: no fold_<name>/checkpoint.pt found; run "
                                "serkit evaluate RECIPE --out RUN_DIR first")
    return found


def matches(u: Utterance, name: str) -> bool:
    """Whether ``name`` names ``u``: its id, its path, or a path with the same file stem."""
    return name in (u.id, u.path) or Path(u.path).stem == Path(name).stem


class FoldRun:
    """One fold of a run: its recipe, checkpoint, model and utterances.

    Args:
        fold_dir: ``RUN_DIR/fold_<name>`` with ``checkpoint.pt`` (and ``resolved.yaml``).
        data_root: corpus root override (default: the recipe's / ``$SERKIT_DATA``).

    Attributes:
        name: fold name.
        cfg: the resolved recipe (typed).
        checkpoint: the fold's :class:`~serkit.models.checkpoint.Checkpoint`.
        label_names: class names in logit order.
        all, train, test: the run's utterances, and the fold's training and test utterances.

    Raises:
        ConfigError: the fold is not a fold of the recipe's protocol (the recipe was changed).
    """

    def __init__(self, fold_dir: PathLike, *, data_root: PathLike | None = None) -> None:
        from serkit.data.splits import recipe_folds
        from serkit.experiment import load_data, recipe_from_dict

        d = Path(fold_dir)
        self.dir = d
        self.name = d.name.removeprefix("fold_")
        self.checkpoint: Checkpoint = load_checkpoint(d / "checkpoint.pt")
        resolved = d / "resolved.yaml"
        self.cfg: ExperimentConfig = recipe_from_dict(load_dict(resolved) if resolved.is_file()
                                                      else self.checkpoint.config)
        self.label_names: list[str] = list(self.checkpoint.label_names)
        utts, _ = load_data(self.cfg, data_root=data_root)
        folds = {f.name: f for f in recipe_folds(self.cfg, utts, all_folds=True)}
        if self.name not in folds:
            raise ConfigError(f"{d}: fold {self.name!r} is not a fold of the run's protocol "
                              f"{self.cfg.eval.protocol} (folds: {sorted(folds)}); was the recipe changed?")
        by_id = {u.id: u for u in utts}
        self.all: list[Utterance] = utts
        self.test: list[Utterance] = [by_id[i] for i in folds[self.name].test]
        self.train: list[Utterance] = [by_id[i] for i in folds[self.name].train]
        self._model: torch.nn.Module | None = None

    def split(self, which: str) -> list[Utterance]:
        """``"test"``, ``"train"`` or ``"all"`` utterances of the fold.

        Raises:
            UnknownKeyError: another name.
        """
        splits = {"test": self.test, "train": self.train, "all": self.all}
        if which not in splits:
            raise UnknownKeyError("split", which, splits)
        return splits[which]

    def model(self) -> torch.nn.Module:
        """The fold's model, rebuilt from its checkpoint alone (eval mode, built once)."""
        if self._model is None:
            self._model = self.checkpoint.build_model()
        return self._model

    def prepared(self, utts: Sequence[Utterance]) -> Prepared:
        """Model inputs of ``utts`` as in training (text features too, for models that read text).

        Per-speaker standardisation (``features.speaker_norm``) uses all of each speaker's
        utterances in the run, as training did, not only the ones asked for.

        Raises:
            ConfigError: an utterance's audio cannot be read (the message names it).
        """
        from serkit.train.loop import prepare

        speakers = {u.speaker for u in utts}
        context = [v for v in self.all if v.speaker in speakers]
        return _checked(prepare(self.cfg, utts, progress=False, context=context), utts)

    def features(self, utts: Sequence[Utterance]) -> list[np.ndarray]:
        """Model inputs ``(T, F)`` (or ``(S,)`` / ``(D,)``) of ``utts``, as in training."""
        return self.prepared(utts).inputs

    def outputs(self, utts: Sequence[Utterance], *, batch_size: int = 16) -> list[dict[str, Any]]:
        """The model's outputs per utterance (see :func:`serkit.train.loop.run_model`).

        Returns:
            one dict per utterance with ``probs``, ``avd``, ``embedding``, ``embeddings``,
            ``attn`` and ``ctc``, plus ``inputs`` (the features the model read).
        """
        from serkit.train.loop import run_prepared

        p = self.prepared(utts)
        outs = run_prepared(self.model(), p, batch_size=batch_size, temperature=self.checkpoint.temperature)
        return [{**o, "inputs": x} for o, x in zip(outs, p.inputs, strict=True)]

    def predicted_label(self, output: dict[str, Any]) -> str | None:
        """The class an output (from :meth:`outputs`) predicts, or None for dimension-only models."""
        probs = output.get("probs")
        return None if probs is None else self.label_names[int(np.argmax(probs))]


def _checked(p: Prepared, utts: Sequence[Utterance]) -> Prepared:
    """``p`` if it holds every utterance (:func:`~serkit.train.loop.prepare` drops unreadable audio).

    Raises:
        ConfigError: naming the files that could not be read.
    """
    have = {u.id for u in p.utts}
    missing = [u.path for u in utts if u.id not in have]
    if missing:
        raise ConfigError(f"could not read the audio of {missing[:3]} (see the warnings above); check the "
                          "files (or the corpus under --data-root)")
    return p


def checkpoint_outputs(checkpoint: PathLike, files: Sequence[PathLike], *,
                       texts: Sequence[str | None] | None = None,
                       speaker_files: Sequence[PathLike] = ()) -> tuple[list[dict[str, Any]], Checkpoint]:
    """A checkpoint's outputs on audio files, with inputs made as in training (the one path).

    Args:
        checkpoint: checkpoint file or run/fold folder.
        files: audio files.
        texts: a transcript per file, for models that read text.
        speaker_files: more recordings of the same speaker: with ``features.speaker_norm`` all
            files and these are standardised together as one speaker (without them, the files'
            own statistics are used).

    Returns:
        (one output dict per file as :meth:`FoldRun.outputs`, the checkpoint).

    Raises:
        ConfigError: the model reads text and a transcript is missing, or a file cannot be read.
    """
    from serkit.experiment import recipe_from_dict
    from serkit.models.checkpoint import load_model
    from serkit.train.loop import prepare, run_prepared

    model, ck = load_model(checkpoint)
    cfg = recipe_from_dict(ck.config)
    txt = list(texts) if texts is not None else [None] * len(files)
    if getattr(cfg.model, "modalities", "audio") != "audio" and not all(txt):
        raise ConfigError(f"this model reads text (modalities={cfg.model.modalities}); pass a transcript "
                          "for every file (--text 'transcript')")
    utts = [Utterance(id=f"file{i}", path=str(f), speaker="speaker", text=t)
            for i, (f, t) in enumerate(zip(files, txt, strict=True))]
    context = [Utterance(id=f"speaker_file{i}", path=str(f), speaker="speaker") for i, f in enumerate(speaker_files)]
    p = _checked(prepare(cfg, utts, progress=False, context=context), utts)
    outs = run_prepared(model, p, temperature=ck.temperature)
    return [{**o, "inputs": x} for o, x in zip(outs, p.inputs, strict=True)], ck


class Run:
    """A run folder and its folds (loaded lazily, each once).

    Args:
        run_dir: the folder ``serkit evaluate --out`` wrote.
        data_root: corpus root override.

    Raises:
        FileNotFoundError: no fold checkpoints in the folder.
    """

    def __init__(self, run_dir: PathLike, *, data_root: PathLike | None = None) -> None:
        self.dir = Path(run_dir)
        self.data_root = data_root
        self.fold_dirs = fold_dirs(self.dir)
        self._folds: dict[str, FoldRun] = {}

    @property
    def fold_names(self) -> list[str]:
        """Fold names, in order."""
        return list(self.fold_dirs)

    def fold(self, name: str | None = None) -> FoldRun:
        """A fold by name (``fold_`` prefix optional); None = the first.

        Raises:
            UnknownKeyError: no such fold (lists the run's folds).
        """
        if name is None:
            key = self.fold_names[0]
        else:
            key = next((k for k in (name, name.removeprefix("fold_")) if k in self.fold_dirs), "")
            if not key:
                raise UnknownKeyError("fold", name, self.fold_dirs)
        if key not in self._folds:
            self._folds[key] = FoldRun(self.fold_dirs[key], data_root=self.data_root)
        return self._folds[key]

    def fold_holding_out(self, utterance: str, *, fold: str | None = None) -> tuple[FoldRun, Utterance]:
        """The fold whose model never saw ``utterance`` (it is in that fold's test split).

        Args:
            utterance: an utterance id of the run's corpus, or the path of one of its files.
            fold: use this fold instead (the utterance may then be any of the run's).

        Raises:
            ConfigError: no fold tests the utterance (or, with ``fold``, the run has no such utterance).
        """
        for name in [fold] if fold is not None else self.fold_names:
            f = self.fold(name)
            match = [u for u in (f.all if fold is not None else f.test) if matches(u, utterance)]
            if match:
                return f, match[0]
        where = f"the corpus of fold {fold}" if fold is not None else "the test split of any fold"
        raise ConfigError(f"utterance {utterance!r} is not in {where} of {self.dir}; give an utterance id "
                          "of the run's corpus (e.g. 03a01Wa) or pass --fold")


__all__ = ["FoldRun", "Run", "checkpoint_outputs", "fold_dirs", "matches"]
