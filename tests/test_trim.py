"""features.trim: utterances cut to the speech span the prediction segmenter finds (real EmoDB speech)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from serkit.config import FeatureConfig
from serkit.data.manifest import Utterance
from serkit.features.extract import extract_features
from serkit.train.trim import trim_utterances

ASSETS = Path(__file__).parent / "assets"
SR = 16000


def _padded(tmp_path: Path, lead: float, tail: float) -> tuple[Path, float]:
    x, sr = sf.read(ASSETS / "03a02Wc.wav", dtype="float32")
    assert sr == SR
    y = np.concatenate([np.zeros(int(lead * SR), np.float32), x, np.zeros(int(tail * SR), np.float32)])
    p = tmp_path / "padded.wav"
    sf.write(p, y, SR)
    return p, x.size / SR


def test_trim_cuts_leading_and_trailing_silence(tmp_path):
    p, speech = _padded(tmp_path, 1.2, 0.9)
    u = Utterance(id="a", path=str(p), speaker="s", emotion="angry")
    (t,) = trim_utterances([u], FeatureConfig(), cache_dir=tmp_path / "c", progress=False)
    assert t.id == "a" and t.emotion == "angry" and t.speaker == "s"
    assert 1.0 <= t.start <= 1.25  # the clip's speech starts at 1.2 s (pad 0.1 s of context)
    assert abs(t.start + t.duration - (1.2 + speech)) < 0.3
    # cached: same answer without the audio being segmented again
    (again,) = trim_utterances([u], FeatureConfig(), cache_dir=tmp_path / "c", progress=False)
    assert (again.start, again.duration) == (t.start, t.duration)
    # features of the trimmed utterance are those of its span (and cached under its own key)
    (xt,), _ = extract_features([t], FeatureConfig(n_mels=16), cache_dir=tmp_path / "c", progress=False)
    (xw,), _ = extract_features([u], FeatureConfig(n_mels=16), cache_dir=tmp_path / "c", progress=False)
    assert xt.shape[0] < xw.shape[0] - 150


def test_no_speech_and_bad_files_are_kept_whole(tmp_path):
    p = tmp_path / "silence.wav"
    sf.write(p, np.zeros(2 * SR, np.float32), SR)
    quiet = Utterance(id="q", path=str(p), speaker="s")
    missing = Utterance(id="m", path=str(tmp_path / "missing.wav"), speaker="s")
    out = trim_utterances([quiet, missing], FeatureConfig(), cache_dir=tmp_path / "c", progress=False)
    assert out == [quiet, missing]
