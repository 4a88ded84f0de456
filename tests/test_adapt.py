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
    balance_bias,
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
        assert r["adapted"] is False and "adaptation needs at least 30 s" in r["reason"]
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


def _adaptation_bench():
    """benchmarks/adaptation.py as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "adaptation_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "adaptation.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def _labelled(files, labels):
    return [Utterance(id=p.stem, path=str(p), speaker=p.parent.name, emotion=labels[i]) for i, p in enumerate(files)]


def test_permuting_the_labels_of_the_adaptation_files_changes_nothing(predictor, speakers):
    """The benchmark's adapted predictions from utterances whose labels are permuted are identical."""
    bench = _adaptation_bench()
    labels = ["angry", "sad", "happy", "neutral"]
    utts = _labelled(speakers, labels)
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
    assert len(lines) == 4 and all(r["adapted"] for r in lines) and not any("balanced" in r for r in lines)
    assert main(["predict", str(speakers[0].parent.parent), "--model", str(model), "--format", "json",
                 "--out", str(out1), "--speaker-from", "folder", "--min-speaker-seconds", "1", "--balance-labels"]) == 0
    assert all(json.loads(x)["balanced"] for x in out1.read_text().splitlines())
    assert main(["predict", *files, "--model", str(model), "--balance-labels"]) == 1  # needs speakers


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


# ----------------------------------------------------------------------------- representation level
@pytest.fixture(scope="module")
def ref_model(tmp_path_factory):
    """The tiny model with a training reference stored (from 3 pseudo training speakers, built by add_reference)."""
    from serkit.adapt import add_reference
    from serkit.data.manifest import write_jsonl

    assets = Path(__file__).parent / "assets"

    d = tmp_path_factory.mktemp("ref")
    utts = []
    for k, spk in enumerate(("s1", "s2", "s3")):
        for f in sorted(assets.glob("*.wav"))[k:k + 2]:
            (d / f"{spk}_{f.name}").write_bytes(f.read_bytes())
            utts.append(Utterance(id=f"{spk}_{f.stem}", path=str(d / f"{spk}_{f.name}"), speaker=spk, corpus="syn",
                                  emotion="angry" if "W" in f.name else "sad"))
    manifest = write_jsonl(utts, d / "manifest.jsonl")
    import torch

    p = save_tiny_checkpoint(d / "model.pt")
    ck = torch.load(p, weights_only=True)
    ck["config"]["data"] = {"corpus": "manifest", "manifest": str(manifest)}
    ck["config"]["eval"] = {"protocol": "holdout", "test_speakers": ["s3"]}
    torch.save(ck, p)
    entry = add_reference(p, level="embedding", progress=False)
    assert entry["speakers"] == 2 and set(entry) >= {"pooled", "embedding", "level", "match_std", "fitted_on"}
    return p


@pytest.fixture(scope="module")
def ref_predictor(ref_model):
    return Predictor.from_checkpoint(ref_model, threads=1)


EMB = AdaptConfig(min_seconds=1.0, level="embedding")


def test_auto_uses_the_stored_reference_level(ref_predictor, predictor):
    assert ref_predictor.adapt_level(AdaptConfig()) == ("embedding", False)
    assert ref_predictor.adapt_level(AdaptConfig(level="pooled", match_std=True)) == ("pooled", True)
    assert predictor.adapt_level(AdaptConfig()) == ("input", False)  # no reference: input features
    assert "no training reference" in predictor.adaptation_unsupported(EMB)


def test_representation_adaptation_changes_scores_and_says_where(ref_predictor, speakers):
    res = list(ref_predictor.predict_batch(speakers, speakers="folder", adapt=LOW))
    plain = list(ref_predictor.predict_batch(speakers))
    assert all(r["adapted"] and r["adapt_level"] == "embedding" for r in res)
    assert any(a["scores"] != b["scores"] for a, b in zip(res, plain, strict=True))
    st = ref_predictor.speaker_stats(speakers[:2], config=EMB)
    assert st.level == "embedding" and st.mean.shape == (32,) and st.frames == 2  # one vector per segment


@pytest.mark.parametrize("match_std", [False, True])
def test_speaker_equal_to_the_reference_is_the_identity(ref_predictor, assets, match_std):
    from serkit.adapt import SpeakerStats

    for level in ("pooled", "embedding"):
        ref = ref_predictor.adapt_reference[level]
        st = SpeakerStats("s", np.asarray(ref["mean"], np.float32), np.asarray(ref["std"], np.float32), 60.0, 20,
                          level=level, match_std=match_std)
        f = assets / "03a02Wc.wav"
        a, b = ref_predictor.predict_file(f), ref_predictor.predict_file(f, stats=st)
        assert np.allclose(list(a["scores"].values()), list(b["scores"].values()), atol=1e-4)


