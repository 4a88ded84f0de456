"""Task losses and their composition by the recipe's ``train.loss_weights``.

Tasks: ``emotion`` (cross-entropy on ``out.logits``), ``gender`` (cross-entropy on
``out.aux["gender"]``), ``avd`` (CCC loss on ``out.avd``), ``ctc`` (character CTC on
``out.aux["ctc"]``). A task contributes only when its weight is non-zero and the model and
batch both provide it, so new heads plug in by adding one entry to :data:`TASKS`.

CTC weighting (Cai et al. 2021): ``ce_plus_alpha_ctc`` gives ``L = L_CE + alpha L_CTC`` (the
paper); ``ctc_plus_alpha_ce`` gives ``L = L_CTC + alpha L_CE`` (the authors' released code);
alpha is ``loss_weights["ctc"]`` in both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from serkit.data.dataset import IGNORE, Batch
from serkit.errors import ConfigError, UnknownKeyError
from serkit.models.base import ModelOutput

CTC_WEIGHTINGS = ("ce_plus_alpha_ctc", "ctc_plus_alpha_ce")


def concordance_cc(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Differentiable CCC per column of ``(N, D)`` tensors -> ``(D,)`` (population moments)."""
    pm, tm = pred.mean(0), target.mean(0)
    pv = ((pred - pm) ** 2).mean(0)
    tv = ((target - tm) ** 2).mean(0)
    cov = ((pred - pm) * (target - tm)).mean(0)
    return 2 * cov / (pv + tv + (pm - tm) ** 2 + eps)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor,
             weights: Sequence[float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """``1 - alpha CCC_aro - beta CCC_val - gamma CCC_dom`` (Li et al. 2021), weights normalised to sum 1.

    Rows with a NaN target are ignored.

    Args:
        pred: ``(B, 3)``.
        target: ``(B, 3)``.
        weights: alpha, beta, gamma.
    """
    ok = ~torch.isnan(target).any(1)
    if ok.sum() < 2:
        return pred.sum() * 0.0
    w = torch.as_tensor(weights, dtype=pred.dtype, device=pred.device)[: pred.shape[1]]
    w = w / w.sum()
    return 1.0 - (w * concordance_cc(pred[ok], target[ok])).sum()


def _emotion(out: ModelOutput, batch: Batch, ctx: Mapping) -> torch.Tensor | None:
    if out.logits is None or batch.label is None or not (batch.label != IGNORE).any():
        return None
    return F.cross_entropy(out.logits, batch.label, weight=ctx.get("class_weights"), ignore_index=IGNORE,
                           label_smoothing=float(ctx.get("label_smoothing", 0.0)))


def _gender(out: ModelOutput, batch: Batch, ctx: Mapping) -> torch.Tensor | None:
    g = out.aux.get("gender")
    if g is None or batch.gender is None or not (batch.gender != IGNORE).any():
        return None
    return F.cross_entropy(g, batch.gender, ignore_index=IGNORE)


def _avd(out: ModelOutput, batch: Batch, ctx: Mapping) -> torch.Tensor | None:
    if out.avd is None or batch.avd is None:
        return None
    return ccc_loss(out.avd, batch.avd, ctx.get("avd_weights", (1.0, 1.0, 1.0)))


def _ctc(out: ModelOutput, batch: Batch, ctx: Mapping) -> torch.Tensor | None:
    c = out.aux.get("ctc")
    if c is None or batch.tokens is None or batch.token_lengths is None:
        return None
    logits, lengths = c
    has = batch.token_lengths > 0
    if not has.any():
        return None
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T, B, V)
    losses = F.ctc_loss(log_probs, batch.tokens, lengths, batch.token_lengths, blank=0,
                        reduction="none", zero_infinity=True)  # (B,)
    losses = losses / batch.token_lengths.clamp(min=1)
    return losses[has].mean()


#: task name -> loss function(out, batch, ctx) returning None when the task does not apply
TASKS: dict[str, Callable[[ModelOutput, Batch, Mapping], torch.Tensor | None]] = {
    "emotion": _emotion,
    "gender": _gender,
    "avd": _avd,
    "ctc": _ctc,
}


def task_weights(loss_weights: Mapping[str, float], ctc_weighting: str = "ce_plus_alpha_ctc") -> dict[str, float]:
    """Effective weight per task (emotion defaults to 1; CTC weighting mode applied).

    Raises:
        UnknownKeyError: a task or weighting mode that does not exist.
    """
    for k in loss_weights:
        if k not in TASKS:
            raise UnknownKeyError("task in train.loss_weights", k, TASKS)
    if ctc_weighting not in CTC_WEIGHTINGS:
        raise UnknownKeyError("train.ctc_weighting", ctc_weighting, CTC_WEIGHTINGS)
    w = {"emotion": 1.0, **{k: float(v) for k, v in loss_weights.items()}}
    if any(v < 0 for v in w.values()):
        raise ConfigError(f"train.loss_weights must be >= 0, got {w}")
    if ctc_weighting == "ctc_plus_alpha_ce" and w.get("ctc", 0.0) > 0:
        alpha = w["ctc"]
        w["ctc"], w["emotion"] = 1.0, alpha * w["emotion"]
    return w


def compute_losses(out: ModelOutput, batch: Batch, weights: Mapping[str, float],
                   ctx: Mapping | None = None) -> dict[str, torch.Tensor]:
    """Per-task losses and their weighted ``total``.

    Args:
        out: model output.
        batch: the batch (targets).
        weights: effective task weights from :func:`task_weights`.
        ctx: extras (``class_weights`` tensor, ``avd_weights``).

    Returns:
        ``{task: loss, ..., "total": weighted sum}``.

    Raises:
        ConfigError: no weighted task applies to this model and batch.
    """
    ctx = ctx or {}
    losses: dict[str, torch.Tensor] = {}
    total = None
    for name, w in weights.items():
        if w == 0:
            continue
        val = TASKS[name](out, batch, ctx)
        if val is None:
            continue
        losses[name] = val
        total = w * val if total is None else total + w * val
    if total is None:
        raise ConfigError(
            f"no task with a non-zero weight applies (weights {dict(weights)}); the model gives "
            f"logits={out.logits is not None}, avd={out.avd is not None}, aux={sorted(out.aux)}, and the "
            "batch needs matching labels (emotion, avd, gender, transcripts)"
        )
    losses["total"] = total
    return losses
