"""Self-supervised CPC pretraining: InfoNCE with same-sequence negatives, its step and loop.

Checkpoints and resume are those of the training loop (:mod:`serkit.train.loop`): the typed
:class:`~serkit.models.checkpoint.Checkpoint` (its ``model`` section a ``CpcConfig``), the state
``OUT/last.pt`` that ``--resume`` continues from (:func:`~serkit.models.checkpoint.load_resume_state`),
and ``OUT/checkpoint.pt`` when the run ends; :func:`~serkit.models.checkpoint.load_checkpoint`
and ``features.encoder: OUT`` find them by the one rule.

Li et al., "Contrastive Unsupervised Learning for Speech Emotion Recognition", ICASSP 2021
(arXiv:2102.06357), Section 2.1; InfoNCE from van den Oord et al. (arXiv:1807.03748), Eq. 4:
for each frame ``t`` and step ``k``, the score of a candidate ``z_j`` is ``z_j . W_k c_t``; the loss
is the cross-entropy of picking the true ``z_{t+k}`` among it and ``N`` negatives drawn uniformly
from the *same* sequence (never the positive frame itself). Training segments have a fixed
length (10 s in the paper): longer files are cut at a random offset, shorter ones are padded by
repeating themselves. Adam, lr 2e-4, weight decay 1e-5 (paper).

Logged per epoch (``history.json``) and per step (``steps.jsonl``): the loss and the accuracy of
picking the positive (chance = ``1 / (N + 1)``), plus the same on held-out files.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from serkit.data import audio
from serkit.errors import AudioError, ConfigError
from serkit.features.cpc import CHECKPOINT_KIND, CpcConfig, CpcModel
from serkit.models.checkpoint import RESUME_NAME, Checkpoint, load_checkpoint, load_resume_state
from serkit.typing import PathLike

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioSource:
    """One stretch of unlabelled audio: a file, optionally a segment of it (seconds)."""

    path: str
    start: float = 0.0
    duration: float | None = None


@dataclass(frozen=True)
class CpcTrainConfig:
    """Pretraining settings.

    Attributes:
        epochs: passes over the files.
        max_steps: stop after this many optimiser steps in total (None = no cap); the run then
            ends with a final checkpoint, and ``--resume`` with a larger cap continues it.
        batch_size: segments per step.
        lr: Adam learning rate (paper: 2e-4).
        weight_decay: Adam L2 weight decay (paper: 1e-5).
        grad_clip: max gradient norm; 0 disables.
        valid_fraction: share of files held out to measure loss / accuracy on unseen audio.
        seed: seed of crops, negatives, shuffling and the held-out split.
        num_threads: torch threads (0 = leave as is).
        save_every: also checkpoint every this many steps within an epoch (0 = only per epoch).
    """

    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 8
    lr: float = 2e-4
    weight_decay: float = 1e-5
    grad_clip: float = 0.0
    valid_fraction: float = 0.02
    seed: int = 0
    num_threads: int = 0
    save_every: int = 50


def sample_negative_indices(positives: torch.Tensor, lengths: torch.Tensor, n: int, *,
                            generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``n`` negative frame indices per positive, uniformly from the same sequence, never the positive.

    Args:
        positives: ``(B, P, K)`` int64 index of the positive frame in its sequence.
        lengths: ``(B,)`` valid frames per sequence (each >= 2).
        n: negatives per positive.
        generator: torch RNG.

    Returns:
        ``(B, P, K, n)`` int64 indices in ``[0, lengths[b])``, all different from the positive.
    """
    if int(lengths.min()) < 2:
        raise ValueError(f"negatives need sequences of at least 2 frames, got lengths {lengths.tolist()}")
    shape = (*positives.shape, n)
    u = torch.rand(shape, generator=generator, device=positives.device)
    # uniform over len-1 slots, then shift the slots at/after the positive up by one: the
    # positive index is skipped and every other frame keeps probability 1/(len-1)
    span = (lengths - 1).to(u.dtype)[:, None, None, None]
    j = torch.minimum((u * span).long(), (lengths - 2)[:, None, None, None])
    return j + (j >= positives[..., None]).long()