@pytest.mark.parametrize("level", ["input", "embedding", "pooled"])
def test_permuting_labels_changes_nothing_at_every_level(ref_predictor, speakers, level):
    bench = _adaptation_bench()
    labels = ["angry", "sad", "happy", "neutral"]
    utts = _labelled(speakers, labels)
    perm = [replace(u, emotion=labels[(i + 2) % 4]) for i, u in enumerate(utts)]
    cfg = AdaptConfig(min_seconds=1.0, level=level)
    a = bench.model_predictions(ref_predictor, utts, adapt=cfg)
    b = bench.model_predictions(ref_predictor, perm, adapt=cfg)
    assert a == b and all(x[1] for x in a)
    sub = {u.speaker: [u.path] for u in utts}  # the budget path (statistics from a subset of files)
    assert bench.model_predictions(ref_predictor, utts, adapt=cfg, subsets=sub) == \
        bench.model_predictions(ref_predictor, perm, adapt=cfg, subsets=sub)


def test_one_corrupt_file_at_the_embedding_level(ref_predictor, speakers):
    bad = speakers[0].parent / "corrupt.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 30)
    res = list(ref_predictor.predict_batch([speakers[0], bad, speakers[1]], speakers="folder", adapt=LOW))
    assert "error" in res[1] and "corrupt.wav" in res[1]["error"] and not ADAPT_KEYS & set(res[1])
    clean = list(ref_predictor.predict_batch([speakers[0], speakers[1]], speakers="folder", adapt=LOW))
    for r, c in zip((res[0], res[2]), clean, strict=True):
        assert r["adapted"] is True and r["adapt_level"] == "embedding" and r["scores"] == c["scores"]


def test_stream_adapts_the_embedding_with_running_statistics(ref_predictor, assets):
    gap = np.zeros(16000, np.float32)
    x = np.concatenate([c for f in sorted(assets.glob("*.wav")) for c in (sf.read(f, dtype="float32")[0], gap)] * 2)
    blocks = [x[i:i + 4000] for i in range(0, len(x), 4000)]
    wins = list(ref_predictor.predict_stream(blocks, adapt=AdaptConfig(min_seconds=3.0)))
    plain = list(ref_predictor.predict_stream(blocks))
    assert wins[0]["adapted"] is False and wins[0]["scores"] == plain[0]["scores"]
    assert wins[-1]["adapted"] is True and wins[-1]["adapt_level"] == "embedding"
    assert wins[-1]["scores"] != plain[-1]["scores"]


def test_onnx_falls_back_to_input_level(ref_model, speakers, tmp_path):
    pytest.importorskip("onnxruntime")
    from serkit.export import export_onnx

    ox = Predictor.load(export_onnx(ref_model, tmp_path / "m.onnx"), threads=1)
    assert ox.adapt_level(AdaptConfig()) == ("input", False)
    assert "ONNX files adapt input features only" in ox.adaptation_unsupported(EMB)


def test_add_reference_needs_one_fold_and_representations(tmp_path, model):
    from serkit.adapt import add_reference, reference_from

    with pytest.raises(ConfigError, match="level must be"):
        add_reference(model, level="input")
    with pytest.raises(ConfigError, match="at least 2"):
        reference_from([])
    with pytest.raises(ConfigError, match="adaptation level"):
        AdaptConfig(level="logits")


def test_speaker_normalised_head(ref_predictor, speakers):
    """head=True: the speaker-standardised embedding is classified by the reference's fitted head."""
    head = AdaptConfig(min_seconds=1.0, level="embedding", head=True)
    assert ref_predictor.adapt_head(head) and not ref_predictor.adapt_head(AdaptConfig(level="input", head=True))
    res = list(ref_predictor.predict_batch(speakers, speakers="folder", adapt=head))
    std = list(ref_predictor.predict_batch(speakers, speakers="folder", adapt=EMB))
    assert all(r["adapted"] for r in res) and any(a["scores"] != b["scores"] for a, b in zip(res, std, strict=True))
    assert {r["label"] for r in res} <= {"angry", "sad"}  # the only classes of its training files
    w = np.asarray(ref_predictor.adapt_reference["embedding"]["head"]["weight"])
    assert w.shape == (len(ref_predictor.label_names), 32)


