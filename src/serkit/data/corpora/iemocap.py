"""IEMOCAP (Busso et al., LRE 2008), release layout ``IEMOCAP_full_release/Session1..5``.

Each session has two actors (F, M). Per dialogue, ``dialog/EmoEvaluation/<dialog>.txt`` holds
lines ``[start - end]<TAB>utt_id<TAB>emo<TAB>[V, A, D]`` (valence, activation, dominance on a
1-5 scale, in that order) and ``dialog/transcriptions/<dialog>.txt`` lines
``utt_id [start-end]: text``; audio is ``sentences/wav/<dialog>/<utt_id>.wav``. The standard
protocol is leave-one-session-out (5 folds), as in s3prl's Session1..5 folds.

IEMOCAP cannot be redistributed; serkit's tests use a fixture tree with this layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from serkit.data.corpora.common import CorpusSpec, finish_prepare, label_map
from serkit.data.manifest import Utterance
from serkit.errors import ManifestError
from serkit.typing import PathLike

CODES = {"neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry",
         "fru": "frustrated", "fea": "fear", "sur": "surprise", "dis": "disgust", "oth": "other",
         "xxx": None}

LABEL_SETS = {
    # The common 4-class setup with excited merged into happy (Cai et al. 2021, most papers
    # since 2018): 5531 utterances. Excitement and happiness are both high-valence and the
    # happy class alone is too small (595 utterances).
    "4class_exc": {"neutral": "neutral", "happy": "happy", "excited": "happy", "sad": "sad", "angry": "angry"},
    # The original 4-class setup without the merge (4490 utterances; happy alone is 595).
    "4class": {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"},
    # Everything with a majority label (no 'xxx'), for dimensional-only training.
    "all": {k: k for k in ["neutral", "happy", "excited", "sad", "angry", "frustrated", "fear",
                           "surprise", "disgust", "other"]},
}

_EVAL_LINE = re.compile(
    r"^\[(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\]\s+(?P<utt>\S+)\s+(?P<emo>\w+)\s+"
    r"\[(?P<v>[\d.]+),\s*(?P<a>[\d.]+),\s*(?P<d>[\d.]+)\]"
)
_TRANS_LINE = re.compile(r"^(?P<utt>\S+)\s+\[[^\]]*\]:\s*(?P<text>.*)$")


def prepare_iemocap(corpus_dir: PathLike, out_dir: PathLike | None = None, *,
                    labels: str | None = "4class_exc", keep_unlabelled: bool = False) -> list[Utterance]:
    """Build the IEMOCAP manifest with categorical labels, [A, V, D] and transcripts.

    Args:
        corpus_dir: ``IEMOCAP_full_release`` (the folder holding ``Session1`` ... ``Session5``).
        out_dir: if given, writes ``iemocap.jsonl`` there.
        labels: label set in :data:`LABEL_SETS`.
        keep_unlabelled: keep utterances whose category the set drops (emotion None) for
            dimensional training.

    Returns:
        utterances; speaker ``iemocap_Ses01F``; ``avd`` = [arousal, valence, dominance] (the
        file's [V, A, D] reordered).
    """
    d = Path(corpus_dir)
    lmap = label_map("iemocap", LABEL_SETS, labels, "4class_exc")
    sessions = sorted(p for p in d.glob("Session[1-5]") if p.is_dir())
    if not sessions:
        raise ManifestError(f"{d}: no Session1..Session5 folders; point at IEMOCAP_full_release")
    out = []
    for ses in sessions:
        texts: dict[str, str] = {}
        for t in sorted((ses / "dialog" / "transcriptions").glob("*.txt")):
            for line in t.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _TRANS_LINE.match(line.strip())
                if m:
                    texts[m["utt"]] = m["text"].strip()
        for ev in sorted((ses / "dialog" / "EmoEvaluation").glob("*.txt")):
            dialog = ev.stem
            for line in ev.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _EVAL_LINE.match(line.strip())
                if not m:
                    continue
                utt = m["utt"]
                raw = CODES.get(m["emo"])
                mapped = lmap.get(raw) if raw else None
                if mapped is None and not keep_unlabelled:
                    continue
                wav = ses / "sentences" / "wav" / dialog / f"{utt}.wav"
                # utt ids look like Ses01F_impro01_F000: the last part's letter is the speaker.
                spk_gender = utt.split("_")[-1][0].upper()
                session = f"Ses{int(ses.name[-1]):02d}"
                out.append(Utterance(
                    id=f"iemocap_{utt}", path=str(wav.resolve()), speaker=f"iemocap_{session}{spk_gender}",
                    corpus="iemocap", duration=float(m["end"]) - float(m["start"]),
                    gender=spk_gender.lower(), emotion=mapped,
                    avd=(float(m["a"]), float(m["v"]), float(m["d"])),
                    text=texts.get(utt), session=session,
                    custom={"raw_emotion": m["emo"], "dialog": dialog,
                            "improvised": "impro" in dialog},
                ))
    return finish_prepare(out, "iemocap", out_dir, empty=f"{d}: no labelled utterances found in */dialog/EmoEvaluation/*.txt")


SPEC = CorpusSpec("iemocap", prepare_iemocap, LABEL_SETS, "4class_exc", "loso_session", "iemocap")
