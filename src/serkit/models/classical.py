"""Classical baselines on utterance-level functionals (scikit-learn).

The openSMILE + linear SVM baseline of the SER literature (e.g. Schuller et al., the
INTERSPEECH ComParE challenges): z-scored functionals and a linear support-vector machine.

A fitted pipeline is saved as the arrays of :class:`LinearScorer` (scaler statistics, weights,
biases), so ``serkit train`` can write it into a run folder and ``serkit predict`` can run it
on the functionals of each speech segment without scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


@dataclass(frozen=True)
class LinearSvmConfig:
    """Linear SVM on standardised features.

    Attributes:
        name: ``linear_svm``.
        C: inverse regularisation strength.
        class_weight: ``balanced`` or None.
        max_iter: liblinear iterations.
    """

    name: str = "linear_svm"
    C: float = 0.001
    class_weight: str | None = "balanced"
    max_iter: int = 20000


def build_linear_svm(cfg: LinearSvmConfig, *, seed: int = 0) -> Pipeline:
    """StandardScaler + LinearSVC pipeline.

    Args:
        cfg: config.
        seed: random state of liblinear.
    """
    # imported here: scikit-learn takes seconds to import, and serkit predict never needs it
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    return Pipeline([
        ("scale", StandardScaler()),
        ("svm", LinearSVC(C=cfg.C, class_weight=cfg.class_weight, max_iter=cfg.max_iter, random_state=seed)),
    ])


class LinearScorer:
    """A fitted linear classifier on standardised features, rebuilt from a checkpoint with numpy.

    The saved form of :func:`build_linear_svm`'s pipeline (``StandardScaler`` + ``LinearSVC``):
    ``decision_function(X) = ((X - mean) / scale) @ coef.T + intercept``, exactly what the
    fitted scikit-learn pipeline computes, so ``serkit predict`` needs no scikit-learn and no
    pickle (checkpoints load with ``torch.load(weights_only=True)``).

    Args:
        mean: ``(D,)`` feature means of the scaler.
        scale: ``(D,)`` feature standard deviations of the scaler.
        coef: ``(C, D)`` weights, one row per class in ``label_names`` order.
        intercept: ``(C,)`` biases.

    Examples:
        >>> s = LinearScorer(np.zeros(2), np.ones(2), np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2))
        >>> s.decision_function(np.array([[2.0, 1.0]])).tolist()
        [[2.0, 1.0]]
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> None:
        self.mean = np.asarray(mean, np.float64)
        self.scale = np.asarray(scale, np.float64)
        self.coef = np.asarray(coef, np.float64)
        self.intercept = np.asarray(intercept, np.float64)
        if self.coef.ndim != 2 or self.coef.shape[1] != self.mean.shape[0]:
            raise ValueError(f"coef must be (C, {self.mean.shape[0]}), got {self.coef.shape}; the checkpoint is "
                             "damaged: train the model again with serkit train")

    @property
    def input_dim(self) -> int:
        """Feature dimension D."""
        return int(self.mean.shape[0])

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        """Class margins ``(B, C)`` of feature vectors ``x (B, D)``."""
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"features must be (B, {self.input_dim}), got {x.shape}; use the feature set the "
                             "model was trained on (its features section)")
        return ((x - self.mean) / self.scale) @ self.coef.T + self.intercept

    def state_dict(self) -> dict[str, Any]:
        """Tensors for :class:`serkit.models.checkpoint.Checkpoint`."""
        import torch

        return {k: torch.from_numpy(getattr(self, k).copy()) for k in ("mean", "scale", "coef", "intercept")}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> LinearScorer:
        """Rebuild from :meth:`state_dict`'s tensors."""
        missing = [k for k in ("mean", "scale", "coef", "intercept") if k not in state]
        if missing:
            raise ValueError(f"linear model state lacks {missing}; train the model again with serkit train")
        return cls(*(np.asarray(state[k].detach().cpu().numpy() if hasattr(state[k], "detach") else state[k])
                     for k in ("mean", "scale", "coef", "intercept")))

    @classmethod
    def from_pipeline(cls, pipe: Pipeline, label_names: Sequence[str]) -> LinearScorer:
        """From a fitted :func:`build_linear_svm` pipeline, rows reordered to ``label_names``.

        A two-class ``LinearSVC`` has one margin ``d`` (positive = ``classes_[1]``); it becomes
        the two rows ``(-d, d)`` so that every model has one margin per class.

        Raises:
            ValueError: a label the classifier never saw.
        """
        scaler, svm = pipe.named_steps["scale"], pipe.named_steps["svm"]
        classes = [str(c) for c in svm.classes_]
        coef, icpt = np.asarray(svm.coef_, np.float64), np.atleast_1d(np.asarray(svm.intercept_, np.float64))
        if len(classes) == 2 and coef.shape[0] == 1:
            coef, icpt = np.concatenate([-coef, coef]), np.concatenate([-icpt, icpt])
        unknown = [c for c in label_names if c not in classes]
        if unknown:
            raise ValueError(f"labels {unknown} are not among the classifier's classes {classes}")
        order = [classes.index(c) for c in label_names]
        scale = np.asarray(scaler.scale_ if scaler.scale_ is not None else np.ones(coef.shape[1]), np.float64)
        return cls(np.asarray(scaler.mean_, np.float64), scale, coef[order], icpt[order])
