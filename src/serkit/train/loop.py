"""The one training loop of every neural model: length-aware batches, multitask losses,
augmentation (``train.augment``), schedules (``train.scheduler``), training-set input statistics
(``train.input_stats``), class weights, early stopping on training speakers, per-epoch
checkpoints and exact resume. Its settings are the ``train`` section, :class:`TrainConfig`.

Determinism: every epoch reseeds torch and the augmentation RNG from ``(seed, epoch)`` and the
batch order comes from the same pair, so a run resumed from ``last.pt`` reproduces an
uninterrupted one exactly.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from serkit.config import ExperimentConfig
from serkit.data.avd import destandardise_avd, fit_avd_stats
from serkit.data.dataset import IGNORE, Batch, LengthBucketSampler, UtteranceDataset, collate
from serkit.data.manifest import Utterance
from serkit.data.splits import check_speaker_disjoint, validation_split
from serkit.errors import ConfigError, UnknownKeyError
from serkit.eval.metrics import ccc_per_dimension, classification_scores
from serkit.eval.report import Prediction
from serkit.features.extract import UTTERANCE_LEVEL, extract_features
from serkit.models import CLASSICAL, build_model
from serkit.models.base import ModelOutput, count_parameters
from serkit.models.checkpoint import RESUME_NAME, Checkpoint, load_resume_state
from serkit.models.ks_transformer import KsTransformerConfig
from serkit.models.w2v2_ctc import greedy_ctc
from serkit.train import distributed
from serkit.train.augment import AugmentConfig, FeatureAugmenter, join_same_group
from serkit.train.losses import compute_losses, task_weights
from serkit.typing import PathLike

log = logging.getLogger(__name__)

OPTIMIZERS = ("adamw", "adam", "sgd")
SCHEDULERS = ("none", "cosine", "step", "plateau", "onecycle")
MONITORS = ("ua", "wa", "f1", "ccc", "-loss")
#: train.balance: groups that get equal shares of every epoch
BALANCES = ("none", "corpus", "corpus_class")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings for neural models (ignored by classical ones).

    Attributes:
        epochs: maximum epochs.
        batch_size: utterances per batch.
        optimizer: ``adamw``, ``adam`` or ``sgd``.
        lr: peak learning rate.
        weight_decay: decoupled (AdamW) or L2 weight decay.
        momentum: SGD momentum.
        scheduler: ``none``, ``cosine`` (per epoch), ``step``, ``plateau`` or ``onecycle``
            (per batch: warm up to ``lr`` over ``onecycle_warmup`` of the steps, then cosine
            annealing; L. N. Smith and N. Topin, "Super-Convergence", arXiv:1708.07120).
        warmup_epochs: linear warm-up epochs (cosine).
        onecycle_warmup: share of all steps spent warming up under ``onecycle``.
        grad_clip: max gradient norm; 0 disables.
        class_weighted: weight the emotion loss by inverse class frequency.
        label_smoothing: label smoothing of the emotion cross-entropy (0 = none; e.g. 0.1: the
            target puts 0.1 / C on every class).
        loss_weights: weight of each task loss: ``emotion``, ``gender``, ``ctc``, ``avd``, ...
        avd_weights: alpha, beta, gamma of the CCC loss ``1 - a CCC_aro - b CCC_val - g CCC_dom``.
        ctc_weighting: ``ce_plus_alpha_ctc`` (paper) or ``ctc_plus_alpha_ce`` (authors' code).
        valid_fraction: share of the *training speakers* held out for early stopping; 0 trains on
            all of them for ``epochs`` and keeps the last model.
        valid_seed: seed of the draw of those development speakers; None uses ``seed``. Fixing it
            while ``seed`` varies gives several seeds the same development speakers (so their
            scores can be averaged and fused on those speakers, :mod:`serkit.models.fusion`).
        patience: epochs without validation improvement before stopping; 0 disables.
        monitor: validation metric to maximise: ``ua``, ``wa``, ``f1``, ``ccc`` or ``-loss``.
        seed: random seed.
        deterministic: torch deterministic algorithms.
        num_threads: torch intra-op threads (0 = torch default).
        sort_by_length: length-aware batching (buckets of similar length); false draws plain
            shuffled batches.
        device: ``cpu`` or ``cuda``.
        input_stats: fit the model's input statistics on the training set: the per-bin mean and
            std of its feature frames go into the model (models with ``set_input_stats``, e.g.
            ``compact_cnn``, whose ``model.input_norm`` says how they are used), so prediction
            uses the same statistics. Off: the model keeps mean 0, std 1.
        augment: training-time augmentation (:class:`serkit.train.augment.AugmentConfig`;
            ``augment.wave`` augments the waves before the features are computed).
        balance: ``none``; ``corpus``: every epoch draws equally many utterances from each
            corpus of a pooled recipe (the larger corpus does not set the prior); ``corpus_class``:
            equally many from each (corpus, emotion) cell. With ``class_weighted``, the class
            weights are computed on the balanced draw.
        calibration: ``none`` or ``temperature``: after training, fit one logit temperature on
            the development (validation) speakers, store it in the checkpoint; Predictor and
            the test predictions apply it (:mod:`serkit.train.calibration`).
        speaker_norm: share of the clean training inputs (not the wave-augmented copies) that
            are normalised by their speaker's statistics (per-bin mean and std over all of that
            speaker's clean training frames) instead of their own; the rest keep the model's
            ``input_norm``. Trains one model for both uses: one file at a time, and adapted to a
            speaker at input level (:mod:`serkit.adapt`, issue 13). Models with
            ``input_norm: utterance`` or ``utterance_mean`` (``compact_cnn``); 0 = off.
        ema_decay: exponential moving average of the weights (and buffers), updated after every
            optimiser step with this decay (e.g. 0.99: a horizon of about 100 steps); the averaged
            weights are the ones validated, kept for early stopping and saved. 0 = off
            (``torch.optim.swa_utils.AveragedModel``; Polyak and Juditsky 1992; Izmailov et al.,
            "Averaging weights leads to wider optima", UAI 2018).
    """

    epochs: int = 30
    batch_size: int = 16
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    onecycle_warmup: float = 0.1
    grad_clip: float = 5.0
    class_weighted: bool = False
    label_smoothing: float = 0.0
    loss_weights: dict[str, float] = field(default_factory=lambda: {"emotion": 1.0})
    avd_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ctc_weighting: str = "ce_plus_alpha_ctc"
    valid_fraction: float = 0.15
    valid_seed: int | None = None
    patience: int = 0
    monitor: str = "ua"
    seed: int = 0
    deterministic: bool = True
    num_threads: int = 0
    sort_by_length: bool = True
    device: str = "cpu"
    input_stats: bool = False
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    balance: str = "none"
    calibration: str = "none"
    speaker_norm: float = 0.0
    ema_decay: float = 0.0




