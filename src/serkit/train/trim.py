"""``features.trim``: cut each utterance to its speech span, as prediction sees it.

:class:`serkit.inference.Predictor` never classifies a whole file: the segmenter
(:mod:`serkit.vad`, WebRTC VAD + speech check) cuts speech segments with ``pad`` seconds of
context. A model trained on whole corpus files instead sees their leading and trailing silence
(about a second at each end of a RAVDESS clip); with per-utterance input normalisation
(``model.input_norm: utterance``) that silence changes every input frame's normalisation, so the
model meets a different input distribution at prediction time than in training. With
``features.trim: true`` every utterance (training, validation and test) is replaced by the span
from the start of its first speech segment to the end of its last one, found by the same
segmenter with the prediction defaults (:class:`serkit.vad.SegmentConfig`), before features and
wave augmentation. Utterances where the segmenter finds no speech keep their whole extent.

Spans are cached per file content and segment times under the feature cache
(``<cache>/spans/<segmenter settings hash>/``), so a fold loop pays the VAD once per file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

from tqdm.auto import tqdm

from serkit.config import FeatureConfig
from serkit.data.manifest import Utterance
from serkit.errors import AudioError
from serkit.features.extract import FeatureCache, default_cache_dir, load_utterance
from serkit.typing import PathLike
from serkit.vad import SegmentConfig, segment_blocks

log = logging.getLogger(__name__)


def speech_span(u: Utterance, seg: SegmentConfig | None = None) -> tuple[float, float] | None:
    """``(start, end)`` in seconds, relative to the utterance, of its speech; None: no speech found."""
    segs = list(segment_blocks([load_utterance(u)], seg or SegmentConfig()))
    if not segs:
        return None
    return segs[0].start, segs[-1].end


def trim_utterances(utts: Sequence[Utterance], features: FeatureConfig, *, cache_dir: PathLike | None = None,
                    seg: SegmentConfig | None = None, progress: bool = True) -> list[Utterance]:
    """The utterances cut to their speech spans (same ids, labels and speakers).

    Bad files are passed through unchanged: feature extraction reports them as before.
    """
    seg = seg or SegmentConfig()
    h = hashlib.sha1(json.dumps(asdict(seg), sort_keys=True).encode()).hexdigest()[:12]
    root = Path(cache_dir or default_cache_dir())
    keys = FeatureCache(root, features)
    folder = root / "spans" / f"vad-{h}"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[Utterance] = []
    for u in tqdm(utts, desc="speech spans", unit="utt", disable=not progress):
        try:
            f = folder / f"{keys.key(u)}.json"
            span = json.loads(f.read_text())["span"] if f.exists() else None
            if not f.exists():
                span = speech_span(u, seg)
                tmp = f.with_name(f"{f.stem}.{os.getpid()}.tmp")  # two runs may fill one cache
                tmp.write_text(json.dumps({"span": list(span) if span else None}))
                tmp.replace(f)
        except AudioError:
            span = None  # a bad file: feature extraction reports it
        if span is None:
            out.append(u)
            continue
        s, e = float(span[0]), float(span[1])
        out.append(replace(u, start=round(u.start + s, 4), duration=round(e - s, 4)))
    kept = sum(a is b for a, b in zip(utts, out, strict=True))
    if kept:
        log.info("features.trim: no speech span found in %d of %d utterances (or unreadable); they are kept whole",
                 kept, len(utts))
    return out
