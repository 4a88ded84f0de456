"""Speaker adaptation at prediction time: a speaker's own unlabelled speech sets the input statistics.

A model trained on a few studios sees other speakers and microphones as a shifted, rescaled
distribution of its input features; one file at a time it cannot tell a loud speaker from an
angry one. Given more of the same speaker's speech (a folder per participant, the calls of one
agent, hours of one host), serkit estimates that speaker's per-bin mean and standard deviation of
the model-input features over the **voice-activity (VAD) speech segments only** and uses them in
place of the statistics the model's input normaliser would otherwise use (the training set's
global statistics, or the utterance's own). Labels are never read: the statistics are computed
from audio alone, like the per-speaker standardisation of the SER literature (e.g. Busso et al.,
"Iterative feature normalization scheme for automatic emotion detection from speech", IEEE TAC
2013; here without the iterative neutral-speech selection).

Two places the speaker's statistics can act (``AdaptConfig.level``):

- **an intermediate representation** (``pooled``: the mean + std statistics pooling output;
  ``embedding``: the segment-level layer the classifier reads; models with ``represent`` /
  ``from_representation``, e.g. CompactCnn): the speaker's per-dimension mean (and, with
  ``match_std``, std) of that representation over its speech segments is mapped onto the
  training speakers' reference, ``h' = h - mean_s + mean_ref`` (or ``(h - mean_s) / std_s *
  std_ref + mean_ref``), and the model's remaining layers classify ``h'``. The reference (the
  mean over training speakers of each speaker's mean, and the root mean square of their
  within-speaker stds) is computed once from the training files, with the trained model, and
  stored in the checkpoint (``adapt_reference``; :func:`add_reference`, ``python -m serkit.adapt
  CHECKPOINT``): no retraining. ``level: auto`` (the default) uses the level and variant stored
  with the reference, chosen on development speakers (docs/benchmarks.md, "Speaker adaptation");
- **the model's embedding together with openSMILE functionals of the same segment**
  (``embedding+compare``: the segment's embedding concatenated with its ComParE_2016
  functionals, standardised by the speaker's own mean and std and classified by a
  speaker-normalised head fitted on the training speakers; the classic per-speaker
  standardised functionals of the SER literature next to what the network learned);
- **the model's input features** (``input``; the only place for models without a reference).

How a trained model takes input-level statistics (no retraining):

- a model whose ``forward`` accepts ``norm_stats=(mean (B, F), std (B, F))`` uses them inside its
  own normaliser (in place of its global / utterance / running statistics);
- otherwise, if the model standardises its input with global training statistics (``in_mean`` /
  ``in_std``, also carried by serkit's ONNX export), the speaker's features are mapped onto the
  training distribution before the model sees them: ``x' = (x - mean_s) / std_s * std_g +
  mean_g``, so the model's ``(x' - mean_g) / std_g`` equals the speaker-standardised input;
- any other model is not adapted, and the result says why (``"adapted": false, "reason": ...``).

Both assume that what a speaker's recordings share (voice, microphone, room, language) is what
should be removed, i.e. that the speaker's mix of emotions is not far from the training
speakers'. For a speaker who is angry in every file, adaptation moves the average toward the
training speakers' average and can hide it.

Below ``AdaptConfig.min_seconds`` of speech the estimate is too noisy: the file is predicted as
without adaptation and its result says so.

Examples:
    >>> import numpy as np
    >>> acc = RunningStats()
    >>> acc.update(np.ones((100, 4), np.float32), seconds=1.0)
    >>> acc.update(np.full((100, 4), 3.0, np.float32), seconds=1.0)
    >>> s = acc.stats("spk")
    >>> s.mean.tolist(), s.std.tolist(), s.seconds, s.frames
    ([2.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 1.0], 2.0, 200)
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serkit.errors import ConfigError
from serkit.typing import PathLike

#: ``--speaker-from`` choices: the file's parent folder, or the file itself (one long recording)
SPEAKER_FROM = ("folder", "file")
#: standard deviations below this (a constant feature bin) are clamped
STD_FLOOR = 1e-3
#: intermediate representations adaptation can map (models with ``represent``/``from_representation``)
REP_LEVELS = ("pooled", "embedding")
#: a model level joined with openSMILE functionals of the same segment: level -> (model level, feature set)
HYBRID_LEVELS = {"embedding+compare": ("embedding", "compare")}
#: inverse L2 strength of the head of a hybrid level (chosen on the development split, docs/benchmarks.md)
HYBRID_C = 1.0
#: ``AdaptConfig.level`` values
LEVELS = ("auto", "input", *REP_LEVELS, *HYBRID_LEVELS)
#: checkpoint key of the stored representation reference
REFERENCE_KEY = "adapt_reference"
#: inverse L2 strength of the speaker-normalised head (fit_head)
HEAD_C = 0.1


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of speaker adaptation.

    Attributes:
        min_seconds: least speech (VAD segments, seconds) a speaker's statistics must come from;
            with less, files are predicted without adaptation and say so. Default 30 s: on the
            development speakers the v0.2 model's adaptation (embedding + head) from about 10 s
            lost UA against one file at a time (0.556 vs 0.595), from about 30 s it gained
            (0.699); the shipped ``embedding+compare`` gains from 30 s on held-out speakers and
            across corpora (+0.05 to +0.10); see docs/benchmarks.md, "Speaker adaptation".
        level: where the statistics act: ``input`` (model-input features), ``pooled`` /
            ``embedding`` (an intermediate representation; needs the checkpoint's
            ``adapt_reference``), ``embedding+compare`` (the embedding joined with the segment's
            ComParE functionals; always with its head), or ``auto``: the reference's chosen level if the checkpoint has
            one, else ``input``.
        match_std: with a representation level, also map the speaker's std onto the reference's
            (None: the variant stored with the reference; False: mean only).
        head: with a representation level, standardise it by the speaker's own mean and std and
            classify it with the reference's speaker-normalised head (a linear classifier fitted
            on the training speakers' representations, each standardised by its own speaker's
            statistics: the matching per-speaker normalisation, without retraining the network).
            None: the variant stored with the reference.
        balance: also balance the speaker's predicted labels: one bias per class, added to the
            log-scores of all the speaker's segments, makes the duration-weighted mean of the
            speaker's (adapted) segment scores uniform over the classes (:func:`balance_bias`).
            This assumes the speaker's recordings cover the emotions about evenly (acted corpora,
            a varied set of calls); a speaker who is always calm gets labels spread over the
            classes. Files only: streams are not balanced.
    """

    min_seconds: float = 30.0
    level: str = "auto"
    match_std: bool | None = None
    head: bool | None = None
    balance: bool = False

    def __post_init__(self) -> None:
        if not self.min_seconds >= 0:
            raise ConfigError(f"min_seconds must be >= 0 seconds, got {self.min_seconds}")
        if self.level not in LEVELS:
            raise ConfigError(f"adaptation level must be one of {list(LEVELS)}, got {self.level!r}")