@dataclass
class Prepared:
    """Utterances with their model inputs (and optional CTC targets / text features)."""

    utts: list[Utterance]
    inputs: list[np.ndarray]
    tokens: list[np.ndarray | None] | None = None
    text: Sequence[np.ndarray | None] | None = None


@dataclass
class TrainResult:
    """A trained model and what is needed to use it.

    Attributes:
        model: the best (or last) model, eval mode.
        checkpoint: as saved in ``checkpoint.pt``.
        history: per-epoch dicts (train loss, validation metrics).
        wall_time_s: training time.
    """

    model: torch.nn.Module
    checkpoint: Checkpoint
    history: list[dict[str, float]]
    wall_time_s: float


@dataclass
class FoldOutput:
    """Test predictions of one fold and facts about its training."""

    predictions: list[Prediction]
    extra: dict[str, Any] = field(default_factory=dict)


def prepare(cfg: ExperimentConfig, utts: Sequence[Utterance], *, vocab: Any = None,
            progress: bool = True, context: Sequence[Utterance] = ()) -> Prepared:
    """Extract (cached) inputs for utterances; drop bad files with a warning.

    Args:
        cfg: recipe.
        utts: utterances.
        vocab: a CharVocab to encode transcripts for CTC, or None.
        progress: progress bar.
        context: more utterances of the same speakers, used only for the per-speaker feature
            statistics (``features.speaker_norm``), e.g. the rest of a speaker's recordings
            when only some are run.
    """
    if cfg.features.trim:
        from serkit.train.trim import trim_utterances

        utts = trim_utterances(utts, cfg.features, progress=progress)
    ids = {u.id for u in utts}
    extra = [c for c in context if c.id not in ids] if cfg.features.speaker_norm else []
    feats, errors = extract_features([*utts, *extra], cfg.features, skip_errors=True, progress=progress)
    feats = feats[: len(utts)]
    keep = [i for i, x in enumerate(feats) if x is not None]
    for uid, msg in errors.items():
        log.warning("skipped %s: %s", uid, msg)
    us = [utts[i] for i in keep]
    inputs = [x for x in feats if x is not None]
    tokens = None
    if vocab is not None:
        tokens = [vocab.encode(u.text) if u.text else None for u in us]
    text = None
    mcfg = cfg.model
    if isinstance(mcfg, KsTransformerConfig) and mcfg.text_encoder:
        # transcripts: manifest | ctc:<checkpoint> (CTC by-product where the manifest has none)
        from serkit.features.text import text_features_for
        from serkit.train.transcripts import ctc_transcripts

        text = text_features_for(us, encoder=mcfg.text_encoder, transcripts=mcfg.transcripts,
                                 max_tokens=mcfg.max_text_tokens, progress=progress, transcribe=ctc_transcripts)
    return Prepared(us, inputs, tokens, text)


def _input_dim(inputs: Sequence[np.ndarray]) -> int:
    x = inputs[0]
    return 1 if x.ndim == 1 else int(x.shape[-1])


def _dataset(p: Prepared, labels: Sequence[str], avd_stats: dict | None) -> UtteranceDataset:
    return UtteranceDataset(p.utts, p.inputs, labels=labels, avd_stats=avd_stats, tokens=p.tokens, text=p.text)


def _forward(model: torch.nn.Module, batch: Batch, norm_stats: tuple[torch.Tensor, torch.Tensor] | None = None
             ) -> ModelOutput:
    kw: dict[str, Any] = {}
    if batch.text is not None:
        kw = {"text": batch.text, "text_lengths": batch.text_lengths}
    if norm_stats is not None:
        kw["norm_stats"] = norm_stats
    return model(batch.inputs, batch.lengths, **kw)


