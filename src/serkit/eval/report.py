"""Result reports: per-fold values, mean ± std, and the protocol facts every number carries.

A :class:`Report` is what ``serkit evaluate`` prints and writes (JSON, predictions CSV,
confusion-matrix PNG). Its header always names the protocol, corpus, label set, fold count
and seed, and says "speaker-DEPENDENT" when the user asked for such a run.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from serkit.eval.metrics import ccc_per_dimension, classification_scores, confusion
from serkit.typing import PathLike

CLASS_METRICS = ("ua", "wa", "f1")
DIM_METRICS = ("ccc_arousal", "ccc_valence", "ccc_dominance")
#: by-product metrics (lower is better): ``cer`` = character error rate of CTC transcripts,
#: ``ece`` = expected calibration error of the class probabilities (15 bins)
AUX_METRICS = ("cer", "ece")
#: ``serkit evaluate --end-to-end``: the fold model run by Predictor on its test files (VAD segments)
END_TO_END_METRICS = ("e2e_ua", "e2e_wa", "e2e_f1")


@dataclass
class FoldResult:
    """Scores of one fold.

    Attributes:
        name: held-out speaker/session/fold.
        n_train: training utterances (including validation).
        n_test: test utterances.
        test_speakers: speakers in the test split.
        scores: metric -> value (``ua``, ``wa``, ``f1``, ``ccc_*``).
        extra: e.g. training time, epochs run.
    """

    name: str
    n_train: int
    n_test: int
    test_speakers: list[str]
    scores: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    """One test utterance's outcome (a row of predictions.csv)."""

    id: str
    fold: str
    speaker: str
    true: str | None
    pred: str | None
    scores: dict[str, float] | None = None
    avd_true: list[float] | None = None
    avd_pred: list[float] | None = None


