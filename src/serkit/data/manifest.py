"""Utterance manifests: one typed record per utterance, read and written as JSONL.

Follows lhotse's SupervisionSegment: times in seconds, labels as strings, and a free-form
``custom`` dict for anything else.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from serkit.errors import ManifestError
from serkit.typing import PathLike

AVD = ("arousal", "valence", "dominance")


@dataclass(frozen=True)
class Utterance:
    """One labelled stretch of speech.

    Attributes:
        id: unique id within the manifest.
        path: audio file (absolute, or relative to the manifest's folder when read).
        speaker: speaker id, unique across the corpus (prefix it with the corpus if needed).
        corpus: corpus name, e.g. ``"emodb"``.
        start: offset in seconds.
        duration: seconds; None means to the end of the file.
        gender: ``"f"``, ``"m"`` or None.
        emotion: categorical label after the corpus label map, or None.
        avd: ``[arousal, valence, dominance]`` on the corpus' raw scale, or None.
        text: transcript, or None.
        session: recording session (IEMOCAP folds), or None.
        custom: anything else (original label, intensity, partition, ...).
    """

    id: str
    path: str
    speaker: str
    corpus: str = "custom"
    start: float = 0.0
    duration: float | None = None
    gender: str | None = None
    emotion: str | None = None
    avd: tuple[float, float, float] | None = None
    text: str | None = None
    session: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = asdict(self)
        if d["avd"] is not None:
            d["avd"] = list(d["avd"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "<dict>") -> Utterance:
        """Build from a dict, rejecting unknown keys and missing required ones.

        Raises:
            ManifestError: naming the row and the bad key.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ManifestError(f"{where}: unknown keys {sorted(unknown)}; expected a subset of {sorted(names)}")
        for k in ("id", "path", "speaker"):
            if d.get(k) in (None, ""):
                raise ManifestError(f"{where}: missing required key {k!r}; every row needs id, path and speaker")
        d = dict(d)
        try:
            if d.get("avd") is not None:
                avd = d["avd"]
                if isinstance(avd, (str, bytes)) or len(avd) != 3:
                    raise ValueError
                d["avd"] = tuple(float(v) for v in avd)
            for k in ("start", "duration"):
                if d.get(k) is not None:
                    d[k] = float(d[k])
        except (TypeError, ValueError):
            raise ManifestError(f"{where}: avd must be [arousal, valence, dominance] and start/duration "
                                f"numbers in seconds, got avd={d.get('avd')!r}, start={d.get('start')!r}, "
                                f"duration={d.get('duration')!r}") from None
        d["speaker"] = str(d["speaker"])
        return cls(**d)


def write_jsonl(utterances: Iterable[Utterance], path: PathLike) -> Path:
    """Write utterances, one JSON object per line.

    Args:
        utterances: records.
        path: output file (folders are created).

    Returns:
        the path written.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as f:
        for u in utterances:
            f.write(json.dumps(u.to_dict(), ensure_ascii=False) + "\n")
    return p


def read_jsonl(path: PathLike) -> list[Utterance]:
    """Read a JSONL manifest; relative audio paths resolve against the manifest's folder.

    Raises:
        ManifestError: unreadable line, unknown key, missing field or duplicate id.
    """
    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"{p}: manifest not found; create one with serkit prepare CORPUS --out {p}")
    out = []
    with p.open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(f"{p}:{i}: not valid JSON ({e.msg})") from None
            u = Utterance.from_dict(d, where=f"{p}:{i}")
            if not Path(u.path).is_absolute():
                u = replace(u, path=str((p.parent / u.path).resolve()))
            out.append(u)
    validate(out, where=str(p))
    return out


def validate(utterances: Sequence[Utterance], *, where: str = "manifest") -> None:
    """Check ids are unique and the manifest is not empty.

    Raises:
        ManifestError: if not.
    """
    if not utterances:
        raise ManifestError(f"{where}: no utterances; check the corpus folder and label filter")
    dup = [k for k, n in Counter(u.id for u in utterances).items() if n > 1]
    if dup:
        raise ManifestError(f"{where}: duplicate ids {dup[:5]}; ids must be unique")


def summary(utterances: Sequence[Utterance]) -> dict[str, Any]:
    """Counts per emotion, speakers and total hours, for logs and reports."""
    secs = sum(u.duration or 0.0 for u in utterances)
    return {
        "utterances": len(utterances),
        "speakers": len({u.speaker for u in utterances}),
        "hours": round(secs / 3600, 3),
        "emotions": dict(sorted(Counter(u.emotion for u in utterances if u.emotion).items())),
    }


#: suffixes of file lists accepted where audio files are expected (``serkit predict SOURCE``)
PATH_LIST_SUFFIXES = (".jsonl", ".csv", ".txt", ".lst")
#: column names a CSV manifest may give its audio paths under, in order of preference
CSV_PATH_COLUMNS = ("path", "file")


def read_path_list(path: PathLike) -> list[str]:
    """Audio files named by a manifest: a JSONL manifest (its rows' ``path``), a CSV manifest
    (column ``path`` or ``file``), or a text file with one path per line (``#`` starts a
    comment); each file once, in order. Relative paths resolve against the list's folder.

    Raises:
        ManifestError: unreadable line, or a row without a path.
    """
    return list(read_path_texts(path))


def read_path_texts(path: PathLike) -> dict[str, str | None]:
    """Audio files named by a manifest (see :func:`read_path_list`) with their transcripts.

    The transcript is the row's ``text`` (JSONL key or CSV column), None where there is none; a
    file named by several rows (segments of one recording) gets their distinct texts joined in
    row order.

    Returns:
        ``{absolute path: transcript or None}`` in manifest order.

    Raises:
        ManifestError: unreadable line, or a row without a path.
    """
    import csv

    p = Path(path)
    rows: list[tuple[str, str | None]] = []
    with p.open(encoding="utf-8", newline="") as f:
        if p.suffix.lower() == ".csv":
            reader = csv.DictReader(f)
            cols = [c for c in CSV_PATH_COLUMNS if c in (reader.fieldnames or [])]
            if not cols:
                raise ManifestError(f"{p}: CSV manifest has no {' or '.join(CSV_PATH_COLUMNS)} column (header "
                                    f"{reader.fieldnames}); add a header line such as path,text")
            for i, r in enumerate(reader, 2):
                a = (r.get(cols[0]) or "").strip()
                if not a:
                    raise ManifestError(f"{p}:{i}: row has no {cols[0]!r}; every row names one audio file")
                rows.append((a, r.get("text")))
        else:
            for i, line in enumerate(f, 1):
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if p.suffix == ".jsonl":
                    try:
                        row = json.loads(line)
                        a = row.get("path")
                    except (json.JSONDecodeError, AttributeError):
                        raise ManifestError(f"{p}:{i}: not a JSON object; expected one row per line with a 'path'") from None
                    if not a:
                        raise ManifestError(f"{p}:{i}: row has no 'path'; expected {{\"path\": \"audio.wav\", ...}}")
                    rows.append((str(a), row.get("text")))
                else:
                    rows.append((line, None))
    out: dict[str, list[str]] = {}
    for a, t in rows:
        texts = out.setdefault(str(a) if Path(a).is_absolute() else str((p.parent / a).resolve()), [])
        t = (t or "").strip()
        if t and t not in texts:
            texts.append(t)
    return {a: " ".join(ts) if ts else None for a, ts in out.items()}
