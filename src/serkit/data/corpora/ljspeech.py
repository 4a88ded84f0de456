"""LJSpeech 1.1 (Ito & Johnson 2017, public domain): one speaker, transcripts, no emotions.

Used for self-supervised pretraining and character (CTC) targets.
"""

from __future__ import annotations

from pathlib import Path

from serkit.data.corpora.common import CorpusSpec, finish_prepare
from serkit.data.manifest import Utterance
from serkit.errors import ManifestError
from serkit.typing import PathLike


def prepare_ljspeech(corpus_dir: PathLike, out_dir: PathLike | None = None, *,
                     labels: str | None = None) -> list[Utterance]:
    """Build the LJSpeech manifest (only clips present under ``wavs/``), normalised transcripts.

    Args:
        corpus_dir: folder with ``metadata.csv`` and ``wavs/``.
        out_dir: if given, writes ``ljspeech.jsonl`` there.
        labels: unused (no emotion labels).
    """
    d = Path(corpus_dir)
    meta = d / "metadata.csv"
    if not meta.is_file():
        raise ManifestError(f"{meta}: not found; expected the LJSpeech 1.1 layout (metadata.csv, wavs/)")
    out = []
    for line in meta.read_text(encoding="utf-8").splitlines():
        parts = line.split("|")
        if len(parts) < 3:
            continue
        uid, norm = parts[0], parts[2]
        for ext in (".wav", ".flac"):
            p = d / "wavs" / f"{uid}{ext}"
            if p.is_file():
                # the header's length (metadata.csv has none): summaries report real hours
                out.append(Utterance(id=f"ljspeech_{uid}", path=str(p.resolve()), speaker="ljspeech_LJ",
                                     corpus="ljspeech", gender="f", text=norm, duration=_duration(p)))
                break
    return finish_prepare(out, "ljspeech", out_dir, empty=f"{d}: no LJSpeech audio found for the rows of metadata.csv (expected wavs/<id>.wav)")


def _duration(p: Path) -> float | None:
    from serkit.data.audio import info
    from serkit.errors import AudioError

    try:
        return round(info(p).duration, 3)
    except AudioError:  # a bad clip is reported when it is read, not here
        return None


SPEC = CorpusSpec("ljspeech", prepare_ljspeech, {}, None, "none", "ljspeech")