class _SpeakerNorm:
    """``train.speaker_norm``: per batch, which clean inputs get their speaker's statistics."""

    def __init__(self, model: torch.nn.Module, train: Prepared, share: float, seed: int) -> None:
        if not 0.0 <= share <= 1.0:
            raise ConfigError(f"train.speaker_norm must be in [0, 1], got {share}")
        mode = getattr(getattr(model, "cfg", None), "norm_mode", None)
        if mode not in ("utterance", "utterance_mean"):
            raise ConfigError(f"train.speaker_norm needs a model normalised per utterance (compact_cnn with "
                              f"model.input_norm utterance or utterance_mean), got {type(model).__name__} "
                              f"with input_norm {mode!r}; set train.speaker_norm=0")
        frames: dict[str, list[np.ndarray]] = {}
        for u, x in zip(train.utts, train.inputs, strict=True):
            frames.setdefault(u.speaker, []).append(np.asarray(x, dtype=np.float64))
        # per-bin mean and std over all of the speaker's frames, as serkit.adapt.RunningStats computes them at
        # prediction (that module sits above the training loop, so the two lines are not shared)
        self.stats = {spk: (torch.from_numpy(f.mean(0).astype(np.float32)),
                            torch.from_numpy(np.maximum(f.std(0), 1e-3).astype(np.float32)))
                      for spk, f in ((spk, np.concatenate(v)) for spk, v in frames.items())}
        self.train, self.share, self.seed = train, share, seed
        self.clean_now: set[str] = set()
        self.rng = random.Random()

    def start_epoch(self, inputs: Sequence[np.ndarray], epoch: int) -> None:
        """The epoch's inputs: which utterances are drawn clean (not a wave-augmented copy) this epoch."""
        self.clean_now = {u.id for u, x, c in zip(self.train.utts, inputs, self.train.inputs, strict=True) if x is c}
        self.rng = random.Random(self.seed * 1_000_003 + epoch + 7919)  # its own stream: p=0 changes nothing

    def __call__(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``norm_stats`` for :meth:`CompactCnn.normalise` (NaN rows keep their own), or None."""
        rows = [i in self.clean_now and self.rng.random() < self.share for i in batch.ids]
        if not any(rows):
            return None
        n, f = len(rows), batch.inputs.shape[-1]
        mean, std = torch.full((n, f), math.nan), torch.ones(n, f)
        for b, (use, spk) in enumerate(zip(rows, batch.speakers, strict=True)):
            if use:
                mean[b], std[b] = self.stats[spk]
        return mean.to(batch.inputs), std.to(batch.inputs)


def _to_device(batch: Batch, model: torch.nn.Module) -> Batch:
    """The batch on the model's device (a no-op on CPU; a DDP rank's GPU with nccl)."""
    dev = next(model.parameters()).device
    if dev.type == "cpu":
        return batch
    return dataclasses.replace(batch, **{f.name: getattr(batch, f.name).to(dev) for f in dataclasses.fields(batch)
                                         if isinstance(getattr(batch, f.name), torch.Tensor)})


def _optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer not in OPTIMIZERS:
        raise UnknownKeyError("train.optimizer", cfg.optimizer, OPTIMIZERS)
    # A model may give parameter groups with their own learning rates (e.g. a fine-tuned
    # SSL encoder below the head's rate); otherwise all trainable parameters share cfg.lr.
    param_groups = getattr(model, "param_groups", None)
    groups = param_groups(cfg.lr) if callable(param_groups) else \
        [{"params": [p for p in model.parameters() if p.requires_grad]}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def _scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig, *, steps_per_epoch: int = 1):
    """The learning-rate schedule; ``onecycle`` steps per batch, the others per epoch."""
    if cfg.scheduler not in SCHEDULERS:
        raise UnknownKeyError("train.scheduler", cfg.scheduler, SCHEDULERS)
    if cfg.scheduler == "cosine":
        warm, total = cfg.warmup_epochs, max(1, cfg.epochs)

        def f(e: int) -> float:
            if e < warm:
                return (e + 1) / (warm + 1)
            return 0.5 * (1 + math.cos(math.pi * (e - warm) / max(1, total - warm)))

        return torch.optim.lr_scheduler.LambdaLR(opt, f)
    if cfg.scheduler == "onecycle":
        if not 0 < cfg.onecycle_warmup < 1:
            raise ConfigError(f"train.onecycle_warmup must be in (0, 1), got {cfg.onecycle_warmup}")
        max_lr = [g["lr"] for g in opt.param_groups]  # per-group peaks (param_groups may scale lr)
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=max_lr, total_steps=max(1, cfg.epochs * steps_per_epoch),
                                                   pct_start=cfg.onecycle_warmup)
    if cfg.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.epochs // 3), gamma=0.1)
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=2)
    return None


def _set_input_stats(model: torch.nn.Module, tc: TrainConfig, inputs: Sequence[np.ndarray]) -> None:
    """``train.input_stats``: store the training frames' per-bin mean and std in the model."""
    if not tc.input_stats:
        return
    set_input_stats = getattr(model, "set_input_stats", None)
    if not callable(set_input_stats):
        raise ConfigError(f"train.input_stats needs a model with input statistics (e.g. compact_cnn), got "
                          f"{type(model).__name__}; set train.input_stats=false")
    frames = np.concatenate([np.atleast_2d(x) for x in inputs], 0)  # (sum T, F)
    set_input_stats(torch.from_numpy(frames.mean(0)), torch.from_numpy(frames.std(0)))


