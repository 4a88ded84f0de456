"""RAVDESS speech, audio-only (Livingstone & Russo, PLoS ONE 2018; CC BY-NC-SA 4.0).

File names ``MM-VV-EE-II-SS-RR-AA``: modality, vocal channel, emotion, intensity, statement,
repetition, actor (odd male, even female). Standard protocol here: 5 folds grouped by actor.
"""

from __future__ import annotations

import csv
from pathlib import Path

from serkit.data.corpora.common import CorpusSpec, finish_prepare, label_map
from serkit.data.manifest import Utterance
from serkit.errors import ManifestError
from serkit.typing import PathLike

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
            "06": "fearful", "07": "disgust", "08": "surprised"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}

LABEL_SETS = {
    "ravdess8": {"neutral": "neutral", "calm": "calm", "happy": "happy", "sad": "sad",
                 "angry": "angry", "fearful": "fear", "disgust": "disgust", "surprised": "surprise"},
    # Calm is a low-arousal neutral in the actors' instructions; merging gives 7 classes.
    "ravdess7": {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad",
                 "angry": "angry", "fearful": "fear", "disgust": "disgust", "surprised": "surprise"},
    "4class": {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"},
    # serkit's cross-corpus set; surprise has no EmoDB counterpart, calm merges into neutral.
    "common6": {"neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad",
                "angry": "angry", "fearful": "fear", "disgust": "disgust"},
}


def prepare_ravdess(corpus_dir: PathLike, out_dir: PathLike | None = None, *,
                    labels: str | None = "ravdess8") -> list[Utterance]:
    """Build the RAVDESS manifest from ``wav/Actor_XX/*.{wav,flac}`` file names.

    Args:
        corpus_dir: folder holding ``wav/Actor_XX``.
        out_dir: if given, writes ``ravdess.jsonl`` there.
        labels: label set in :data:`LABEL_SETS`.
    """
    d = Path(corpus_dir)
    lmap = label_map("ravdess", LABEL_SETS, labels, "ravdess8")
    durations = {}
    lab = d / "labels.csv"
    if lab.is_file():
        with lab.open(encoding="utf-8") as f:
            durations = {Path(r["file"]).stem: float(r["duration_s"]) for r in csv.DictReader(f)}
    files = sorted(p for p in (d / "wav").glob("Actor_*/*") if p.suffix.lower() in (".wav", ".flac"))
    if not files:
        raise ManifestError(f"{d}: no RAVDESS files found (expected wav/Actor_XX/03-01-EE-II-SS-RR-AA.wav)")
    out = []
    for p in files:
        parts = p.stem.split("-")
        if len(parts) != 7 or parts[0] != "03" or parts[1] != "01":
            continue  # video or song files
        emo = EMOTIONS.get(parts[2])
        mapped = lmap.get(emo) if emo else None
        if mapped is None:
            continue
        actor = int(parts[6])
        out.append(Utterance(
            id=f"ravdess_{p.stem}", path=str(p.resolve()), speaker=f"ravdess_{actor:02d}",
            corpus="ravdess", duration=durations.get(p.stem), gender="m" if actor % 2 else "f",
            emotion=mapped, text=STATEMENTS.get(parts[4]),
            custom={"raw_emotion": emo, "intensity": "strong" if parts[3] == "02" else "normal"},
        ))
    return finish_prepare(out, "ravdess", out_dir, empty=f"{d}: no RAVDESS utterances with labels in the chosen set")


SPEC = CorpusSpec("ravdess", prepare_ravdess, LABEL_SETS, "ravdess8", "speaker_kfold", "ravdess", 5)
