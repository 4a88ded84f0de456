"""Custom corpora from a JSONL or CSV manifest.

CSV columns: ``path, speaker`` required; optional ``id, start, duration, gender, emotion,
arousal, valence, dominance, text, session``. Relative paths resolve against the file's folder.
"""

from __future__ import annotations

import csv
from pathlib import Path

from serkit.data.corpora.common import CorpusSpec
from serkit.data.manifest import Utterance, read_jsonl
from serkit.errors import ManifestError
from serkit.typing import PathLike


def prepare_manifest(manifest: PathLike, out_dir: PathLike | None = None, *,
                     labels: str | None = None) -> list[Utterance]:
    """Read a custom manifest (``.jsonl`` or ``.csv``).

    Args:
        manifest: the file.
        out_dir: unused (the manifest already exists).
        labels: optional comma-separated list of emotions to keep, e.g. ``"angry,happy,sad"``.
    """
    p = Path(manifest)
    if p.suffix.lower() == ".csv":
        utts = _read_csv(p)
    else:
        utts = read_jsonl(p)
    if labels:
        keep = [s.strip() for s in labels.split(",") if s.strip()]
        present = sorted({u.emotion for u in utts if u.emotion})
        unknown = [k for k in keep if k not in present]
        if unknown:
            example = ",".join(present[:3]) or "angry,happy,sad"
            raise ManifestError(
                f"{p}: data.labels={labels!r} keeps emotions {unknown} that this manifest does not have; "
                f"its emotions are {present}. For data.corpus: manifest, data.labels is a comma-separated "
                f"list of the emotions to keep (e.g. {example!r}) or null for all of them; label-set names "
                "such as emodb7 belong to the corpus adapters")
        utts = [u for u in utts if u.emotion in set(keep)]
    return utts


def _read_csv(p: Path) -> list[Utterance]:
    if not p.is_file():
        raise ManifestError(f"{p}: manifest not found")
    out = []
    with p.open(encoding="utf-8") as f:
        for i, r in enumerate(csv.DictReader(f), 2):
            if not r.get("path") or not r.get("speaker"):
                raise ManifestError(f"{p}:{i}: needs 'path' and 'speaker' columns")
            path = Path(r["path"])
            if not path.is_absolute():
                path = (p.parent / path).resolve()
            try:
                avd = None
                if r.get("arousal") not in (None, ""):
                    avd = (float(r["arousal"]), float(r["valence"]), float(r["dominance"]))
                start = float(r.get("start") or 0.0)
                duration = float(r["duration"]) if r.get("duration") else None
            except (KeyError, TypeError, ValueError):
                raise ManifestError(
                    f"{p}:{i}: start, duration, arousal, valence and dominance must be numbers "
                    "(arousal, valence and dominance all three or none)") from None
            out.append(Utterance(
                id=r.get("id") or path.stem, path=str(path), speaker=r["speaker"],
                corpus=r.get("corpus") or "custom", start=start, duration=duration,
                gender=r.get("gender") or None, emotion=r.get("emotion") or None, avd=avd,
                text=r.get("text") or None, session=r.get("session") or None,
            ))
    return out


SPEC = CorpusSpec("manifest", prepare_manifest, {}, None, "loso", "")