@dataclass(frozen=True)
class SpeakerStats:
    """Per-bin statistics of one speaker's model-input features over its speech.

    Attributes:
        speaker: the speaker group's name (folder, file, or the name given in a speaker map).
        mean: ``(F,)`` float32 mean of the raw model-input features.
        std: ``(F,)`` float32 standard deviation (floored at ``STD_FLOOR``).
        seconds: speech (VAD segments) the statistics come from, in seconds.
        frames: feature frames counted.
        files: files that contributed.
        level: what the statistics are of: ``input`` (feature frames, ``F`` bins) or a
            representation level (one vector per speech segment; ``frames`` counts segments).
        match_std: representation levels: map the std too (else the mean only).
        head: representation levels: standardise by the speaker and use the reference's
            speaker-normalised head instead of the model's classifier.
        bias: ``(C,)`` per-class log-score offset that balances the speaker's labels
            (``AdaptConfig.balance``), or None.
    """

    speaker: str
    mean: np.ndarray
    std: np.ndarray
    seconds: float
    frames: int
    files: int = 0
    level: str = "input"
    match_std: bool = False
    head: bool = False
    bias: np.ndarray | None = None


class RunningStats:
    """Accumulates feature frames of one speaker (sums in float64); also the running estimate of streams."""

    def __init__(self) -> None:
        self.n = 0
        self.sum: np.ndarray | None = None
        self.sumsq: np.ndarray | None = None
        self.seconds = 0.0
        self.files = 0

    def update(self, frames: np.ndarray, *, seconds: float) -> None:
        """Add ``(T, F)`` frames that came from ``seconds`` of speech."""
        x = np.asarray(frames, dtype=np.float64)
        if x.ndim != 2 or not len(x):
            return
        if self.sum is None:
            self.sum = np.zeros(x.shape[1])
            self.sumsq = np.zeros(x.shape[1])
        self.sum += x.sum(0)
        self.sumsq += (x * x).sum(0)
        self.n += len(x)
        self.seconds += float(seconds)

    def stats(self, speaker: str, *, level: str = "input", match_std: bool = False, head: bool = False) -> SpeakerStats:
        """The current estimate (raises ConfigError if nothing was added)."""
        if not self.n or self.sum is None or self.sumsq is None:
            raise ConfigError(f"speaker {speaker!r}: no speech frames to estimate statistics from")
        mean = self.sum / self.n
        var = np.maximum(self.sumsq / self.n - mean * mean, 0.0)
        std = np.maximum(np.sqrt(var), STD_FLOOR)
        return SpeakerStats(speaker, mean.astype(np.float32), std.astype(np.float32), round(self.seconds, 3),
                            self.n, self.files, level, match_std, head)


