"""Predictor: result schema, bad files in a batch, long-file timeline with bounded memory, A/V/D."""

from __future__ import annotations

import tracemalloc
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from serkit.errors import AudioError, ModelNotFoundError
from serkit.inference import Predictor, find_checkpoint
from serkit.testing import save_tiny_checkpoint
from serkit.vad import SegmentConfig, Segmenter

LABELS = ("angry", "happy", "neutral", "sad")


def check_result(r: dict, labels=LABELS) -> None:
    """The JSON-line schema of serkit predict (also used by test_predict_cli)."""
    if "error" in r:
        assert set(r) == {"file", "error"} and isinstance(r["error"], str) and r["error"]
        return
    if r.get("no_speech"):  # no speech is not an emotion: no label, no scores, no segments
        assert r["label"] is None and "scores" not in r and r["segments"] == []
        return
    assert {"file", "duration", "label", "scores", "segments"} <= set(r)
    assert set(r) - {"file", "duration", "label", "scores", "segments"} <= {"arousal", "valence", "dominance"}
    assert isinstance(r["duration"], float) and r["duration"] > 0
    assert set(r["scores"]) == set(labels) and abs(sum(r["scores"].values()) - 1) < 1e-3
    assert r["label"] == max(r["scores"], key=r["scores"].get)
    prev = -1.0
    for s in r["segments"]:
        assert {"start", "end", "label", "scores"} <= set(s)
        assert prev <= s["start"] < s["end"] <= r["duration"] + 1e-3
        assert set(s["scores"]) == set(labels) and s["label"] in labels
        prev = s["end"]


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return Predictor.from_checkpoint(save_tiny_checkpoint(tmp_path_factory.mktemp("m") / "model.pt"), threads=1)


def test_predict_file_schema_and_segments(predictor, assets):
    r = predictor.predict_file(assets / "03a02Ta.wav")
    check_result(r)
    assert r["file"].endswith("03a02Ta.wav") and abs(r["duration"] - 1.5) < 0.01
    assert len(r["segments"]) >= 1


