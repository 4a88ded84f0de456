"""No speech is not an emotion: silence and noise (white / coloured, faint or loud) give
``"label": null, "no_speech": true`` and no scores; real speech (EmoDB, LJSpeech) is kept."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from serkit.cli.main import main
from serkit.data import audio
from serkit.inference import Predictor
from serkit.testing import noise_wave, save_tiny_checkpoint
from serkit.vad import SegmentConfig, Segmenter, is_speech, voiced_fraction
from test_inference import check_result


def noise(kind: str, level_db: float, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    return noise_wave(kind, seconds, level_db=level_db, seed=seed)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.from_checkpoint(save_tiny_checkpoint(tmp_path_factory.mktemp("m") / "model.pt"), threads=1)


@pytest.mark.parametrize("kind", ["white", "pink", "brown"])
@pytest.mark.parametrize("level", [-60.0, -30.0, -6.0])
def test_noise_is_no_speech(predictor, kind, level):
    r = predictor.predict_signal(noise(kind, level))
    assert r == {"duration": 3.0, "label": None, "no_speech": True, "segments": []}


def test_loud_noise_fools_webrtc_but_not_the_speech_check():
    """The reason for the check: WebRTC VAD alone takes loud white noise for speech."""
    x = noise("white", -6.0)
    plain = Segmenter(SegmentConfig(speech_check=False))
    assert plain.push(x) + plain.flush()  # WebRTC: "speech"
    checked = Segmenter(SegmentConfig())
    assert checked.push(x) + checked.flush() == [] and checked.rejected >= 1


def test_noise_segments_are_not_classified(predictor, assets):
    """Loud noise bursts around a clip: WebRTC proposes three segments, only the speech is classified."""
    clip = audio.load(assets / "03a02Wc.wav")
    gap = np.zeros(16000, np.float32)
    x = np.concatenate([noise("white", -10.0, 2.0), gap, clip, gap, noise("brown", -10.0, 2.0, seed=1)])
    plain = Segmenter(SegmentConfig(speech_check=False))
    assert len(plain.push(x) + plain.flush()) == 3
    r = predictor.predict_signal(x)
    check_result({"file": "x", **r})
    assert r["label"] is not None and "no_speech" not in r
    assert len(r["segments"]) == 1
    s = r["segments"][0]  # the clip sits at 3.0-4.5 s
    assert s["start"] >= 2.7 and s["end"] <= 4.8


def test_real_speech_is_kept(predictor, assets):
    for f in sorted(assets.glob("*.wav")):
        x = audio.load(f)
        assert voiced_fraction(x) > 0.3 and is_speech(x)
        for db in (0.0, -20.0):  # 20 dB quieter is still speech
            r = predictor.predict_signal(x * 10 ** (db / 20))
            assert r["label"] is not None, (f.name, db)


def test_ljspeech_and_emodb_clips_are_speech(data_root, predictor):
    """A sample of real recordings of two corpora: none may come out as no_speech."""
    files = sorted((data_root / "ljspeech" / "wavs").glob("*.flac"))[::40] + \
        sorted((data_root / "emodb" / "wav").glob("*.wav"))[::60]
    assert len(files) >= 15
    lost = [f.name for f in files if predictor.predict_file(f).get("no_speech")]
    assert not lost


def test_stream_of_noise_yields_no_window(predictor):
    assert list(predictor.predict_stream([noise("pink", -10.0)[i: i + 4000] for i in range(0, 48000, 4000)])) == []


def test_cli_no_speech_is_not_an_error(tmp_path, assets):
    model = save_tiny_checkpoint(tmp_path / "m.pt")
    sil = tmp_path / "silence.wav"
    sf.write(sil, np.zeros(48000, np.float32), 16000)
    hiss = tmp_path / "hiss.wav"
    sf.write(hiss, noise("white", -40.0), 16000)
    files = [str(sil), str(assets / "03a02Ta.wav"), str(hiss)]
    out = tmp_path / "p.jsonl"
    assert main(["predict", *files, "--model", str(model), "--format", "json", "--out", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    for r in rows:
        check_result(r)
    assert [r.get("no_speech", False) for r in rows] == [True, False, True]
    assert rows[0]["label"] is None and "scores" not in rows[0]
    # the table and CSV print "(no speech)" (cli/predict.py's writer; tested with the writer)


def _segments(x: np.ndarray, cfg: SegmentConfig) -> list:
    s = Segmenter(cfg)
    return [*s.push(x), *s.flush()]


def test_vad_gain_finds_very_quiet_speech_and_still_rejects_noise(assets):
    """``vad_max_gain_db`` (off by default): the VAD hears a very quiet recording at a usable level;
    the segments keep their original samples, and noise brought up by the gain is still rejected."""
    x = audio.load(sorted(assets.glob("*.wav"))[0])
    quiet = (x / np.abs(x).max() * 10 ** (-60 / 20)).astype(np.float32)  # peak -60 dBFS
    assert _segments(quiet, SegmentConfig()) == []  # the default: WebRTC misses it
    gained = SegmentConfig(vad_max_gain_db=40.0)
    segs = _segments(quiet, gained)
    assert segs and np.abs(segs[0].samples).max() <= np.abs(quiet).max() + 1e-9
    for kind in ("white", "pink", "brown"):
        for level in (-90.0, -60.0):
            assert _segments(noise(kind, level), gained) == [], (kind, level)
    assert _segments(np.zeros(48000, np.float32), gained) == []
    with pytest.raises(Exception, match="vad_max_gain_db"):
        SegmentConfig(vad_max_gain_db=-1.0)


def test_cli_vad_gain(tmp_path, assets):
    """``serkit predict --vad-gain 30``: a very quiet clip is found and classified; silence stays no_speech."""
    model = save_tiny_checkpoint(tmp_path / "m.pt")
    x = audio.load(assets / "03a02Ta.wav")
    quiet = tmp_path / "quiet.wav"
    sf.write(quiet, (x / np.abs(x).max() * 10 ** (-60 / 20)).astype(np.float32), 16000, subtype="FLOAT")
    sil = tmp_path / "silence.wav"
    sf.write(sil, np.zeros(48000, np.float32), 16000)
    for extra, want in (([], [True, True]), (["--vad-gain", "30"], [False, True])):
        out = tmp_path / f"p{len(extra)}.jsonl"
        assert main(["predict", str(quiet), str(sil), "--model", str(model), "--format", "json", "--out", str(out),
                     *extra]) == 0
        rows = [json.loads(r) for r in out.read_text().splitlines()]
        assert [r.get("no_speech", False) for r in rows] == want, (extra, rows)
