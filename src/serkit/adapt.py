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

How a trained model takes the statistics (no retraining):

- a model whose ``forward`` accepts ``norm_stats=(mean (B, F), std (B, F))`` uses them inside its
  own normaliser (in place of its global / utterance / running statistics);
- otherwise, if the model standardises its input with global training statistics (``in_mean`` /
  ``in_std``, also carried by serkit's ONNX export), the speaker's features are mapped onto the
  training distribution before the model sees them: ``x' = (x - mean_s) / std_s * std_g +
  mean_g``, so the model's ``(x' - mean_g) / std_g`` equals the speaker-standardised input;
- any other model is not adapted, and the result says why (``"adapted": false, "reason": ...``).

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

import numpy as np

from serkit.errors import ConfigError
from serkit.typing import PathLike

#: ``--speaker-from`` choices: the file's parent folder, or the file itself (one long recording)
SPEAKER_FROM = ("folder", "file")
#: standard deviations below this (a constant feature bin) are clamped
STD_FLOOR = 1e-3


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of speaker adaptation.

    Attributes:
        min_seconds: least speech (VAD segments, seconds) a speaker's statistics must come from;
            with less, files are predicted without adaptation and say so.
    """

    min_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not self.min_seconds >= 0:
            raise ConfigError(f"min_seconds must be >= 0 seconds, got {self.min_seconds}")


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
    """

    speaker: str
    mean: np.ndarray
    std: np.ndarray
    seconds: float
    frames: int
    files: int = 0


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

    def stats(self, speaker: str) -> SpeakerStats:
        """The current estimate (raises ConfigError if nothing was added)."""
        if not self.n or self.sum is None or self.sumsq is None:
            raise ConfigError(f"speaker {speaker!r}: no speech frames to estimate statistics from")
        mean = self.sum / self.n
        var = np.maximum(self.sumsq / self.n - mean * mean, 0.0)
        std = np.maximum(np.sqrt(var), STD_FLOOR)
        return SpeakerStats(speaker, mean.astype(np.float32), std.astype(np.float32), round(self.seconds, 3),
                            self.n, self.files)


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