def test_batch_with_bad_files_finishes_the_good_ones(predictor, assets, tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF....this is not audio" * 10)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, np.float32), 16000)
    paths = [tmp_path / "missing.wav", assets / "03a02Ta.wav", empty, junk, short, assets / "08a01Wa.wav"]
    out = list(predictor.predict_batch(paths))
    assert [r["file"] for r in out] == [str(p) for p in paths]
    ok = [r for r in out if "error" not in r]
    assert [r["file"] for r in ok] == [str(assets / "03a02Ta.wav"), str(assets / "08a01Wa.wav")]
    for r in out:
        check_result(r)
    errors = {r["file"]: r["error"] for r in out if "error" in r}
    assert "not found" in errors[str(paths[0])] and "empty" in errors[str(empty)]
    assert "shorter" in errors[str(short)]


def test_aggregate_is_duration_weighted(predictor):
    segs = [{"start": 0.0, "end": 1.0, "scores": {"angry": 1.0, "happy": 0.0, "neutral": 0.0, "sad": 0.0}},
            {"start": 1.0, "end": 4.0, "scores": {"angry": 0.0, "happy": 0.0, "neutral": 0.0, "sad": 1.0}}]
    r = predictor._aggregate(segs, 4.0)
    assert r["scores"]["angry"] == pytest.approx(0.25) and r["scores"]["sad"] == pytest.approx(0.75)
    assert r["label"] == "sad"


def _joined(assets, seconds: float, gap: float):
    """Asset clips joined with `gap` s of silence until `seconds`; returns (signal, clip starts)."""
    clips = [sf.read(assets / f, dtype="float32")[0] for f in ("03a02Ta.wav", "03a02Wc.wav", "08a01Wa.wav", "08a02Tb.wav")]
    parts, starts, t, i = [], [], 0.0, 0
    while t < seconds - 5:
        sil = np.zeros(int(gap * 16000), np.float32)
        c = clips[i % 4]
        parts += [sil, c]
        starts.append(t + gap)
        t += gap + len(c) / 16000
        i += 1
    parts.append(np.zeros(int((seconds - t) * 16000), np.float32))
    return np.concatenate(parts), starts


def _peak(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_ten_minute_file_timeline_with_bounded_memory(predictor, assets, tmp_path):
    paths = {}
    for minutes in (1, 10):
        x, starts = _joined(assets, 60.0 * minutes, gap=2.5)
        paths[minutes] = tmp_path / f"long{minutes}.wav"
        sf.write(paths[minutes], x, 16000, subtype="PCM_16")
    del x
    _, peak1 = _peak(lambda: predictor.predict_file(paths[1]))
    r, peak10 = _peak(lambda: predictor.predict_file(paths[10]))
    check_result(r)
    assert abs(r["duration"] - 600.0) < 0.01
    # one segment per clip, each starting within 0.15 s of its clip (the VAD pads by 0.1 s)
    got = [s["start"] for s in r["segments"]]
    assert len(got) == len(starts) and len(starts) > 100
    assert np.max(np.abs(np.array(got) - np.array(starts))) < 0.15
    # memory is flat in the length: 10 minutes (38 MB as float32) peak like 1 minute does
    assert peak10 < 1.3 * peak1 + 1e6, f"1 min {peak1 / 1e6:.1f} MB, 10 min {peak10 / 1e6:.1f} MB"
    assert peak10 < 16e6


def test_stream_matches_file_segments(predictor, assets, tmp_path):
    x, _ = _joined(assets, 20.0, gap=1.0)
    path = tmp_path / "s.wav"
    sf.write(path, x, 16000, subtype="PCM_16")
    r = predictor.predict_file(path)
    blocks = (x[i:i + 4000] for i in range(0, len(x), 4000))
    wins = list(predictor.predict_stream(blocks))
    assert [(w["start"], w["end"]) for w in wins] == [(s["start"], s["end"]) for s in r["segments"]]
    assert [w["label"] for w in wins] == [s["label"] for s in r["segments"]]


def test_max_window_splits_long_speech():
    seg = Segmenter(SegmentConfig(vad=False, max_window=2.0))
    out = [*seg.push(np.zeros(16000 * 5, np.float32)), *seg.flush()]
    assert [(s.start, s.end) for s in out] == [(0.0, 2.0), (2.0, 4.0), (4.0, 5.0)]


def test_silence_is_no_speech(predictor):
    r = predictor.predict_signal(np.zeros(16000, np.float32))
    check_result({"file": "x", **r})
    assert r == {"duration": 1.0, "label": None, "no_speech": True, "segments": []}


def test_avd_outputs_are_destandardised(tmp_path, assets):
    p = Predictor.from_checkpoint(save_tiny_checkpoint(tmp_path / "m.pt", avd=True), threads=1)
    r = p.predict_file(assets / "08a02Tb.wav")
    check_result(r)
    seg = r["segments"][0]
    feats = p._features(np.asarray(sf.read(assets / "08a02Tb.wav", dtype="float32")[0][
        int(seg["start"] * 16000): int(seg["end"] * 16000)]))
    _, raw = p.backend(feats[None], np.array([len(feats)]))
    want = raw[0] * np.array([1.0, 0.5, 0.8]) + 3.0
    assert [seg["arousal"], seg["valence"], seg["dominance"]] == pytest.approx(want, abs=1e-3)


def test_bad_model_paths(tmp_path):
    with pytest.raises(ModelNotFoundError, match="bundled name"):
        Predictor.load(tmp_path / "nope")
    (tmp_path / "a.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelNotFoundError, match="not a readable serkit checkpoint"):
        Predictor.load(tmp_path)
    (tmp_path / "b.pt").write_bytes(b"x")
    with pytest.raises(ModelNotFoundError, match="single"):
        find_checkpoint(tmp_path)


def test_predict_signal_rejects_nan(predictor):
    x = np.zeros(16000, np.float32)
    x[5] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        predictor.predict_signal(x)


def test_bundled_default_model_loads_and_is_small():
    from serkit.inference import bundled_dir

    path = bundled_dir() / "model.pt"
    if not path.is_file():
        pytest.skip("bundled default model not built yet")
    assert path.stat().st_size < 20e6
    p = Predictor.load()
    assert p.label_names == ["angry", "disgust", "fear", "happy", "neutral", "sad"]


def _bundled():
    from serkit.inference import bundled_dir

    if not (bundled_dir() / "model.pt").is_file():
        pytest.skip("bundled default model not built yet")
    return Predictor.load(threads=1)


def test_bundled_model_on_unseen_speakers(assets):
    """The asset clips are EmoDB speakers 03 and 08, held out when the default model was trained."""
    p = _bundled()
    got = {r["file"].split("/")[-1]: r["label"] for r in p.predict_batch(sorted(assets.glob("*.wav")))}
    want = {"03a02Ta.wav": "sad", "03a02Wc.wav": "angry", "08a01Wa.wav": "angry", "08a02Tb.wav": "sad"}
    assert sum(got[k] == v for k, v in want.items()) >= 3, got


def test_bundled_model_timeline_follows_the_clips(assets, tmp_path):
    """Angry and sad clips joined with silences: the segment labels track the clips.

    Every clip becomes its own segment. Per clip, one label must hold at least 3/4 of its segments
    (the timeline is stable while the clip repeats), the angry clips' labels must differ from the
    sad clips' (the timeline switches with the clips: a model stuck on one label fails), and at least
    one angry clip must be called angry. Which label each clip gets is otherwise not asserted: the
    default model v0.5 (chosen on development speakers, see docs/model_card.md) calls 08a01Wa "fear"
    alone and inside this recording, v0.3 called 08a02Tb "fear".
    """
    p = _bundled()
    x, starts = _joined(assets, 120.0, gap=2.5)
    path = tmp_path / "mix.wav"
    sf.write(path, x, 16000, subtype="PCM_16")
    r = p.predict_file(path)
    truth = ["sad", "angry", "angry", "sad"]  # _joined cycles 03a02Ta, 03a02Wc, 08a01Wa, 08a02Tb
    labels = [s["label"] for s in r["segments"]]
    assert len(labels) == len(starts)
    major = []
    for k in range(4):
        (lab, n), = Counter(labels[k::4]).most_common(1)
        assert n / len(labels[k::4]) >= 0.75, (k, labels)
        major.append(lab)
    angry = {m for m, t in zip(major, truth, strict=True) if t == "angry"}
    sad = {m for m, t in zip(major, truth, strict=True) if t == "sad"}
    assert not angry & sad and "angry" in angry, (major, labels)


def test_run_folder_with_fold_checkpoints(tmp_path):
    save_tiny_checkpoint(tmp_path / "run" / "fold_a" / "checkpoint.pt")
    save_tiny_checkpoint(tmp_path / "run" / "fold_a" / "last.pt")
    assert find_checkpoint(tmp_path / "run") == tmp_path / "run" / "fold_a" / "checkpoint.pt"
    save_tiny_checkpoint(tmp_path / "run" / "fold_b" / "checkpoint.pt")
    with pytest.raises(ModelNotFoundError, match="2 fold models"):
        find_checkpoint(tmp_path / "run")
