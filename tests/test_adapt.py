"""Speaker adaptation at prediction time (serkit.adapt, Predictor(speakers=...), serkit predict --speaker-*)."""

from __future__ import annotations

import csv
import importlib.util
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from serkit.adapt import (
    AdaptConfig,
    RunningStats,
    map_to_reference,
    read_speaker_map,
    resolve_speakers,
)
from serkit.cli.main import main
from serkit.data.manifest import Utterance
from serkit.errors import ConfigError
from serkit.inference import Predictor, result_json
from serkit.testing import save_tiny_checkpoint

ADAPT_KEYS = {"speaker", "adapted", "speaker_seconds", "reason"}
LOW = AdaptConfig(min_seconds=1.0)  # the asset clips hold a few seconds of speech each


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_tiny_checkpoint(tmp_path_factory.mktemp("m") / "model.pt")


@pytest.fixture(scope="module")
def predictor(model):
    return Predictor.from_checkpoint(model, threads=1)


@pytest.fixture
def speakers(assets, tmp_path):
    """Two speaker folders (EmoDB 03 and 08), two real clips each."""
    for f in sorted(assets.glob("*.wav")):
        d = tmp_path / f"spk{f.name[:2]}"
        d.mkdir(exist_ok=True)
        (d / f.name).write_bytes(f.read_bytes())
    return sorted(tmp_path.glob("spk*/*.wav"))


def test_running_stats_match_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(2, 3, (50, 4)), rng.normal(-1, 1, (70, 4))
    acc = RunningStats()
    acc.update(a, seconds=0.5)
    acc.update(b, seconds=0.7)
    s = acc.stats("x")
    both = np.concatenate([a, b])
    assert np.allclose(s.mean, both.mean(0), atol=1e-5) and np.allclose(s.std, both.std(0), atol=1e-5)
    assert s.frames == 120 and s.seconds == pytest.approx(1.2)
    with pytest.raises(ConfigError, match="no speech frames"):
        RunningStats().stats("empty")


def test_mapping_makes_the_model_input_speaker_standardised(predictor):
    """(x' - mean_g) / std_g of the mapped features equals (x - mean_s) / std_s."""
    rng = np.random.default_rng(1)
    x = rng.normal(-3, 2, (200, 16)).astype(np.float32)
    acc = RunningStats()
    acc.update(x, seconds=2.0)
    st = acc.stats("s")
    mg, sg = predictor.backend.input_stats()
    z = (map_to_reference(x, st, mg, sg) - mg) / sg
    assert np.allclose(z, (x - st.mean) / st.std, atol=1e-4)
    assert np.allclose(z.mean(0), 0, atol=1e-4) and np.allclose(z.std(0), 1, atol=1e-3)


def test_adaptation_with_the_training_statistics_is_the_identity(predictor, assets):
    """A speaker whose statistics equal the model's training statistics gets today's scores."""
    from serkit.adapt import SpeakerStats

    mg, sg = predictor.backend.input_stats()
    f = assets / "03a02Wc.wav"
    plain = predictor.predict_file(f)
    same = predictor.predict_file(f, stats=SpeakerStats("s", mg, sg, 60.0, 6000))
    assert np.allclose(list(plain["scores"].values()), list(same["scores"].values()), atol=1e-4)


def test_batch_by_folder_marks_each_file_with_its_speaker(predictor, speakers):
    res = list(predictor.predict_batch(speakers, speakers="folder", adapt=LOW))
    assert [r["file"] for r in res] == [str(p) for p in speakers]
    for r in res:
        assert r["adapted"] is True and "reason" not in r
        assert Path(r["speaker"]).name == "spk" + Path(r["file"]).name[:2]
        assert 1.0 < r["speaker_seconds"] < 4.0  # VAD speech of two ~1.5 s clips
    plain = list(predictor.predict_batch(speakers))
    assert any(a["scores"] != b["scores"] for a, b in zip(res, plain, strict=True))
    # the two files of one folder share one set of statistics
    assert res[0]["speaker_seconds"] == res[1]["speaker_seconds"]