def model_level(level: str) -> str:
    """The model representation a level reads (a hybrid level's model part; ``input`` and the others as is)."""
    return HYBRID_LEVELS[level][0] if level in HYBRID_LEVELS else level


def balance_bias(log_scores: np.ndarray, weights: np.ndarray | None = None, *, iters: int = 200) -> np.ndarray:
    """The per-class bias ``b`` that makes the weighted mean of ``softmax(log_scores + b)`` uniform.

    A fixed-point iteration on the classes' mean scores (the M-step of M. Saerens et al.,
    "Adjusting the outputs of a classifier to new a priori probabilities", Neural Computation
    2002, with the new prior fixed to uniform instead of estimated). Reads no labels.

    Args:
        log_scores: ``(N, C)`` log-probabilities of one speaker's segments.
        weights: ``(N,)`` segment weights (durations); None weighs them equally.

    Returns:
        ``(C,)`` float32 bias, mean zero.
    """
    from scipy.special import softmax

    z = np.asarray(log_scores, dtype=np.float64)
    w = np.ones(len(z)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    b = np.zeros(z.shape[1])
    for _ in range(iters):
        m = np.maximum(w @ softmax(z + b, axis=1), 1e-12)
        b -= np.log(m * z.shape[1])
        b = np.clip(b - b.mean(), -30.0, 30.0)
    return b.astype(np.float32)


def map_to_reference(x: np.ndarray, stats: SpeakerStats, ref_mean: np.ndarray, ref_std: np.ndarray) -> np.ndarray:
    """Map a speaker's features onto a reference (training) distribution, per bin.

    Args:
        x: ``(..., F)`` raw model-input features of that speaker.
        stats: the speaker's statistics.
        ref_mean: ``(F,)`` reference mean (the model's training statistics).
        ref_std: ``(F,)`` reference standard deviation.

    Returns:
        ``(..., F)`` float32 ``(x - mean_s) / std_s * ref_std + ref_mean``.
    """
    return ((x - stats.mean) / stats.std * np.asarray(ref_std, np.float32)
            + np.asarray(ref_mean, np.float32)).astype(np.float32)


def map_representation(h: np.ndarray, stats: SpeakerStats, reference: Mapping[str, Any]) -> np.ndarray:
    """Map a speaker's representation vectors onto the training speakers' reference.

    Args:
        h: ``(..., D)`` representation (at ``stats.level``) of that speaker's segments.
        stats: the speaker's statistics at the same level.
        reference: ``{"mean": (D,), "std": (D,)}`` of that level (see :func:`reference_from`).

    Returns:
        ``(..., D)`` float32 ``h - mean_s + mean_ref``, or with ``stats.match_std``
        ``(h - mean_s) / std_s * std_ref + mean_ref``.
    """
    if stats.head:  # the speaker-normalised head reads the speaker-standardised representation
        return ((h - stats.mean) / stats.std).astype(np.float32)
    mref = np.asarray(reference["mean"], np.float32)
    if not stats.match_std:
        return (h - stats.mean + mref).astype(np.float32)
    return ((h - stats.mean) / stats.std * np.asarray(reference["std"], np.float32) + mref).astype(np.float32)


def reference_from(per_speaker: Sequence[SpeakerStats]) -> dict[str, list[float]]:
    """The reference of one level: mean over speakers of their means, RMS of their within-speaker stds.

    Every training speaker counts once, whatever its amount of speech.

    Raises:
        ConfigError: fewer than two speakers.

    Examples:
        >>> a = SpeakerStats("a", np.array([0.0, 2.0]), np.array([1.0, 1.0]), 20.0, 8)
        >>> b = SpeakerStats("b", np.array([2.0, 2.0]), np.array([1.0, 3.0]), 20.0, 8)
        >>> {k: [round(x, 3) for x in v] for k, v in reference_from([a, b]).items()}
        {'mean': [1.0, 2.0], 'std': [1.0, 2.236]}
    """
    if len(per_speaker) < 2:
        raise ConfigError(f"a reference needs the statistics of at least 2 training speakers, got {len(per_speaker)}")
    means = np.stack([s.mean for s in per_speaker]).astype(np.float64)
    stds = np.stack([s.std for s in per_speaker]).astype(np.float64)
    return {"mean": means.mean(0).tolist(), "std": np.sqrt((stds ** 2).mean(0)).tolist()}


def fit_head(reps: Mapping[str, Sequence[tuple[np.ndarray, str]]], labels: Sequence[str], *,
             C: float = HEAD_C) -> dict[str, Any]:
    """The speaker-normalised head: multinomial logistic regression on per-speaker standardised vectors.

    Args:
        reps: per training speaker, ``(vector (D,), label)`` of each speech segment (a segment
            carries its file's label: this reads the *training* labels, never a test speaker's).
        labels: class names in the model's logit order.
        C: inverse L2 strength (scikit-learn ``LogisticRegression``), class-balanced weights.

    Returns:
        ``{"weight": (C, D), "bias": (C,), "C": C, "n": segments}`` as lists.
    """
    from sklearn.linear_model import LogisticRegression

    xs, ys = [], []
    for rows in reps.values():
        h = np.stack([r for r, _ in rows]).astype(np.float64)
        xs.append((h - h.mean(0)) / np.maximum(h.std(0), STD_FLOOR))
        ys += [labels.index(y) for _, y in rows]
    x, y = np.concatenate(xs), np.array(ys)
    clf = LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(x, y)
    w = np.zeros((len(labels), x.shape[1]))
    b = np.full(len(labels), -1e4)  # a class absent from training is never predicted
    w[clf.classes_], b[clf.classes_] = clf.coef_, clf.intercept_
    return {"weight": w.tolist(), "bias": b.tolist(), "C": C, "n": len(y)}


def add_reference(checkpoint: PathLike, *, out: PathLike | None = None, data_root: PathLike | None = None,
                  level: str = "embedding", match_std: bool = False, head: bool = False, fold: str | None = None,
                  hybrid: bool = False, progress: bool = True) -> dict[str, Any]:
    """Store the training speakers' representation reference in a trained checkpoint (no retraining).

    The training files are rebuilt from the checkpoint's own recipe (data, labels, protocol):
    the training side of its fold (the only fold for ``holdout`` / ``dev``; ``fold`` picks one
    for other protocols). Each training speaker's files go through the same VAD segments and
    model as at prediction (``Predictor.speaker_stats``); their per-speaker statistics at every
    level of :data:`REP_LEVELS` give the reference (:func:`reference_from`); the speaker-normalised
    head of each level (:func:`fit_head`) is fitted on the training files' labels. A test
    speaker's labels are never read.

    Args:
        checkpoint: a serkit checkpoint of a model with ``represent`` (e.g. CompactCnn).
        out: where to write the checkpoint with the reference (default: in place).
        data_root: corpora folder (default ``$SERKIT_DATA``, else ``../shared/data``).
        level: the level ``AdaptConfig(level="auto")`` will use with this checkpoint.
        match_std: the variant ``auto`` will use (mean only when False).
        head: ``auto`` uses the speaker-normalised head (:func:`fit_head`, fitted here on the
            training speakers' segments and their training labels).
        fold: the fold whose training side to use, for protocols with several folds.
        hybrid: also store the levels of :data:`HYBRID_LEVELS` (openSMILE functionals of every
            training segment; slower). Implied when ``level`` is one of them.
        progress: progress bar over training speakers.

    Returns:
        the stored reference entry.

    Raises:
        ConfigError: a model without representation levels, unknown ``level`` or ``fold``, or a
            fold with fewer than two training speakers.
    """
    from serkit.data.splits import recipe_folds
    from serkit.experiment import load_data, recipe_from_dict
    from serkit.inference import Predictor
    from serkit.models.checkpoint import find_checkpoint, load_checkpoint

    if level not in (*REP_LEVELS, *HYBRID_LEVELS):
        raise ConfigError(f"level must be one of {[*REP_LEVELS, *HYBRID_LEVELS]}, got {level!r}")
    levels = [*REP_LEVELS, *(HYBRID_LEVELS if hybrid or level in HYBRID_LEVELS else ())]
    path = find_checkpoint(checkpoint)
    ck = load_checkpoint(path)
    pred = Predictor.from_checkpoint(path)
    if not pred.backend.rep_levels:
        raise ConfigError(f"{path}: model {ck.model_config.name} exposes no intermediate representation "
                          "(represent/from_representation); use input-level adaptation (AdaptConfig(level='input'))")
    cfg = recipe_from_dict(ck.config)
    utts, _ = load_data(cfg, data_root=data_root)
    folds = recipe_folds(cfg, utts)
    if fold is not None:
        folds = [f for f in folds if f.name == fold]
    if len(folds) != 1:
        raise ConfigError(f"{path}: its recipe has folds {[f.name for f in recipe_folds(cfg, utts)]}; "
                          "pass fold=NAME (--fold) to say which one this checkpoint was trained on")
    by_id = {u.id: u for u in utts}
    by_spk: dict[str, list[Any]] = {}
    for i in folds[0].train:
        by_spk.setdefault(by_id[i].speaker, []).append(by_id[i])
    from tqdm import tqdm

    per_level: dict[str, list[SpeakerStats]] = {lv: [] for lv in levels}
    seg_reps: dict[str, dict[str, list[tuple[np.ndarray, str]]]] = {lv: {} for lv in levels}
    for spk, us in tqdm(sorted(by_spk.items()), desc="reference", unit="speaker", disable=not progress):
        for lv in levels:
            rows = [(h, u.emotion) for u in us if u.emotion in pred.label_names
                    for h in pred.segment_representations(u.path, lv)]
            if rows:
                seg_reps[lv][spk] = rows
                acc = RunningStats()
                for h, _ in rows:
                    acc.update(h[None], seconds=0.0)
                per_level[lv].append(acc.stats(spk, level=lv))
    entry: dict[str, Any] = {lv: {**reference_from(v), "head": fit_head(seg_reps[lv], pred.label_names,
                                                                        C=HYBRID_C if lv in HYBRID_LEVELS else HEAD_C)}
                             for lv, v in per_level.items()}
    entry.update(level=level, match_std=bool(match_std), head=bool(head or level in HYBRID_LEVELS),
                 speakers=len(per_level[level]),
                 segments=int(sum(s.frames for s in per_level[level])),
                 fitted_on=f"training speakers of fold {folds[0].name!r} of the checkpoint's recipe "
                           f"({cfg.data.corpus}, {len(by_spk)} speakers), VAD segments; training labels are read "
                           "only by the speaker-normalised head")
    ck.extra[REFERENCE_KEY] = entry
    ck.save(out or path)
    return entry


def speakers_from(paths: Sequence[PathLike], how: str) -> list[str]:
    """The speaker group of each file: its parent folder (``folder``) or the file itself (``file``).

    Raises:
        ConfigError: ``how`` is not one of :data:`SPEAKER_FROM`.
    """
    if how == "folder":
        return [str(Path(p).parent) for p in paths]
    if how == "file":
        return [str(p) for p in paths]
    raise ConfigError(f"--speaker-from must be one of {list(SPEAKER_FROM)}, got {how!r}")


def read_speaker_map(path: PathLike) -> dict[str, str]:
    """Read a CSV with columns ``file, speaker`` (header required; other columns ignored).

    File names are kept as written and also resolved (absolute), so either spelling matches.

    Raises:
        ConfigError: missing file, missing columns or an empty speaker.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"speaker map {p} not found; give a CSV with columns file,speaker")
    with p.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
        cols = [c.strip() for c in (rows[0].keys() if rows else [])]
    if not rows or "file" not in cols or "speaker" not in cols:
        raise ConfigError(f"speaker map {p}: expected a header with columns file,speaker, got {cols or 'no rows'}")
    out: dict[str, str] = {}
    for i, r in enumerate(rows, start=2):
        r = {k.strip(): (v or "").strip() for k, v in r.items() if k}
        if not r["file"] or not r["speaker"]:
            raise ConfigError(f"speaker map {p}, line {i}: empty file or speaker; every row needs both")
        out[r["file"]] = r["speaker"]
        out[str(Path(r["file"]).resolve())] = r["speaker"]
    return out


def resolve_speakers(paths: Sequence[PathLike], speakers: str | Mapping[str, str] | Sequence[str | None]
                     ) -> list[str | None]:
    """One speaker group per path (None = no group: predicted without adaptation).

    Args:
        paths: input files.
        speakers: ``"folder"`` / ``"file"`` (see :func:`speakers_from`), a mapping file -> speaker
            (e.g. :func:`read_speaker_map`; paths match as given or resolved), or one name per path.

    Raises:
        ConfigError: a sequence whose length differs from ``paths``.
    """
    if isinstance(speakers, str):
        return list(speakers_from(paths, speakers))
    if isinstance(speakers, Mapping):
        return [speakers.get(str(p), speakers.get(str(Path(p).resolve()))) for p in paths]
    out = [None if s is None else str(s) for s in speakers]
    if len(out) != len(paths):
        raise ConfigError(f"speakers has {len(out)} entries for {len(paths)} files; give one speaker per file")
    return out


def groups_of(speakers: Iterable[str | None]) -> dict[str, list[int]]:
    """Indices of the files of each speaker group, in input order."""
    out: dict[str, list[int]] = {}
    for i, s in enumerate(speakers):
        if s is not None:
            out.setdefault(s, []).append(i)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m serkit.adapt CHECKPOINT``: store the representation reference in a checkpoint."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m serkit.adapt",
                                 description="Store the training speakers' representation reference in a trained "
                                             "checkpoint, so that speaker adaptation can map an intermediate "
                                             "representation (no retraining). Reads the training files of the "
                                             "checkpoint's own recipe; labels are not read.")
    ap.add_argument("checkpoint", help="serkit checkpoint (.pt) or run folder")
    ap.add_argument("--out", default=None, help="write here instead of in place")
    ap.add_argument("--data-root", default=None, help="corpora folder (default $SERKIT_DATA, else ../shared/data)")
    ap.add_argument("--level", choices=[*REP_LEVELS, *HYBRID_LEVELS], default="embedding",
                    help="level used by default (auto)")
    ap.add_argument("--hybrid", action="store_true",
                    help=f"also store the levels joined with openSMILE functionals ({', '.join(HYBRID_LEVELS)})")
    ap.add_argument("--match-std", action="store_true", help="by default also map the std (else the mean only)")
    ap.add_argument("--head", action="store_true", help="by default use the speaker-normalised head")
    ap.add_argument("--fold", default=None, help="fold the checkpoint was trained on (protocols with several folds)")
    a = ap.parse_args(argv)
    e = add_reference(a.checkpoint, out=a.out, data_root=a.data_root, level=a.level, match_std=a.match_std,
                      head=a.head, fold=a.fold, hybrid=a.hybrid)
    print(f"reference stored: level {e['level']}, match_std {e['match_std']}, head {e['head']}, {e['speakers']} speakers, "
          f"{e['segments']} segments ({e['fitted_on']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
