"""Score fusion: combine the class scores of several trained systems with weights fitted on
development speakers.

Method: linear logistic-regression fusion of system scores, as in N. Brümmer, L. Burget,
J. Černocký, O. Glembek, F. Grézl, M. Karafiát, D. van Leeuwen, P. Matějka, P. Schwarz and
A. Strasheim, "Fusion of heterogeneous speaker recognition systems in the STBU submission for the
NIST speaker recognition evaluation 2006", IEEE TASLP 15(7), 2007 (sec. III: the fused score is a
weighted sum of the systems' scores, the weights maximise the log-likelihood of labelled
development trials). Here the scores are multi-class: fused logits ``z = sum_m w_m s_m`` with
``s_m (N, C)`` the class scores of system ``m`` (log-probabilities of neural systems, the
one-vs-rest decision values of a linear SVM), and the weights minimise the cross-entropy of
``softmax(z)`` on the development utterances.

A recipe with ``model.name: fusion`` names its member recipes; ``serkit evaluate`` runs it under the
recipe's protocol (:func:`serkit.experiment.run_fold`): in every fold the development speakers are
drawn from the fold's *training* speakers (``valid_fraction``, ``valid_seed``), the members score
them, the weights are fitted on those scores, and the fused members score the test speakers.

Deviations from the paper, and why:
- one weight per system shared by all classes and no per-class offsets: the development set is
  one or a few speakers (tens to a few hundred utterances), too few for ``C`` offsets per fold;
- the weights are constrained to be non-negative (a system is never used "against" its scores);
- the cross-entropy is class-balanced (each class weighs the same), because the reported metric
  is unweighted average recall;
- a small L2 penalty (``l2``) on the weights keeps them finite when the development scores
  separate the classes perfectly.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 90)
    >>> good = np.eye(3)[y] * 3 + rng.normal(size=(90, 3))  # informative system
    >>> noise = rng.normal(size=(90, 3))                      # uninformative system
    >>> f = ScoreFusion(FusionConfig()).fit([good, noise], y)
    >>> bool(f.weights_[0] > f.weights_[1])
    True
    >>> f.predict_logits([good, noise]).shape
    (90, 3)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from serkit.errors import ConfigError, UnknownKeyError

#: keys of one ``model.members`` entry
MEMBER_KEYS = ("recipe", "set", "seeds", "runs")


@dataclass(frozen=True)
class FusionMember:
    """One system of a fusion.

    Attributes:
        recipe: path of the member's recipe YAML (its own ``features``, ``model`` and ``train``).
        set: dotted overrides applied to that recipe (as ``serkit evaluate --set``).
        seeds: train the member with ``train.seed`` = its seed + 0 .. seeds-1 and average the
            seeds' class probabilities (neural members; classical members are deterministic).
        runs: optional run folder of a finished ``serkit evaluate --out DIR`` of the same recipe,
            with ``{seed}`` standing for ``train.seed`` (e.g. ``runs/li2019_s{seed}``): its
            ``fold_<name>/checkpoint.pt`` are used instead of training again (their config must
            match the member's resolved recipe). Missing folds are trained.
    """

    recipe: str
    set: tuple[str, ...] = ()
    seeds: int = 1
    runs: str | None = None


def member_from_dict(d: Mapping[str, Any], index: int = 0) -> FusionMember:
    """A ``model.members`` entry as a :class:`FusionMember`.

    Raises:
        UnknownKeyError: a key other than :data:`MEMBER_KEYS`.
        ConfigError: no ``recipe``, or ``seeds < 1``.
    """
    where = f"model.members[{index}]"
    for k in d:
        if k not in MEMBER_KEYS:
            raise UnknownKeyError(f"key in {where}", f"{where}.{k}", [f"{where}.{n}" for n in MEMBER_KEYS])
    if not d.get("recipe"):
        raise ConfigError(f"{where} needs a recipe, e.g. {{recipe: configs/baseline/emodb_compare_svm.yaml}}")
    sets = d.get("set") or ()
    seeds = d.get("seeds", 1)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"{where}.seeds must be an integer >= 1, got {seeds!r}")
    return FusionMember(recipe=str(d["recipe"]), set=tuple(str(s) for s in ([sets] if isinstance(sets, str) else sets)),
                        seeds=seeds, runs=str(d["runs"]) if d.get("runs") else None)


@dataclass(frozen=True)
class FusionConfig:
    """Fusion settings (the ``model`` section of a fusion recipe).

    Attributes:
        name: ``fusion``.
        members: the systems, each a mapping with the keys of :class:`FusionMember`.
        valid_fraction: share of each fold's training speakers held out as development speakers
            (at least one). Neural members use the same speakers for their early stopping
            (their ``train.valid_fraction`` / ``train.valid_seed`` are set to these values).
        valid_seed: seed of the draw of the development speakers.
        l2: L2 penalty on the weights, per development utterance.
    """

    name: str = "fusion"
    members: tuple[dict[str, Any], ...] = ()
    valid_fraction: float = 0.2
    valid_seed: int = 0
    l2: float = 1e-3

    def parsed_members(self) -> list[FusionMember]:
        """The members, checked (:func:`member_from_dict`).

        Raises:
            ConfigError: fewer than two members or a bad entry.
        """
        if len(self.members) < 2:
            raise ConfigError(f"fusion needs at least two members in model.members, got {len(self.members)}")
        if not 0 < self.valid_fraction < 1:
            raise ConfigError(f"model.valid_fraction must be in (0, 1), got {self.valid_fraction}")
        return [member_from_dict(m, i) for i, m in enumerate(self.members)]


def tiny_config() -> FusionConfig:
    """Two tiny members: an eGeMAPS linear SVM and a tiny CompactCnn on log-Mel (inline recipes are
    not possible: members are recipe files, see tests/test_fusion.py)."""
    return FusionConfig(members=({"recipe": "svm.yaml"}, {"recipe": "cnn.yaml"}))


class ScoreFusion:
    """Fits and applies the fusion weights (numpy/scipy; no torch graph).

    Args:
        cfg: config (``l2``).

    Attributes:
        weights_: ``(M,)`` fitted weights, one per system (after :meth:`fit`).
    """

    def __init__(self, cfg: FusionConfig) -> None:
        self.cfg = cfg
        self.weights_: np.ndarray | None = None

    @staticmethod
    def _check(scores: Sequence[np.ndarray]) -> list[np.ndarray]:
        s = [np.asarray(x, dtype=np.float64) for x in scores]
        if not s or any(x.ndim != 2 or x.shape != s[0].shape for x in s):
            raise ValueError(f"scores must be M >= 1 arrays of one shape (N, C), got {[x.shape for x in s]}")
        if not all(np.isfinite(x).all() for x in s):
            raise ValueError("scores contain NaN or inf; check the members' outputs")
        return s

    def fit(self, scores: Sequence[np.ndarray], y: Sequence[int] | np.ndarray) -> ScoreFusion:
        """Fit the weights on development scores.

        Args:
            scores: M arrays ``(N, C)``, the systems' class scores of the same N utterances.
            y: ``(N,)`` true class indices.

        Returns:
            self.

        Raises:
            ValueError: shapes disagree or no utterance.
        """
        from scipy.optimize import minimize
        from scipy.special import log_softmax

        s = self._check(scores)
        y = np.asarray(y, dtype=np.int64)
        n, c = s[0].shape
        if y.shape != (n,) or n == 0:
            raise ValueError(f"y must have shape ({n},) with N > 0, got {y.shape}")
        counts = np.bincount(y, minlength=c).astype(float)
        w_item = (1.0 / counts[y]) / np.count_nonzero(counts)  # class-balanced; sums to 1
        S = np.stack(s)  # (M, N, C)

        def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = np.tensordot(w, S, axes=1)  # (N, C)
            lp = log_softmax(z, axis=1)
            p = np.exp(lp)
            nll = -float((w_item * lp[np.arange(n), y]).sum()) + self.cfg.l2 * float(w @ w)
            onehot = np.eye(c)[y]
            dz = (p - onehot) * w_item[:, None]  # (N, C): d nll / d z
            grad = np.einsum("mnc,nc->m", S, dz) + 2 * self.cfg.l2 * w
            return nll, grad

        m = len(s)
        w0 = np.full(m, 1.0 / m)
        res = minimize(loss, w0, jac=True, method="L-BFGS-B", bounds=[(0.0, None)] * m)
        self.weights_ = np.asarray(res.x, dtype=np.float64)
        return self

    def predict_logits(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        """Fused logits ``(N, C)`` of the systems' scores (M arrays ``(N, C)``).

        Raises:
            ConfigError: called before :meth:`fit`.
            ValueError: not as many score arrays as fitted weights.
        """
        if self.weights_ is None:
            raise ConfigError("ScoreFusion.predict_logits called before fit(); fit the weights on development scores")
        s = self._check(scores)
        if len(s) != len(self.weights_):
            raise ValueError(f"expected {len(self.weights_)} score arrays (one per system), got {len(s)}")
        return np.tensordot(self.weights_, np.stack(s), axes=1)

    def predict_proba(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        """Fused class probabilities ``(N, C)``."""
        from scipy.special import softmax

        return softmax(self.predict_logits(scores), axis=1)


def build_fusion(cfg: FusionConfig, *, seed: int = 0) -> ScoreFusion:
    """An unfitted :class:`ScoreFusion` (``seed`` is accepted for the registry's classical signature)."""
    return ScoreFusion(cfg)