def info_nce(z: torch.Tensor, c: torch.Tensor, predictors: nn.ModuleList, lengths: torch.Tensor, *,
             negatives: int, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """InfoNCE loss of CPC and the accuracy of picking the positive.

    Args:
        z: ``(B, T, C)`` encoder outputs (targets).
        c: ``(B, T, H)`` contexts.
        predictors: ``K`` modules ``H -> C`` (``W_k``, k = 1..K).
        lengths: ``(B,)`` valid frames.
        negatives: ``N`` negatives per prediction, drawn from the same sequence.
        generator: RNG for the negatives.

    Returns:
        (mean loss, accuracy in [0, 1], number of predictions scored) over all valid ``(b, t, k)``
        with ``t + k < lengths[b]``. At random initialisation the loss is about ``log(N + 1)``.
    """
    B, T, _ = z.shape
    K = len(predictors)
    P = T - 1  # context positions that can predict at least one step
    if P < 1:
        raise ValueError(f"InfoNCE needs at least 2 frames, got T={T}")
    t = torch.arange(P, device=z.device)
    k = torch.arange(1, K + 1, device=z.device)
    pos = t[None, :, None] + k[None, None, :]  # (1, P, K)
    valid = pos < lengths[:, None, None]  # (B, P, K)
    pos = torch.minimum(pos.expand(B, P, K), (lengths - 1)[:, None, None])  # (B, P, K), clamped where invalid
    idx = torch.cat([pos[..., None], sample_negative_indices(pos, lengths, negatives, generator=generator)], -1)  # (B, P, K, 1+N)
    losses, correct = [], []
    for i, w in enumerate(predictors):
        pred = w(c[:, :P])  # (B, P, C)
        # scores against every frame, then pick the candidates: cheaper in memory than gathering
        # (B, P, 1+N, C) copies of z
        scores = torch.bmm(pred, z.transpose(1, 2))  # (B, P, T)
        logits = scores.gather(2, idx[:, :, i])  # (B, P, 1+N); column 0 is the positive
        ce = F.cross_entropy(logits.reshape(-1, negatives + 1), torch.zeros(B * P, dtype=torch.long, device=z.device),
                             reduction="none").view(B, P)
        m = valid[:, :, i]
        losses.append((ce * m).sum())
        correct.append(((logits.argmax(-1) == 0) & m).sum())
    count = valid.sum()
    denom = count.clamp(min=1)
    return torch.stack(losses).sum() / denom, torch.stack(correct).sum().float() / denom, count


def fixed_segment(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Cut ``x`` to ``n`` samples at a random offset, or pad it to ``n`` by repeating it."""
    if len(x) >= n:
        o = int(rng.integers(0, len(x) - n + 1))
        return x[o: o + n]
    reps = math.ceil(n / len(x))
    return np.tile(x, reps)[:n]


class SegmentDataset(torch.utils.data.Dataset):
    """Fixed-length segments of unlabelled audio; item ``(epoch, i)`` is deterministic."""

    def __init__(self, sources: Sequence[AudioSource], seconds: float, seed: int) -> None:
        self.sources = list(sources)
        self.n = int(round(seconds * audio.SAMPLE_RATE))
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> torch.Tensor:
        s = self.sources[i]
        x = audio.load(s.path, start=s.start, duration=s.duration)
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return torch.from_numpy(fixed_segment(x, self.n, rng).copy())


def collect_sources(inputs: Sequence[PathLike]) -> list[AudioSource]:
    """Audio sources from folders (every audio file below) and JSONL manifests (their segments).

    Raises:
        ConfigError: an input is neither an existing folder, an audio file nor a ``.jsonl`` manifest,
            or nothing was found.
    """
    from serkit.data.manifest import read_jsonl

    out: list[AudioSource] = []
    for inp in inputs:
        p = Path(inp)
        if p.is_dir():
            out += [AudioSource(str(f)) for f in audio.find_audio(p)]
        elif p.is_file() and p.suffix == ".jsonl":
            out += [AudioSource(u.path, u.start, u.duration) for u in read_jsonl(p)]
        elif p.is_file() and p.suffix.lower() in audio.AUDIO_EXTENSIONS:
            out.append(AudioSource(str(p)))
        else:
            raise ConfigError(f"--audio {p}: expected a folder of audio files, an audio file or a .jsonl "
                              "manifest (serkit prepare CORPUS); check the path")
    if not out:
        raise ConfigError(f"no audio found in {[str(i) for i in inputs]}; pass folders holding "
                          f"{list(audio.AUDIO_EXTENSIONS)} files or a manifest")
    return out


def _split(sources: Sequence[AudioSource], fraction: float, seed: int) -> tuple[list[AudioSource], list[AudioSource]]:
    if fraction <= 0 or len(sources) < 10:
        return list(sources), []
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sources))
    n_valid = max(1, int(round(fraction * len(sources))))
    held = set(order[:n_valid].tolist())
    return ([s for i, s in enumerate(sources) if i not in held], [s for i, s in enumerate(sources) if i in held])


def _batches(ds: SegmentDataset, order: np.ndarray, batch_size: int, start: int):
    for b in range(start, math.ceil(len(order) / batch_size)):
        items = []
        for i in order[b * batch_size:(b + 1) * batch_size]:
            try:
                items.append(ds[int(i)])
            except AudioError as e:
                log.warning("skipping %s", e)
        if items:
            yield b, torch.stack(items)  # (B, S)


@torch.no_grad()
def evaluate_cpc(model: CpcModel, ds: SegmentDataset, *, batch_size: int, seed: int) -> dict[str, float]:
    """Mean InfoNCE loss and positive accuracy on a dataset (fixed crops and negatives)."""
    model.eval()
    g = torch.Generator().manual_seed(seed)
    tot_l = tot_a = tot_n = 0.0
    for _, w in _batches(ds, np.arange(len(ds)), batch_size, 0):
        lengths = torch.full((w.shape[0],), w.shape[1], dtype=torch.long)
        z, c, n = model(w, lengths)
        loss, acc, cnt = info_nce(z, c, model.predictors, n, negatives=model.cfg.negatives, generator=g)
        tot_l += float(loss) * int(cnt)
        tot_a += float(acc) * int(cnt)
        tot_n += int(cnt)
    model.train()
    return {"loss": tot_l / max(tot_n, 1), "accuracy": tot_a / max(tot_n, 1)}


def cpc_checkpoint(model: CpcModel, **extra: Any) -> Checkpoint:
    """The typed checkpoint of a CPC model: ``model`` section = its :class:`CpcConfig`, no labels,
    raw-wave input; ``extra`` keys (training state, history, provenance) are stored beside."""
    return Checkpoint(config={"model": asdict(model.cfg), "features": {"name": "raw"}}, state_dict=model.state_dict(),
                      label_names=[], input_dim=1, extra={"kind": CHECKPOINT_KIND, **extra})


def save_cpc(path: PathLike, model: CpcModel, **extra: Any) -> Path:
    """Write a CPC checkpoint atomically (:meth:`Checkpoint.save`); returns the path."""
    return cpc_checkpoint(model, **extra).save(path)


def _cpc_model(ck: Checkpoint, what: str, fix: str) -> CpcModel:
    """The CPC model of a checkpoint, or a ConfigError saying ``what`` is not one and how to fix it."""
    built = ck.build_model()
    if not isinstance(built, CpcModel):
        raise ConfigError(f"{what} is not a CPC pretraining run (model {ck.config.get('model', {}).get('name')!r}); {fix}")
    return built


def pretrain_cpc(sources: Sequence[AudioSource], out_dir: PathLike, *, cfg: CpcConfig | None = None,
                 train: CpcTrainConfig | None = None, resume: bool = False, progress: bool = True,
                 audio: Sequence[str] = (), init: PathLike | None = None) -> dict:
    """Pretrain a CPC model on unlabelled audio.

    Writes ``OUT/last.pt`` (latest, resumable: model, optimiser, position; every ``save_every``
    steps and at each epoch end), ``OUT/checkpoint.pt`` (the encoder when the run ends),
    ``OUT/epoch_XXX.pt`` (the encoder after each epoch), ``OUT/history.json`` (per-epoch loss / accuracy, train and held-out),
    ``OUT/steps.jsonl`` (per-step loss / accuracy) and ``OUT/config.json``.

    Args:
        sources: audio (see :func:`collect_sources`).
        out_dir: output folder.
        cfg: CPC architecture (ignored on resume: the checkpoint's is used).
        train: optimisation settings.
        resume: continue from ``OUT/last.pt`` (or the ``OUT/cpc.pt`` of an older serkit); without
            one, start from scratch (logged), as ``serkit train --resume`` does.
        progress: tqdm bar.
        audio: where ``sources`` came from (folders / manifests), recorded in ``config.json`` so
            a checkpoint's pretraining data can be told later.
        init: start a new run from this CPC encoder's weights (a checkpoint file, run folder or
            ``bundled:cpc``) with a fresh optimiser, e.g. to continue the shipped encoder on your own
            audio; its architecture replaces ``cfg``. Ignored when resuming (the run's own state wins).

    Returns:
        ``{"history": [...], "steps": int, "checkpoint": path}``.

    Raises:
        ConfigError: an existing run in ``OUT`` without ``resume``; ``init`` is not a CPC encoder.
        CheckpointError: the state to resume from, or ``init``, cannot be read.
    """
    cfg = cfg or CpcConfig()
    train = train or CpcTrainConfig()
    out = Path(out_dir)
    last, final, legacy = out / RESUME_NAME, out / "checkpoint.pt", out / "cpc.pt"
    if train.num_threads:
        torch.set_num_threads(train.num_threads)
    # Subnormal floats build up in the gradients after a few thousand steps and made every step 1.2-1.5x
    # slower on CPU (docs/cpc_card.md, benchmarks/cpc_denormal.py); flushing them to zero costs nothing
    # measurable. Process-wide, like the thread count above.
    torch.set_flush_denormal(True)
    state: Checkpoint | None
    if resume and not last.is_file() and legacy.is_file():
        state = load_checkpoint(legacy)  # a run of serkit before the typed checkpoint (upgraded on load)
    else:
        state = load_resume_state(out, resume=resume)
    model: CpcModel
    if state is not None:
        model = _cpc_model(state, f"{out}: its training state", "choose another --out")
        cfg = model.cfg
    else:
        existing = [p.name for p in (last, final, legacy) if p.exists()]
        if existing and not resume:
            raise ConfigError(f"{out} holds a pretraining run ({', '.join(existing)}); pass --resume to continue it "
                              "or choose another --out")
        torch.manual_seed(train.seed)
        if init is not None:
            model = _cpc_model(load_checkpoint(init), f"--init {init}",
                               "name a checkpoint written by serkit pretrain cpc, or bundled:cpc")
            cfg = model.cfg
            log.info("starting from the weights of %s (fresh optimiser, step 0)", init)
        else:
            model = CpcModel(cfg)
    out.mkdir(parents=True, exist_ok=True)
    train_src, valid_src = _split(sources, train.valid_fraction, train.seed)
    (out / "config.json").write_text(json.dumps({"cpc": asdict(cfg), "train": asdict(train),
                                                 "audio": [str(a) for a in audio],
                                                 "init": None if init is None else str(init),
                                                 "files_train": len(train_src), "files_valid": len(valid_src)},
                                                indent=2))
    opt = torch.optim.Adam(model.parameters(), lr=train.lr, weight_decay=train.weight_decay)
    epoch, batch_in_epoch, step = 0, 0, 0
    history: list[dict] = []
    if state is not None:
        st = state.extra
        opt.load_state_dict(st["optimizer"])
        epoch, batch_in_epoch, step = int(st["epoch"]), int(st["batch_in_epoch"]), int(st["step"])
        history = list(st.get("history") or [])
        if history and not history[-1].get("complete", True) and batch_in_epoch:
            history.pop()  # the partly done epoch gets one row when it completes
        # running sums of a partly done epoch, so its logged means cover all of its steps
        resumed_sums = st.get("epoch_sums")
        resumed_rng = st.get("negatives_rng")  # absent in cpc.pt of older serkit: negatives reseeded
        log.info("resumed %s at step %d (epoch %d, batch %d)", out, step, epoch + 1, batch_in_epoch)
    else:
        resumed_sums = resumed_rng = None
    ds = SegmentDataset(train_src, cfg.segment_seconds, train.seed)
    vds = SegmentDataset(valid_src, cfg.segment_seconds, train.seed + 1)
    n_batches = math.ceil(len(ds) / train.batch_size)
    chance = 1.0 / (cfg.negatives + 1)
    log.info("CPC pretraining: %d train files, %d held out, %d steps/epoch, chance accuracy %.4f",
             len(train_src), len(valid_src), n_batches, chance)

    sums = {"loss": 0.0, "accuracy": 0.0, "n": 0, "seconds": 0.0}

    def checkpoint(ep: int, b: int) -> None:
        partial = {**sums, "seconds": sums["seconds"] + time.time() - t0} if b else None
        save_cpc(last, model, optimizer=opt.state_dict(), epoch=ep, batch_in_epoch=b, step=step,
                 history=history, train=asdict(train), epoch_sums=partial, negatives_rng=g.get_state())

    model.train()
    done = False
    with (out / "steps.jsonl").open("a") as steps_log:
        while epoch < train.epochs and not done:
            ds.epoch = epoch
            order = np.random.default_rng([train.seed, epoch]).permutation(len(ds))
            g = torch.Generator().manual_seed(train.seed * 100003 + epoch * 1009 + batch_in_epoch)
            if resumed_rng is not None and batch_in_epoch:
                g.set_state(resumed_rng)  # exact resume: the negatives continue where the run stopped
            resumed_rng = None
            t0 = time.time()
            sums = dict(resumed_sums) if resumed_sums and batch_in_epoch else {"loss": 0.0, "accuracy": 0.0, "n": 0,
                                                                                "seconds": 0.0}
            resumed_sums = None
            bar = tqdm(total=n_batches, initial=batch_in_epoch, desc=f"cpc epoch {epoch + 1}/{train.epochs}",
                       disable=not progress, unit="step")
            for b, w in _batches(ds, order, train.batch_size, batch_in_epoch):
                lengths = torch.full((w.shape[0],), w.shape[1], dtype=torch.long)
                z, c, n = model(w, lengths)
                loss, acc, cnt = info_nce(z, c, model.predictors, n, negatives=cfg.negatives, generator=g)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if train.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip)
                opt.step()
                step += 1
                batch_in_epoch = b + 1
                sums["loss"] += loss.item()
                sums["accuracy"] += acc.item()
                sums["n"] += 1
                steps_log.write(json.dumps({"step": step, "epoch": epoch + 1, "loss": round(loss.item(), 5),
                                            "accuracy": round(acc.item(), 5), "time": round(time.time(), 1)}) + "\n")
                steps_log.flush()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{acc.item():.3f}")
                if train.max_steps is not None and step >= train.max_steps:
                    done = True
                    break
                if train.save_every and step % train.save_every == 0:
                    checkpoint(epoch, batch_in_epoch)
            bar.close()
            finished_epoch = batch_in_epoch >= n_batches
            row = {"epoch": epoch + 1, "steps": step, "complete": finished_epoch,
                   "train_loss": sums["loss"] / max(sums["n"], 1),
                   "train_accuracy": sums["accuracy"] / max(sums["n"], 1),
                   "seconds": round(sums["seconds"] + time.time() - t0, 1), "chance": chance}
            if len(vds):
                v = evaluate_cpc(model, vds, batch_size=train.batch_size, seed=train.seed)
                row.update({"valid_loss": v["loss"], "valid_accuracy": v["accuracy"]})
            history.append(row)
            log.info("epoch %d: %s", epoch + 1, {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
            if finished_epoch:
                epoch += 1
                batch_in_epoch = 0
            checkpoint(epoch, batch_in_epoch)
            if finished_epoch:
                save_cpc(out / f"epoch_{epoch:03d}.pt", model, step=step, epoch=epoch)
            (out / "history.json").write_text(json.dumps(history, indent=2))
    model.eval()
    save_cpc(final, model, step=step, history=history, train=asdict(train), audio=[str(a) for a in audio])
    return {"history": history, "steps": step, "checkpoint": str(final)}


__all__ = ["AudioSource", "CpcTrainConfig", "collect_sources", "cpc_checkpoint", "evaluate_cpc", "fixed_segment",
           "info_nce", "pretrain_cpc", "sample_negative_indices", "save_cpc"]
