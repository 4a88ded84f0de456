"""EmoDB, the Berlin Database of Emotional Speech (Burkhardt et al., Interspeech 2005).

535 utterances, 10 actors (5 f, 5 m), 10 German sentences, 7 emotions. File names are
``SSTTTEV.wav``: speaker, text id, emotion letter, version. The standard protocol is
leave-one-speaker-out (10 folds).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from serkit.data.corpora.common import CorpusSpec, finish_prepare, label_map
from serkit.data.manifest import Utterance
from serkit.errors import ManifestError
from serkit.typing import PathLike

#: German emotion letter of the file name -> English name used in labels.csv.
LETTERS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness",
           "T": "sadness", "N": "neutral"}

LABEL_SETS = {
    # All seven classes, renamed to serkit's common names.
    "emodb7": {"anger": "angry", "boredom": "boredom", "disgust": "disgust", "fear": "fear",
               "happiness": "happy", "neutral": "neutral", "sadness": "sad"},
    # The four classes most SER papers share with IEMOCAP (boredom, disgust, fear dropped).
    "4class": {"anger": "angry", "happiness": "happy", "neutral": "neutral", "sadness": "sad"},
    # serkit's cross-corpus set (the default model): boredom has no counterpart elsewhere.
    "common6": {"anger": "angry", "disgust": "disgust", "fear": "fear", "happiness": "happy",
                "neutral": "neutral", "sadness": "sad"},
}

# Speaker ages from the EmoDB documentation are not needed; gender is in labels.csv.
_GENDER = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f",
           "14": "f", "15": "m", "16": "f"}


#: SSTTTEV: speaker (2 digits), text id (a01..b10), emotion letter, version letter.
_NAME = re.compile(r"^(?P<spk>\d{2})(?P<tid>[ab]\d{2})(?P<emo>[WLEAFTN])(?P<ver>[a-z])$")


def _texts(corpus_dir: Path) -> dict[str, str]:
    p = corpus_dir / "texts.tsv"
    if not p.is_file():
        return {}
    with p.open(encoding="utf-8") as f:
        return {r["text_id"]: r["german"] for r in csv.DictReader(f, delimiter="\t")}


def prepare_emodb(corpus_dir: PathLike, out_dir: PathLike | None = None, *,
                  labels: str | None = "emodb7") -> list[Utterance]:
    """Build the EmoDB manifest.

    Reads ``labels.csv`` when present, else parses the file names under ``wav/``.

    Args:
        corpus_dir: folder holding ``wav/`` (and ``labels.csv``, ``texts.tsv``).
        out_dir: if given, writes ``emodb.jsonl`` there.
        labels: label set name in :data:`LABEL_SETS`.

    Returns:
        utterances with speaker ``emodb_SS``, German transcripts and mapped emotions.
    """
    d = Path(corpus_dir)
    lmap = label_map("emodb", LABEL_SETS, labels, "emodb7")
    texts = _texts(d)
    rows = []
    lab = d / "labels.csv"
    if lab.is_file():
        with lab.open(encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows.append((r["file"], r["speaker"], r["gender"], r["text_id"], r["emotion"],
                             float(r["duration_s"]) if r.get("duration_s") else None))
    else:
        for p in sorted((d / "wav").glob("*.wav")):
            m = _NAME.match(p.stem)
            if not m:
                continue  # not an EmoDB recording (e.g. a stray README.wav)
            rows.append((f"wav/{p.name}", m["spk"], _GENDER.get(m["spk"]), m["tid"], LETTERS[m["emo"]], None))
    if not rows:
        raise ManifestError(f"{d}: no EmoDB files found (expected wav/SSTTTEV.wav or labels.csv)")
    out = []
    for file, spk, gender, tid, emo, dur in rows:
        mapped = lmap.get(emo)
        if mapped is None:
            continue
        out.append(Utterance(
            id=f"emodb_{Path(file).stem}", path=str((d / file).resolve()), speaker=f"emodb_{spk}",
            corpus="emodb", duration=dur, gender=gender, emotion=mapped, text=texts.get(tid),
            custom={"text_id": tid, "raw_emotion": emo},
        ))
    return finish_prepare(out, "emodb", out_dir, empty=f"{d}: no EmoDB utterances with labels in the chosen set")


SPEC = CorpusSpec("emodb", prepare_emodb, LABEL_SETS, "emodb7", "loso", "emodb")