@dataclass
class Report:
    """Everything one evaluation produced."""

    corpus: str
    label_set: str | None
    labels: list[str]
    protocol: str
    protocol_name: str
    speaker_dependent: bool
    seed: int
    n_utterances: int
    features: str
    model: str
    folds: list[FoldResult]
    predictions: list[Prediction] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    wall_time_s: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    #: cross-corpus protocols: ``{"train_corpora": [...], "test_corpora": [...]}`` (folds = test corpora)
    cross_corpus: dict[str, Any] | None = None
    #: folds of the whole protocol when only some ran (``eval.only_folds``); None = all ran
    folds_total: int | None = None
    #: ``train.seed`` of a recipe the training loop trains (None for classical models): printed
    #: beside ``seed`` (the split seed, ``eval.seed``) when the two differ, e.g. in seed runs
    train_seed: int | None = None

    @property
    def partial(self) -> bool:
        """Only some of the protocol's folds were run (the report says so everywhere)."""
        return self.folds_total is not None and len(self.folds) < self.folds_total

    def fold_count(self) -> str:
        """``1 fold``, ``10 folds`` or ``PARTIAL RUN: 3 of 10 folds``."""
        n = len(self.folds)
        if self.partial:
            return f"PARTIAL RUN: {n} of {self.folds_total} folds"
        return "1 fold" if n == 1 else f"{n} folds"

    def per_corpus(self) -> dict[str, dict[str, float]]:
        """Cross-corpus reports: scores per test corpus (one fold each), else ``{}``."""
        return {f.name: dict(f.scores) for f in self.folds} if self.cross_corpus else {}

    @property
    def metric_names(self) -> list[str]:
        """Metrics present in every fold, in display order."""
        names = [m for m in (*CLASS_METRICS, *DIM_METRICS, *AUX_METRICS, *END_TO_END_METRICS)
                 if all(m in f.scores for f in self.folds)]
        return names

    def mean(self) -> dict[str, float]:
        """Mean over folds per metric."""
        return {m: float(np.mean([f.scores[m] for f in self.folds])) for m in self.metric_names}

    def std(self) -> dict[str, float]:
        """Population std over folds per metric (0 for a single fold)."""
        return {m: float(np.std([f.scores[m] for f in self.folds])) for m in self.metric_names}

    def pooled(self) -> dict[str, float]:
        """Scores over all test predictions pooled across folds."""
        preds = [p for p in self.predictions if p.true is not None and p.pred is not None]
        out: dict[str, float] = {}
        if preds:
            out.update(classification_scores([p.true for p in preds], [p.pred for p in preds], self.labels))
        dims = [p for p in self.predictions if p.avd_true is not None and p.avd_pred is not None]
        if dims:
            c = ccc_per_dimension(np.array([p.avd_true for p in dims]), np.array([p.avd_pred for p in dims]))
            out.update({f"ccc_{k}": v for k, v in c.items()})
        return out

    def confusion_matrix(self) -> np.ndarray:
        """Confusion summed over folds ``(C, C)``, rows true."""
        preds = [p for p in self.predictions if p.true is not None and p.pred is not None]
        if not preds:
            return np.zeros((len(self.labels), len(self.labels)), dtype=int)
        return confusion([p.true for p in preds], [p.pred for p in preds], self.labels)

    def header(self) -> str:
        """One line with the facts every number carries."""
        dep = "speaker-DEPENDENT (train and test share speakers, asked for by the user)" \
            if self.speaker_dependent else "speaker-independent"
        if self.cross_corpus:
            dep = (f"CROSS-CORPUS (trained on {'+'.join(self.cross_corpus['train_corpora'])}, test corpora "
                   f"unseen in training; one fold per test corpus) {dep}")
        tested = f" ({sum(f.n_test for f in self.folds)} of them tested)" if self.partial else ""
        return (f"corpus={self.corpus} labels={self.label_set or 'custom'} ({len(self.labels)} classes: "
                f"{', '.join(self.labels)}) | protocol={self.protocol_name}, {self.fold_count()}, "
                f"{dep} | utterances={self.n_utterances}{tested} | seed={self.seed}{self._train_seed()} | "
                f"features={self.features} model={self.model}")

    def _train_seed(self) -> str:
        return f", train seed={self.train_seed}" if self.train_seed not in (None, self.seed) else ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (keys ``protocol``, ``corpus``, ``labels``, ``folds``, ``mean``, ``std``...)."""
        return {
            "corpus": self.corpus,
            "label_set": self.label_set,
            "labels": self.labels,
            "protocol": self.protocol,
            "protocol_name": self.protocol_name,
            "speaker_independent": not self.speaker_dependent,
            "n_folds": len(self.folds),
            "partial": self.partial,
            "n_folds_protocol": self.folds_total if self.folds_total is not None else len(self.folds),
            "n_utterances": self.n_utterances,
            "seed": self.seed,
            "train_seed": self.train_seed,
            "features": self.features,
            "model": self.model,
            "folds": [asdict(f) for f in self.folds],
            "mean": self.mean(),
            "std": self.std(),
            "pooled": self.pooled(),
            "confusion": {"labels": self.labels, "matrix": self.confusion_matrix().tolist()},
            "notes": self.notes,
            "cross_corpus": ({**self.cross_corpus, "per_corpus": self.per_corpus(),
                              "mean_over_corpora": self.mean()} if self.cross_corpus else None),
            "wall_time_s": self.wall_time_s,
            "config": self.config,
        }

    def to_table(self) -> str:
        """Plain-text table: header, one row per fold, then mean ± std."""
        ms = self.metric_names
        lines = [self.header()]
        w = max([4, *(len(f.name) for f in self.folds)])
        lines.append(f"{'fold':<{w}}  {'n':>5}  " + "  ".join(f"{m.upper():>13}" for m in ms))
        for f in self.folds:
            lines.append(f"{f.name:<{w}}  {f.n_test:>5}  " + "  ".join(f"{f.scores[m]:>13.4f}" for m in ms))
        mu, sd = self.mean(), self.std()
        if len(self.folds) == 1:  # no spread to show for one fold
            lines.append(f"{'all':<{w}}  {self.folds[0].n_test:>5}  " + "  ".join(f"{mu[m]:>13.4f}" for m in ms))
            one = "test corpus (cross-corpus)" if self.cross_corpus else "fold"
            lines.append(f"(scores of 1 {one}; no std)")
        else:
            lines.append(f"{'mean':<{w}}  {sum(f.n_test for f in self.folds):>5}  "
                         + "  ".join(f"{mu[m]:>6.4f}±{sd[m]:.4f}" for m in ms))
            over = "test corpora (cross-corpus)" if self.cross_corpus else "folds"
            lines.append(f"(mean ± std over {len(self.folds)} {over})")
        lines += self.class_table()
        for n in self.notes:
            lines.append(f"note: {n}")
        return "\n".join(lines)

    def class_table(self) -> list[str]:
        """Per-class recall and the confusion matrix (rows true, columns predicted) as text lines,
        pooled over the folds' test predictions; empty without class predictions."""
        cm = self.confusion_matrix()
        if not cm.sum():
            return []
        w = max(9, *(len(c) for c in self.labels))
        recall = [cm[i, i] / cm[i].sum() if cm[i].sum() else float("nan") for i in range(len(self.labels))]
        out = ["per-class recall (test predictions pooled over folds):",
               "  " + "  ".join(f"{c} {r:.3f}" for c, r in zip(self.labels, recall, strict=True)),
               "confusion matrix (rows: true, columns: predicted; summed over folds):",
               f"  {'':<{w}} " + " ".join(f"{c[:w]:>{w}}" for c in self.labels)]
        for c, row in zip(self.labels, cm, strict=True):
            out.append(f"  {c:<{w}} " + " ".join(f"{int(v):>{w}}" for v in row))
        return out

    def save(self, json_path: PathLike) -> dict[str, Path]:
        """Write the JSON and ``predictions.csv`` beside it (figures: :mod:`serkit.viz.confusion`).

        Returns:
            the written paths by kind.
        """
        p = Path(json_path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")
        out = {"json": p}
        csv_path = p.with_name(p.stem + ".predictions.csv")
        write_predictions(self.predictions, csv_path)
        out["predictions"] = csv_path
        return out

    def short_title(self) -> str:
        """Title for plots."""
        mu, sd = self.mean(), self.std()
        spread = f"±{sd['ua']:.3f}" if "ua" in sd and len(self.folds) > 1 else ""
        ua = f" UA {mu['ua']:.3f}{spread}" if "ua" in mu else ""
        return f"{self.corpus} {self.label_set or ''}, {self.protocol_name} ({self.fold_count()}){ua}"


def write_predictions(preds: Sequence[Prediction], path: PathLike) -> None:
    """Predictions as CSV: id, fold, speaker, true, pred, per-class scores, A/V/D."""
    labels = sorted({k for p in preds if p.scores for k in p.scores})
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "fold", "speaker", "true", "pred", *[f"p_{c}" for c in labels],
                    "arousal_true", "valence_true", "dominance_true",
                    "arousal_pred", "valence_pred", "dominance_pred"])
        for p in preds:
            sc = [f"{p.scores.get(c, 0.0):.5f}" if p.scores else "" for c in labels]
            at: Sequence[float | str] = p.avd_true or ("", "", "")
            ap: Sequence[float | str] = p.avd_pred or ("", "", "")
            w.writerow([p.id, p.fold, p.speaker, p.true or "", p.pred or "", *sc, *at, *ap])