def test_too_little_speech_falls_back_and_says_why(predictor, speakers):
    res = list(predictor.predict_batch(speakers, speakers="file"))  # default minimum: 10 s
    plain = list(predictor.predict_batch(speakers))
    for r, p in zip(res, plain, strict=True):
        assert r["adapted"] is False and "adaptation needs at least 10 s" in r["reason"]
        assert r["speaker"] == r["file"] and r["speaker_seconds"] < 2.0
        assert r["scores"] == p["scores"]  # the fallback is exactly the unadapted prediction


def test_one_corrupt_file_is_reported_and_the_group_is_still_adapted(predictor, speakers):
    bad = speakers[0].parent / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 30)
    files = [speakers[0], bad, speakers[1]]
    res = list(predictor.predict_batch(files, speakers="folder", adapt=LOW))
    assert "error" in res[1] and "corrupt.wav" in res[1]["error"] and not ADAPT_KEYS & set(res[1])
    clean = list(predictor.predict_batch([speakers[0], speakers[1]], speakers="folder", adapt=LOW))
    for r, c in zip((res[0], res[2]), clean, strict=True):
        assert r["adapted"] is True and r["scores"] == c["scores"]
        assert r["speaker_seconds"] == c["speaker_seconds"]  # the bad file added nothing


def test_speaker_map_and_sequences(predictor, speakers, tmp_path):
    m = tmp_path / "map.csv"
    with m.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "speaker", "emotion"])
        for p in speakers:
            w.writerow([p, "A" if "spk03" in str(p) else "B", "angry"])
    mapping = read_speaker_map(m)
    assert resolve_speakers(speakers, mapping) == ["A", "A", "B", "B"]
    assert resolve_speakers([Path("elsewhere.wav")], mapping) == [None]
    res = list(predictor.predict_batch(speakers, speakers=mapping, adapt=LOW))
    by_folder = list(predictor.predict_batch(speakers, speakers="folder", adapt=LOW))
    assert [r["speaker"] for r in res] == ["A", "A", "B", "B"]
    assert [r["scores"] for r in res] == [r["scores"] for r in by_folder]
    with pytest.raises(ConfigError, match="one speaker per file"):
        list(predictor.predict_batch(speakers, speakers=["A"]))
    (tmp_path / "bad.csv").write_text("path,who\nx.wav,A\n")
    with pytest.raises(ConfigError, match="file,speaker"):
        read_speaker_map(tmp_path / "bad.csv")