def _balance_groups(utts: Sequence[Utterance], balance: str) -> list[str] | None:
    """``train.balance``: the group of each training utterance, or None."""
    if balance not in BALANCES:
        raise UnknownKeyError("train.balance", balance, BALANCES)
    if balance == "none":
        return None
    if balance == "corpus":
        return [u.corpus for u in utts]
    return [f"{u.corpus}/{u.emotion}" for u in utts]


def _class_weights(labels_of_items: Sequence[int], n_classes: int, groups: Sequence[str] | None) -> torch.Tensor:
    """Inverse class frequencies ``(C,)`` as the sampler draws them (each group counts equally)."""
    share = [1.0] * len(labels_of_items)
    if groups is not None:
        size = Counter(groups)
        share = [1.0 / size[g] for g in groups]
    counts = np.zeros(n_classes)
    for y, w in zip(labels_of_items, share, strict=True):
        if y != IGNORE:
            counts[y] += w
    present = counts[counts > 0]
    counts = np.where(counts > 0, counts, present.min() if present.size else 1.0)
    return torch.tensor(counts.sum() / (n_classes * counts), dtype=torch.float32)


def _wave_inputs(cfg: ExperimentConfig, train: Prepared, progress: bool):
    """``train.augment.wave``: the per-epoch training inputs from augmented waves (None when off)."""
    wave = cfg.train.augment.wave
    if not wave.active:
        return None
    if cfg.features.speaker_norm or cfg.features.name in UTTERANCE_LEVEL:
        raise ConfigError(f"train.augment.wave needs frame-level features computed from each wave, got "
                          f"features.name={cfg.features.name}, speaker_norm={cfg.features.speaker_norm}; "
                          "use logmel/mfcc/spectrogram without speaker_norm, or turn the wave effects off")
    from serkit.features.extract import default_cache_dir, load_utterance
    from serkit.train.waves import AugmentedInputs

    waves = [load_utterance(u) for u in train.utts]
    return AugmentedInputs(waves, cfg.features, wave, seed=cfg.train.seed, clean=train.inputs,
                           cache_dir=default_cache_dir(), progress=progress)


def _train_batches(ds: UtteranceDataset, sampler: LengthBucketSampler, aug: FeatureAugmenter | None,
                   rng: random.Random, info: distributed.DistInfo = distributed.SINGLE) -> Iterator[Batch]:
    """The training batches of one epoch: items (cropped), collated, then augmented.

    This is where augmentation enters the loop: per item before padding (crops), per padded
    batch after it (gain, masks). Wave-domain augmentation goes per item, before features.
    Under DDP each rank takes its share of every global batch (:func:`distributed.shard_batch`).
    """
    for idx in sampler:
        items = [ds[i] for i in distributed.shard_batch(idx, info)]
        if aug is not None and aug.cfg.crop_frames:
            items = [dataclasses.replace(it, inputs=aug.crop(it.inputs, rng)) for it in items]
        batch = collate(items)
        if aug is not None:
            batch = dataclasses.replace(batch, inputs=aug.batch(batch.inputs, batch.lengths, rng))
        yield batch


def _item_of(value: Any, b: int, n: int) -> Any:
    """Row ``b`` of a batched output (tensors with a batch dim, recursively in dicts); others as is."""
    if isinstance(value, torch.Tensor) and value.dim() > 0 and value.shape[0] == n:
        return value[b].detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: _item_of(v, b, n) for k, v in value.items()}
    return value


