"""Classical baselines on utterance-level functionals (scikit-learn).

The openSMILE + linear SVM baseline of the SER literature (e.g. Schuller et al., the
INTERSPEECH ComParE challenges): z-scored functionals and a linear support-vector machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