def test_balance_bias_makes_the_weighted_mean_score_uniform():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 4)) + np.array([3.0, 0.0, -1.0, -2.0])  # collapsed onto class 0
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    w = rng.uniform(0.5, 3.0, size=40)
    b = balance_bias(logp, w)
    z = logp + b
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose((w / w.sum()) @ p, np.full(4, 0.25), atol=1e-4)
    assert abs(float(b.mean())) < 1e-5 and b[0] < 0 < b[3]
    # already balanced scores need no bias
    flat = np.log(np.full((5, 3), 1 / 3))
    np.testing.assert_allclose(balance_bias(flat), np.zeros(3), atol=1e-6)


def test_balance_spreads_a_speakers_labels_and_reads_no_labels(predictor, speakers):
    """AdaptConfig.balance: each speaker's mean adapted score is uniform; off by default (results unchanged)."""
    bal = AdaptConfig(min_seconds=1.0, balance=True)
    plain = list(predictor.predict_batch(speakers, speakers="folder", adapt=LOW))
    res = list(predictor.predict_batch(speakers, speakers="folder", adapt=bal))
    assert all(r["adapted"] for r in res)
    for spk in {r["speaker"] for r in res}:
        segs = [s for r in res if r["speaker"] == spk for s in r["segments"]]
        w = np.array([s["end"] - s["start"] for s in segs])
        mean = (w / w.sum()) @ np.array([[s["scores"][c] for c in predictor.label_names] for s in segs])
        np.testing.assert_allclose(mean, np.full(len(predictor.label_names), 1 / len(predictor.label_names)), atol=2e-3)
    assert any(a["scores"] != b["scores"] for a, b in zip(res, plain, strict=True))
    st = predictor.speaker_stats(speakers[:2], config=bal)
    assert st is not None and st.bias is not None and st.bias.shape == (len(predictor.label_names),)
    assert predictor.speaker_stats(speakers[:2], config=LOW).bias is None


def test_hybrid_level_joins_the_embedding_with_compare_functionals(ref_model, speakers, tmp_path):
    """embedding+compare: reference and head over [embedding, ComParE functionals]; auto picks it when stored."""
    pytest.importorskip("opensmile")
    from serkit.adapt import HYBRID_C, add_reference

    out = tmp_path / "hybrid.pt"
    entry = add_reference(ref_model, out=out, level="embedding+compare", progress=False)
    assert entry["level"] == "embedding+compare" and entry["head"] is True
    hyb = entry["embedding+compare"]
    assert len(hyb["mean"]) == 32 + 6373 and hyb["head"]["C"] == HYBRID_C
    pred = Predictor.from_checkpoint(out, threads=1)
    cfg = AdaptConfig(min_seconds=1.0)
    assert pred.adapt_level(cfg)[0] == "embedding+compare" and pred.adapt_head(cfg)
    assert pred.adaptation_unsupported(cfg) is None
    res = list(pred.predict_batch(speakers, speakers="folder", adapt=cfg))
    assert all(r["adapted"] and r["adapt_level"] == "embedding+compare" for r in res)
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-3 for r in res)
    # the hybrid representation is the model's embedding followed by the segment's ComParE functionals
    from serkit.config import FeatureConfig
    from serkit.features.extract import compute_features

    h = pred.segment_representations(speakers[0], "embedding+compare")
    e = pred.segment_representations(speakers[0], "embedding")
    assert len(h) == len(e) >= 1
    np.testing.assert_allclose(h[0][:32], e[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(h[0][32:], 0) and np.isfinite(h[0]).all()
    assert compute_features(np.zeros(16000, np.float32) + 0.01, FeatureConfig(name="compare")).shape == (6373,)
    st = pred.speaker_stats(speakers[:2], config=cfg)
    assert st is not None and st.level == "embedding+compare" and st.mean.shape == (32 + 6373,)
    # labels of the adaptation files are never read
    bench = _adaptation_bench()
    labels = ["angry", "sad", "happy", "neutral"]
    utts = _labelled(speakers, labels)
    perm = [replace(u, emotion=labels[(i + 1) % 4]) for i, u in enumerate(utts)]
    assert bench.model_predictions(pred, utts, adapt=cfg) == bench.model_predictions(pred, perm, adapt=cfg)
    # one corrupt file in a speaker's group is reported; the group's other file is still adapted
    bad = speakers[0].parent / "broken.wav"
    bad.write_bytes(b"RIFF0000WAVEjunk")
    res = list(pred.predict_batch([bad, *speakers], speakers="folder", adapt=cfg))
    assert "error" in res[0] and all(r["adapted"] for r in res[1:])