@torch.no_grad()
def run_model(model: torch.nn.Module, ds: UtteranceDataset, *, batch_size: int = 16, temperature: float = 1.0,
              progress: bool = False, desc: str = "predict", indices: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Run a model over utterances with prepared inputs: the one batched inference over a list.

    Used for validation, fold test sets and CTC transcripts (:mod:`serkit.train.transcripts`);
    files end to end (VAD, windows) go through :class:`serkit.inference.Predictor` instead.

    Args:
        model: the model (put in eval mode).
        ds: utterances with their inputs (and text features for multimodal models).
        batch_size: items per forward pass.
        temperature: logit temperature of ``probs`` (1.0 = none).
        progress: progress bar over batches.
        desc: its label.
        indices: run only these items of ``ds`` (e.g. one DDP rank's share), in this order.

    Returns:
        per item, in dataset order (or ``indices`` order): ``logits (C,)``, ``probs (C,)`` (softmax
        of logits / temperature), ``avd (3,)`` (as the model gives it), ``embedding (D,)``, ``ctc``
        (greedy frame ids), ``embeddings`` (the model's other named embeddings) and ``attn`` (its
        attention output, this item's row, padded to the batch), each None when the model has none.
        Batches are length-sorted to limit padding; padding does not change a result.
    """
    model.eval()
    items = list(range(len(ds))) if indices is None else list(indices)
    sampler = LengthBucketSampler([ds.length(i) for i in items], batch_size, shuffle=False)
    out: list[dict[str, Any] | None] = [None] * len(items)
    for idx in tqdm(sampler, desc=desc, disable=not progress, unit="batch"):
        batch = _to_device(collate([ds[items[i]] for i in idx]), model)
        o = _forward(model, batch)
        probs = torch.softmax(o.logits / temperature, -1) if o.logits is not None else None
        ctc = greedy_ctc(*o.aux["ctc"]) if "ctc" in o.aux else None
        for b, i in enumerate(idx):
            out[i] = {
                "logits": o.logits[b].cpu().numpy() if o.logits is not None else None,
                "probs": probs[b].cpu().numpy() if probs is not None else None,
                "avd": o.avd[b].cpu().numpy() if o.avd is not None else None,
                "embedding": o.embedding[b].cpu().numpy() if o.embedding is not None else None,
                "ctc": ctc[b] if ctc is not None else None,
                "embeddings": {k: v[b].cpu().numpy() for k, v in o.embeddings.items()},
                "attn": _item_of(o.attn, b, len(idx)),
            }
    return out  # type: ignore[return-value]


def run_prepared(model: torch.nn.Module, p: Prepared, *, batch_size: int = 16,
                 temperature: float = 1.0) -> list[dict[str, Any]]:
    """:func:`run_model` over prepared utterances (inputs, text features), in their order."""
    return run_model(model, _dataset(p, (), None), batch_size=batch_size, temperature=temperature)


def _validate(model, ds, labels, avd_stats, weights, ctx, batch_size,
              info: distributed.DistInfo = distributed.SINGLE) -> dict[str, float]:
    # under DDP each rank runs its share of the validation set; the outputs (probs, avd) are
    # gathered and the loss sums added, so every rank computes the same metrics (and early stop)
    mine = list(range(info.rank, len(ds), info.world_size))
    res_mine = [{"probs": r["probs"], "avd": r["avd"]} for r in run_model(model, ds, batch_size=batch_size, indices=mine)]
    res: list[dict[str, Any]] = [{}] * len(ds)
    for part in distributed.gather_objects(list(zip(mine, res_mine, strict=True)), info):
        for i, r in part:
            res[i] = r
    m: dict[str, float] = {}
    y = [ds[i].label for i in range(len(ds))]
    cls = [(t, r["probs"]) for t, r in zip(y, res, strict=True) if t != IGNORE and r["probs"] is not None]
    if cls:
        m.update(classification_scores([t for t, _ in cls], [int(np.argmax(p)) for _, p in cls],
                                       list(range(len(labels)))))
    dims = [(ds.utts[i].avd, r["avd"]) for i, r in enumerate(res) if ds.utts[i].avd is not None and r["avd"] is not None]
    if len(dims) > 1:
        pred = destandardise_avd(np.array([d for _, d in dims]), avd_stats)
        c = ccc_per_dimension(np.array([t for t, _ in dims]), pred)
        m.update({f"ccc_{k}": v for k, v in c.items()})
        m["ccc"] = float(np.mean(list(c.values())))
    # validation loss on the same tasks as training
    model.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for idx in LengthBucketSampler([ds.length(i) for i in mine], batch_size, shuffle=False):
            b = _to_device(collate([ds[mine[i]] for i in idx]), model)
            tot += float(compute_losses(_forward(model, b), b, weights, ctx)["total"]) * len(idx)
            n += len(idx)
    tot_all, n_all = distributed.sum_over_ranks([tot, n], info)
    m["loss"] = tot_all / max(n_all, 1)
    m["-loss"] = -m["loss"]
    return m


def train_model(cfg: ExperimentConfig, train: Prepared, valid: Prepared | None, *, labels: Sequence[str],
                out_dir: PathLike | None = None, resume: bool = False, progress: bool = True,
                vocab: Any = None, desc: str = "train") -> TrainResult:
    """Train one model.

    Args:
        cfg: recipe (model, train sections used).
        train: prepared training data.
        valid: prepared validation data (training speakers only) for early stopping, or None.
        labels: emotion names (class index order).
        out_dir: where ``last.pt`` (every epoch), ``checkpoint.pt`` (best), ``train.log`` and
            ``resolved.yaml`` go; None keeps everything in memory.
        resume: continue from ``out_dir/last.pt``.
        progress: progress bar.
        vocab: CharVocab for CTC (stored in the checkpoint).
        desc: progress-bar label.

    Under ``torchrun`` (:mod:`serkit.train.distributed`) the same loop runs data-parallel: each
    rank trains on its share of every batch, metrics are computed over all ranks, and only rank 0
    writes ``out_dir``.

    Raises:
        UnknownKeyError / ConfigError: bad recipe values.
    """
    t0 = time.time()
    info = distributed.current()
    progress = progress and info.is_main
    tc: TrainConfig = cfg.train
    if tc.num_threads > 0:
        torch.set_num_threads(tc.num_threads)
    if tc.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if tc.monitor not in MONITORS:
        raise UnknownKeyError("train.monitor", tc.monitor, MONITORS)
    if cfg.model.name in CLASSICAL:
        raise ConfigError(f"model {cfg.model.name} is a classical model; use serkit evaluate, not the neural trainer")
    from serkit.train.calibration import check_calibration

    check_calibration(tc.calibration, tc.valid_fraction)
    weights = task_weights(tc.loss_weights, tc.ctc_weighting)
    aug = FeatureAugmenter(tc.augment, feature_name=cfg.features.name) if tc.augment.enabled else None
    tc.augment.check_join()
    if tc.augment.join and (train.tokens is not None or train.text is not None):
        raise ConfigError("train.augment.join joins audio only: a joined input would not match its transcript "
                          "(CTC targets) or text features; set train.augment.join=0 for this recipe")
    avd_stats = fit_avd_stats(train.utts)
    ds_tr = _dataset(train, labels, avd_stats)
    ds_va = _dataset(valid, labels, avd_stats) if valid is not None and valid.utts else None
    input_dim = _input_dim(train.inputs)
    torch.manual_seed(tc.seed)
    model = build_model(cfg.model, input_dim=input_dim, num_classes=len(labels),
                        vocab_size=len(vocab) if vocab is not None else None)
    _set_input_stats(model, tc, train.inputs)
    if info.device != "cpu":
        model.to(info.device)
    groups = _balance_groups(train.utts, tc.balance)
    join_groups = [(u.speaker, u.emotion) for u in train.utts] if tc.augment.join else []
    waves = _wave_inputs(cfg, train, progress)
    spk_norm = _SpeakerNorm(model, train, tc.speaker_norm, tc.seed) if tc.speaker_norm > 0 else None
    ema = _ema(model, tc.ema_decay)
    evm = ema.module if ema is not None else model  # the weights that are validated, kept and saved
    # plain shuffled batches are length buckets of equal length
    sampler = LengthBucketSampler([ds_tr.length(i) for i in range(len(ds_tr))] if tc.sort_by_length else [0] * len(ds_tr),
                                  tc.batch_size, shuffle=True, seed=tc.seed, groups=groups)
    opt = _optimizer(model, tc)
    sched = _scheduler(opt, tc, steps_per_epoch=len(sampler))
    per_batch = isinstance(sched, torch.optim.lr_scheduler.OneCycleLR)
    ctx: dict[str, Any] = {"avd_weights": tc.avd_weights, "label_smoothing": tc.label_smoothing}
    if tc.class_weighted and labels:
        ctx["class_weights"] = _class_weights([ds_tr[i].label for i in range(len(ds_tr))], len(labels),
                                              groups).to(info.device)

    def checkpoint(**extra: Any) -> Checkpoint:
        return Checkpoint(config=cfg.to_dict(), state_dict=model.state_dict(), label_names=list(labels),
                          input_dim=input_dim, avd_stats=avd_stats, vocab=vocab.to_dict() if vocab is not None else None,
                          extra={"n_parameters": count_parameters(model), **dist_facts, **extra})

    dist_facts = {"distributed": {"world_size": info.world_size, "backend": info.backend}} if info.enabled else {}
    main = info.is_main  # rank 0 (or the only process) writes out_dir

    out = Path(out_dir) if out_dir is not None else None
    history: list[dict[str, float]] = []
    start_epoch, best_score, best_state, bad = 0, -math.inf, None, 0
    if out is not None:
        from serkit.config import dump_yaml

        if main:
            dump_yaml(cfg, out / "resolved.yaml")
        st = load_resume_state(out, resume=resume)  # OUT/last.pt, on the CPU; load_state_dict copies to the device
        if st is not None:
            model.load_state_dict(st.state_dict)
            opt.load_state_dict(st.extra["optimizer"])
            if sched is not None and st.extra.get("scheduler") is not None:
                sched.load_state_dict(st.extra["scheduler"])
            if ema is not None:
                ema.load_state_dict(st.extra["ema"])
            start_epoch, history = int(st.extra["epoch"]) + 1, list(st.extra["history"])
            best_score = float(st.extra["best_score"])
            best_state, bad = st.extra.get("best_state"), int(st.extra["bad_epochs"])
            log.info("resumed %s at epoch %d", out, start_epoch)
    net = distributed.wrap(model, info)  # DDP averages gradients over ranks; the model itself in one process
    logf = (out / "train.log").open("a", encoding="utf-8") if out is not None and main else None
    bar = tqdm(range(start_epoch, tc.epochs), desc=desc, disable=not progress, unit="epoch",
               initial=start_epoch, total=tc.epochs)
    try:
        for epoch in bar:
            torch.manual_seed(tc.seed * 1_000_003 + epoch)  # exact resume: RNG depends on (seed, epoch) only
            rng = random.Random(tc.seed * 1_000_003 + epoch)
            sampler.set_epoch(epoch)
            if waves is not None:
                ds_tr.inputs = waves.for_epoch(epoch)
            if tc.augment.join:
                ds_tr.inputs = join_same_group(
                    train.inputs if waves is None else ds_tr.inputs, join_groups,
                    tc.augment.join, tc.augment.crop_frames, random.Random(tc.seed * 1_000_003 + epoch + 104_729),
                    partner=waves.partner if waves is not None else None)
            model.train()
            tot, n = 0.0, 0
            if spk_norm is not None:
                spk_norm.start_epoch(ds_tr.inputs, epoch)
            for batch in _train_batches(ds_tr, sampler, aug, rng, info):
                batch = _to_device(batch, model)
                norm_stats = spk_norm(batch) if spk_norm is not None else None
                losses = compute_losses(_forward(net, batch, norm_stats), batch, weights, ctx)
                opt.zero_grad(set_to_none=True)
                losses["total"].backward()
                if tc.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip)
                opt.step()
                if ema is not None:
                    ema.update_parameters(model)
                if per_batch:
                    sched.step()
                tot += float(losses["total"].detach()) * len(batch)
                n += len(batch)
            tot_all, n_all = distributed.sum_over_ranks([tot, n], info)  # every rank's items
            rec: dict[str, float] = {"epoch": epoch + 1, "train_loss": tot_all / max(n_all, 1),
                                     "lr": opt.param_groups[-1]["lr"]}
            if ds_va is not None:
                vm = _validate(evm, ds_va, labels, avd_stats, weights, ctx, tc.batch_size, info)
                rec.update({f"valid_{k}": v for k, v in vm.items() if k != "-loss"})
                score = vm.get(tc.monitor, vm.get("ccc", vm["-loss"]))
                if score > best_score:
                    best_score, bad = score, 0
                    best_state = {k: v.detach().clone() for k, v in evm.state_dict().items()}
                else:
                    bad += 1
            if sched is not None and not per_batch:
                if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    sched.step(best_score if ds_va is not None else -rec["train_loss"])
                else:
                    sched.step()
            history.append(rec)
            bar.set_postfix({k: round(v, 4) for k, v in rec.items() if k in ("train_loss", f"valid_{tc.monitor}")})
            if logf is not None:
                logf.write(" ".join(f"{k}={v:.5g}" if isinstance(v, float) else f"{k}={v}" for k, v in rec.items()) + "\n")
                logf.flush()
            if out is not None and main:
                checkpoint(optimizer=opt.state_dict(), scheduler=sched.state_dict() if sched is not None else None,
                           epoch=epoch, history=history, best_score=best_score, best_state=best_state,
                           bad_epochs=bad, ema=ema.state_dict() if ema is not None else None).save(out / RESUME_NAME)
            if ds_va is not None and tc.patience > 0 and bad >= tc.patience:
                log.info("early stop at epoch %d (best valid %s %.4f)", epoch, tc.monitor, best_score)
                break
    finally:
        bar.close()
        if logf is not None:
            logf.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    elif ema is not None:
        model.load_state_dict(ema.module.state_dict())
    model.eval()
    ckpt = checkpoint(history=history, best_valid=best_score if best_state is not None else None)
    if tc.calibration == "temperature":
        ckpt.temperature, ckpt.extra["calibration"] = _calibrate(model, ds_va, tc.batch_size)
    if out is not None and main:
        ckpt.save(out / "checkpoint.pt")
    distributed.barrier(info)  # the other ranks return once rank 0's checkpoint is on disk
    return TrainResult(model, ckpt, history, round(time.time() - t0, 1))


def _ema(model: torch.nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel | None:
    """The exponential moving average of ``model``'s weights and buffers (None when ``decay`` is 0)."""
    if decay == 0:
        return None
    if not 0 < decay < 1:
        raise ConfigError(f"train.ema_decay must be in [0, 1) (0 = off), got {decay}")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _calibrate(model: torch.nn.Module, ds_va: UtteranceDataset | None, batch_size: int) -> tuple[float, dict[str, Any]]:
    """Temperature scaling on the development (validation) speakers; ECE before and after."""
    from serkit.eval.metrics import expected_calibration_error
    from serkit.train.calibration import MIN_CALIBRATION_ITEMS, calibrated_probs, fit_temperature

    if ds_va is None:
        raise ConfigError("train.calibration=temperature needs development speakers; set train.valid_fraction > 0")
    res = run_model(model, ds_va, batch_size=batch_size)
    keep = [(ds_va[i].label, r["logits"]) for i, r in enumerate(res) if ds_va[i].label != IGNORE and r["logits"] is not None]
    if len(keep) < MIN_CALIBRATION_ITEMS:
        log.warning("calibration skipped: %d labelled development utterances, fewer than %d; T stays 1",
                    len(keep), MIN_CALIBRATION_ITEMS)
        return 1.0, {"method": "none", "reason": f"{len(keep)} development utterances < {MIN_CALIBRATION_ITEMS}"}
    y = np.array([k for k, _ in keep])
    z = np.stack([z for _, z in keep])
    t = fit_temperature(z, y)
    info = {"method": "temperature", "temperature": t, "n_dev": len(y),
            "dev_ece_before": expected_calibration_error(calibrated_probs(z), y),
            "dev_ece_after": expected_calibration_error(calibrated_probs(z, t), y)}
    log.info("calibration: T=%.3f on %d dev utterances, ECE %.3f -> %.3f", t, len(y),
             info["dev_ece_before"], info["dev_ece_after"])
    return t, info


def training_vocab(cfg: ExperimentConfig, utts: Sequence[Utterance]):
    """The CTC character vocabulary of the training transcripts, or None without a CTC loss.

    Raises:
        ConfigError: a CTC loss weight but no transcript.
    """
    weights = cfg.train.loss_weights
    if weights.get("ctc", 0.0) <= 0:
        return None
    from serkit.data.vocab import CharVocab

    texts = [u.text for u in utts if u.text]
    if not texts:
        raise ConfigError("train.loss_weights.ctc > 0 but no training utterance has a transcript")
    return CharVocab.from_texts(texts)


@dataclass
class Fitted:
    """A model trained by :func:`fit` and the facts of its training."""

    result: TrainResult
    valid: list[Utterance]
    vocab: Any = None

    @property
    def extra(self) -> dict[str, Any]:
        """Training facts for reports: time, epochs, parameters, validation speakers."""
        return {"train_time_s": self.result.wall_time_s, "epochs": len(self.result.history),
                "n_parameters": self.result.checkpoint.extra["n_parameters"], "n_valid": len(self.valid),
                "valid_speakers": sorted({u.speaker for u in self.valid})}


def fit(cfg: ExperimentConfig, train_utts: Sequence[Utterance], *, labels: Sequence[str],
        out_dir: PathLike | None = None, resume: bool = False, progress: bool = True, desc: str = "train") -> Fitted:
    """Train on utterances: validation speakers drawn from them (``train.valid_fraction``), inputs
    prepared, then :func:`train_model`. ``serkit train`` and every fold of ``serkit evaluate`` run this.
    """
    tc = cfg.train
    tr, va = validation_split(train_utts, tc.valid_fraction, seed=tc.seed if tc.valid_seed is None else tc.valid_seed)
    vocab = training_vocab(cfg, tr)
    p_tr = prepare(cfg, tr, vocab=vocab, progress=False)
    p_va = prepare(cfg, va, vocab=vocab, progress=False) if va else None
    res = train_model(cfg, p_tr, p_va, labels=labels, out_dir=out_dir, resume=resume, progress=progress,
                      vocab=vocab, desc=desc)
    return Fitted(res, list(va), vocab)


def fit_predict(cfg: ExperimentConfig, train_utts: Sequence[Utterance], test_utts: Sequence[Utterance], *,
                labels: Sequence[str], out_dir: PathLike | None = None, progress: bool = True,
                fold: str = "", resume: bool = False) -> FoldOutput:
    """Train on one fold's training speakers (validation from them) and predict its test set.

    Raises:
        SpeakerOverlapError: train (or validation) and test share a speaker in a
            speaker-independent run.
    """
    check_speaker_disjoint(train_utts, test_utts, fold=fold, speaker_dependent=cfg.eval.speaker_dependent)
    fitted = fit(cfg, train_utts, labels=labels, out_dir=out_dir, resume=resume, progress=progress,
                 desc=f"fold {fold}" if fold else "train")
    p_te = prepare(cfg, test_utts, vocab=fitted.vocab, progress=False)
    preds = predict_prepared(fitted.result, p_te, fold=fold, batch_size=cfg.train.batch_size)
    extra = fitted.extra
    cal = fitted.result.checkpoint.extra.get("calibration")
    if cal and cal["method"] == "temperature":  # test ECE before calibration too, from the raw logits (the scores in preds are calibrated)
        extra["calibration"] = {**cal, "test_ece_before": _test_ece_uncalibrated(fitted.result, p_te, cfg)}
    if fitted.vocab is not None:
        extra["transcripts"] = {p.id: t for p, t in
                                zip(preds, _transcripts(fitted.result, p_te, fitted.vocab, cfg), strict=True)}
    return FoldOutput(preds, extra)


def _test_ece_uncalibrated(res: TrainResult, p: Prepared, cfg) -> float | None:
    from serkit.eval.metrics import expected_calibration_error
    from serkit.train.calibration import calibrated_probs

    ds = _dataset(p, res.checkpoint.label_names, res.checkpoint.avd_stats)
    outs = run_model(res.model, ds, batch_size=cfg.train.batch_size)
    keep = [(ds[i].label, r["logits"]) for i, r in enumerate(outs) if ds[i].label != IGNORE and r["logits"] is not None]
    if not keep:
        return None
    return expected_calibration_error(calibrated_probs(np.stack([z for _, z in keep])), [k for k, _ in keep])


def _transcripts(res: TrainResult, p: Prepared, vocab, cfg) -> list[str]:
    ds = _dataset(p, res.checkpoint.label_names, res.checkpoint.avd_stats)
    return [vocab.decode_ctc(r["ctc"]) if r["ctc"] is not None else "" for r in
            run_model(res.model, ds, batch_size=cfg.train.batch_size)]


def predict_prepared(res: TrainResult, p: Prepared, *, fold: str = "", batch_size: int = 16) -> list[Prediction]:
    """Prediction rows for prepared utterances."""
    labels = res.checkpoint.label_names
    stats = res.checkpoint.avd_stats
    ds = _dataset(p, labels, stats)
    outs = run_model(res.model, ds, batch_size=batch_size, temperature=res.checkpoint.temperature)
    preds = []
    for u, r in zip(p.utts, outs, strict=True):
        scores = {c: float(s) for c, s in zip(labels, r["probs"], strict=True)} if r["probs"] is not None else None
        avd_pred = None
        if r["avd"] is not None:
            avd_pred = [float(v) for v in destandardise_avd(r["avd"], stats)]
        preds.append(Prediction(
            id=u.id, fold=fold, speaker=u.speaker, true=u.emotion if u.emotion in labels else None,
            pred=max(scores, key=lambda c: scores[c]) if scores else None, scores=scores,
            avd_true=list(u.avd) if u.avd is not None else None, avd_pred=avd_pred))
    return preds