def test_permuting_the_labels_of_the_adaptation_files_changes_nothing(predictor, speakers):
    """The benchmark's adapted predictions from utterances whose labels are permuted are identical."""
    spec = importlib.util.spec_from_file_location(
        "adaptation_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "adaptation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    labels = ["angry", "sad", "happy", "neutral"]
    utts = [Utterance(id=p.stem, path=str(p), speaker=p.parent.name, emotion=labels[i]) for i, p in enumerate(speakers)]
    perm = [replace(u, emotion=labels[(i + 1) % 4]) for i, u in enumerate(utts)]
    a = bench.model_predictions(predictor, utts, adapt=LOW)
    b = bench.model_predictions(predictor, perm, adapt=LOW)
    assert a == b and len(a) == 4


def test_cli_without_flags_is_byte_identical_and_with_flags_adds_fields(model, predictor, speakers, tmp_path):
    out0, out1 = tmp_path / "plain.jsonl", tmp_path / "adapted.jsonl"
    files = [str(p) for p in speakers]
    assert main(["predict", *files, "--model", str(model), "--format", "json", "--out", str(out0)]) == 0
    expected = "".join(result_json(predictor.predict_file(p)) + "\n" for p in files)
    assert out0.read_text() == expected
    assert not any(ADAPT_KEYS & set(json.loads(x)) for x in out0.read_text().splitlines())
    assert main(["predict", str(speakers[0].parent.parent), "--model", str(model), "--format", "json",
                 "--out", str(out1), "--speaker-from", "folder", "--min-speaker-seconds", "1"]) == 0
    lines = [json.loads(x) for x in out1.read_text().splitlines()]
    assert len(lines) == 4 and all(r["adapted"] for r in lines)


def test_stream_uses_running_statistics(predictor, assets):
    gap = np.zeros(16000, np.float32)  # 1 s of silence: each clip becomes its own VAD segment
    x = np.concatenate([c for f in sorted(assets.glob("*.wav")) for c in (sf.read(f, dtype="float32")[0], gap)] * 2)
    blocks = [x[i:i + 4000] for i in range(0, len(x), 4000)]
    wins = list(predictor.predict_stream(blocks, adapt=AdaptConfig(min_seconds=3.0)))
    plain = list(predictor.predict_stream(blocks))
    assert [(w["start"], w["end"]) for w in wins] == [(w["start"], w["end"]) for w in plain]
    secs = [w["speaker_seconds"] for w in wins]
    assert secs == sorted(secs) and secs[0] < 3.0 <= secs[-1]
    assert wins[0]["adapted"] is False and "starts after 3 s" in wins[0]["reason"]
    assert wins[0]["scores"] == plain[0]["scores"]
    assert wins[-1]["adapted"] is True and wins[-1]["scores"] != plain[-1]["scores"]


def test_onnx_model_is_adapted_like_torch(model, predictor, speakers, tmp_path):
    pytest.importorskip("onnxruntime")
    from serkit.export import export_onnx

    ox = Predictor.load(export_onnx(model, tmp_path / "m.onnx"), threads=1)
    assert ox.adaptation_unsupported() is None
    a = list(ox.predict_batch(speakers, speakers="folder", adapt=LOW))
    b = list(predictor.predict_batch(speakers, speakers="folder", adapt=LOW))
    for r, t in zip(a, b, strict=True):
        assert r["adapted"] and np.abs(np.array(list(r["scores"].values()))
                                       - np.array(list(t["scores"].values()))).max() < 1e-4


def test_model_without_input_statistics_is_not_adapted_and_says_why(predictor, speakers):
    class Bare:
        kind, takes_norm_stats = "torch", False

        def input_stats(self):
            return None

        def __call__(self, x, lengths):
            return predictor.backend(x, lengths)

    p = Predictor(Bare(), predictor.features, predictor.label_names, name="bare")
    r = next(p.predict_batch(speakers[:1], speakers="folder", adapt=LOW))
    assert r["adapted"] is False and "no input normaliser" in r["reason"] and r["label"]


def test_model_that_takes_norm_stats_gets_the_speaker_statistics(predictor, speakers):
    seen = []

    class Takes:
        kind, takes_norm_stats = "torch", True

        def input_stats(self):
            return None

        def __call__(self, x, lengths, norm_stats=None):
            seen.append(norm_stats)
            return predictor.backend(x, lengths)

    p = Predictor(Takes(), predictor.features, predictor.label_names, name="takes")
    r = next(p.predict_batch(speakers[:2], speakers="folder", adapt=LOW))
    st = predictor.speaker_stats(speakers[:2])
    assert r["adapted"] is True
    mean, std = seen[-1]
    assert mean.shape == (len(r["segments"]), 16) and np.allclose(mean[0], st.mean) and np.allclose(std[0], st.std)


def test_utterance_normalised_model_is_adapted_in_torch_and_onnx_says_why(model, speakers, tmp_path):
    """input_norm: utterance: the speaker's statistics replace the utterance's own inside the model."""
    import torch

    ck = torch.load(model, weights_only=True)
    ck["config"]["model"]["input_norm"] = "utterance"
    torch.save(ck, tmp_path / "utt.pt")
    p = Predictor.from_checkpoint(tmp_path / "utt.pt", threads=1)
    assert p.backend.takes_norm_stats and p.backend.input_stats() is None
    res = list(p.predict_batch(speakers, speakers="folder", adapt=LOW))
    plain = list(p.predict_batch(speakers))
    assert all(r["adapted"] for r in res) and any(a["scores"] != b["scores"] for a, b in zip(res, plain, strict=True))
    pytest.importorskip("onnxruntime")
    from serkit.export import export_onnx

    ox = Predictor.load(export_onnx(tmp_path / "utt.pt", tmp_path / "utt.onnx"), threads=1)
    r = next(ox.predict_batch(speakers[:1], speakers="folder", adapt=LOW))
    assert r["adapted"] is False and "inside the graph" in r["reason"] and r["label"]
