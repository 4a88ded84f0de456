"""MSP-Podcast (Lotfian & Busso, IEEE TAC 2019): podcast speech, categorical + dimensional.

Release layout: ``Audios/<FileName>.wav`` and ``Labels/labels_consensus.csv`` with columns
``FileName, EmoClass, EmoAct, EmoVal, EmoDom, SpkrID, Gender, Split_Set``. The official
partitions (Train, Development, Test1, Test2) are speaker-disjoint by design; ``SpkrID`` is
``Unknown`` for some files, which serkit keeps as a per-file pseudo speaker so that the
overlap check can never merge them by accident.
"""

from __future__ import annotations

import csv
from pathlib import Path

from serkit.data.corpora.common import CorpusSpec, finish_prepare, label_map
from serkit.data.manifest import Utterance
from serkit.errors import ManifestError
from serkit.typing import PathLike

CODES = {"A": "angry", "S": "sad", "H": "happy", "U": "surprise", "F": "fear", "D": "disgust",
         "C": "contempt", "N": "neutral", "O": "other", "X": None}

LABEL_SETS = {
    # The 8 primary emotions of the MSP-Podcast challenge (other and no-agreement dropped).
    "8class": {k: k for k in ["angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral"]},
    "4class": {"angry": "angry", "sad": "sad", "happy": "happy", "neutral": "neutral"},
    # Dimensional-only use keeps everything with a consensus label.
    "all": {k: k for k in ["angry", "sad", "happy", "surprise", "fear", "disgust", "contempt", "neutral", "other"]},
}


def prepare_msp_podcast(corpus_dir: PathLike, out_dir: PathLike | None = None, *,
                        labels: str | None = "4class", keep_unlabelled: bool = False) -> list[Utterance]:
    """Build the MSP-Podcast manifest with partitions in ``custom["partition"]``.

    Args:
        corpus_dir: release folder with ``Audios/`` and ``Labels/labels_consensus.csv``.
        out_dir: if given, writes ``msp_podcast.jsonl`` there.
        labels: label set in :data:`LABEL_SETS`.
        keep_unlabelled: keep rows whose class the set drops (emotion None), for A/V/D training.
    """
    d = Path(corpus_dir)
    lmap = label_map("msp_podcast", LABEL_SETS, labels, "4class")
    csv_path = d / "Labels" / "labels_consensus.csv"
    if not csv_path.is_file():
        raise ManifestError(f"{csv_path}: not found; point at the MSP-Podcast release folder")
    out = []
    with csv_path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            name = r["FileName"]
            raw = CODES.get(r["EmoClass"].strip())
            mapped = lmap.get(raw) if raw else None
            if mapped is None and not keep_unlabelled:
                continue
            spk = r["SpkrID"].strip()
            speaker = f"msp_{spk}" if spk and spk.lower() != "unknown" else f"msp_unknown_{Path(name).stem}"
            g = r.get("Gender", "").strip().lower()
            out.append(Utterance(
                id=f"msp_{Path(name).stem}", path=str((d / "Audios" / name).resolve()), speaker=speaker,
                corpus="msp_podcast", gender={"female": "f", "male": "m"}.get(g),
                emotion=mapped, avd=(float(r["EmoAct"]), float(r["EmoVal"]), float(r["EmoDom"])),
                custom={"partition": r["Split_Set"].strip(), "raw_emotion": r["EmoClass"].strip()},
            ))
    return finish_prepare(out, "msp_podcast", out_dir, empty=f"{csv_path}: no rows with labels in the chosen set")


SPEC = CorpusSpec("msp_podcast", prepare_msp_podcast, LABEL_SETS, "4class", "official", "msp_podcast")
