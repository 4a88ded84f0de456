"""Post-hoc calibration of class scores: temperature scaling on development speakers.

Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017, sec. 4.2)
divides every logit by one scalar ``T > 0`` fitted after training by minimising the negative
log-likelihood on held-out data; the argmax, and so every accuracy figure, is unchanged, only the
confidence moves. serkit fits ``T`` on the *development speakers* of the training data (the
loop's validation split, ``train.valid_fraction``), never on a test speaker, stores it in the
checkpoint (``temperature``), and :class:`serkit.inference.Predictor` applies it (torch and
ONNX alike; ``serkit export`` bakes it into the graph).

Recipe setting (``train.calibration``): ``none`` (default, T = 1) or ``temperature``.

Examples:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 400)
    >>> x = rng.standard_normal((400, 3)) + 2.0 * np.eye(3)[y]  # class means 2 apart, unit variance
    >>> logits = 2.0 * x  # the true log-posterior: calibrated
    >>> 0.8 < fit_temperature(logits, y) < 1.2, 3.2 < fit_temperature(4.0 * logits, y) < 4.8
    (True, True)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from serkit.errors import ConfigError

log = logging.getLogger(__name__)

#: values of ``train.calibration``
CALIBRATIONS = ("none", "temperature")
#: fewer development utterances than this give no reliable temperature
MIN_CALIBRATION_ITEMS = 20


def fit_temperature(logits: np.ndarray, y_true: Sequence[int] | np.ndarray, *, max_iter: int = 200) -> float:
    """The temperature ``T`` that minimises the NLL of ``softmax(logits / T)`` on labelled data.

    Optimised over ``log T`` (so ``T > 0``) with L-BFGS (torch), started at ``T = 1``.

    Args:
        logits: ``(N, C)`` unnormalised class scores of development utterances.
        y_true: ``(N,)`` their true class indices.
        max_iter: L-BFGS iterations.

    Returns:
        T (> 1 softens over-confident scores, < 1 sharpens).

    Raises:
        ValueError: shapes disagree, non-finite logits, or fewer than
            :data:`MIN_CALIBRATION_ITEMS` items.
    """
    import torch

    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    y = torch.as_tensor(np.asarray(y_true, dtype=np.int64))
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"fit_temperature needs logits (N, C) and y_true (N,), got {tuple(z.shape)} and {tuple(y.shape)}")
    if z.shape[0] < MIN_CALIBRATION_ITEMS:
        raise ValueError(f"fit_temperature needs at least {MIN_CALIBRATION_ITEMS} development utterances, got "
                         f"{z.shape[0]}; raise train.valid_fraction or set train.calibration=none")
    if not torch.isfinite(z).all():
        raise ValueError("fit_temperature: logits contain NaN or inf")
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    t = float(log_t.detach().exp())
    return float(np.clip(t, 1e-2, 1e2))


def check_calibration(name: str, valid_fraction: float) -> None:
    """Raise on a bad ``train.calibration`` setting.

    Raises:
        ConfigError: unknown name, or ``temperature`` without development speakers.
    """
    if name not in CALIBRATIONS:
        raise ConfigError(f"train.calibration must be one of {list(CALIBRATIONS)}, got {name!r}")
    if name == "temperature" and valid_fraction <= 0:
        raise ConfigError("train.calibration=temperature is fitted on development speakers held out from "
                          "training; set train.valid_fraction > 0 (e.g. 0.15)")


def calibrated_probs(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / T)`` along the last axis, in float64 (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)
