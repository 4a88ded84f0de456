"""Corpus adapters: EmoDB, RAVDESS, LJSpeech on the shared data; IEMOCAP and MSP-Podcast on
fixture trees with the release layouts; the generic CSV/JSONL manifest; label maps."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from serkit.data import audio
from serkit.data.corpora import CORPORA, emodb, iemocap, load_corpus, msp_podcast, ravdess
from serkit.data.corpora.common import find_data_root, labels_of
from serkit.data.corpora.generic import prepare_manifest
from serkit.data.manifest import read_jsonl
from serkit.data.splits import make_folds
from serkit.errors import ManifestError, UnknownKeyError
from serkit.testing import IEMOCAP_FIXTURE, create_iemocap_tree, create_msp_podcast_tree

# ------------------------------------------------------------------ EmoDB


def test_emodb_full_corpus(data_root):
    utts = load_corpus("emodb", root=data_root)
    assert len(utts) == 535
    assert len({u.speaker for u in utts}) == 10
    assert Counter(u.emotion for u in utts) == {"angry": 127, "boredom": 81, "neutral": 79, "happy": 71,
                                                "fear": 69, "sad": 62, "disgust": 46}
    g = {u.speaker: u.gender for u in utts}
    assert sum(v == "f" for v in g.values()) == 5 and sum(v == "m" for v in g.values()) == 5
    u = next(u for u in utts if u.id == "emodb_03a01Fa")
    assert (u.speaker, u.gender, u.emotion, u.custom["raw_emotion"]) == ("emodb_03", "m", "happy", "happiness")
    assert u.text and u.duration == pytest.approx(1.898)
    assert Path(u.path).is_file()


@pytest.mark.parametrize("labels,n,classes", [("4class", 339, {"angry", "happy", "neutral", "sad"}),
                                              ("common6", 454, {"angry", "disgust", "fear", "happy", "neutral", "sad"})])
def test_emodb_label_sets(data_root, labels, n, classes):
    utts = load_corpus("emodb", root=data_root, labels=labels)
    assert len(utts) == n and {u.emotion for u in utts} == classes


def test_emodb_from_file_names_without_labels_csv(tmp_path, assets):
    (tmp_path / "wav").mkdir()
    for f in assets.glob("*.wav"):
        shutil.copy(f, tmp_path / "wav" / f.name)
    (tmp_path / "wav" / "README.wav").write_bytes(b"")  # not an EmoDB name: ignored
    utts = emodb.prepare_emodb(tmp_path, tmp_path / "out")
    assert {(u.speaker, u.gender, u.emotion) for u in utts} == {
        ("emodb_03", "m", "angry"), ("emodb_03", "m", "sad"), ("emodb_08", "f", "angry"), ("emodb_08", "f", "sad")}
    assert read_jsonl(tmp_path / "out" / "emodb.jsonl") == utts


def test_emodb_empty_folder_raises(tmp_path):
    with pytest.raises(ManifestError, match="no EmoDB files"):
        emodb.prepare_emodb(tmp_path)


# ------------------------------------------------------------------ RAVDESS


def test_ravdess_full_corpus(data_root):
    utts = load_corpus("ravdess", root=data_root)
    assert len(utts) == 1200
    assert len({u.speaker for u in utts}) == 20
    c = Counter(u.emotion for u in utts)
    assert c["neutral"] == 80 and all(c[e] == 160 for e in ["calm", "happy", "sad", "angry", "fear", "disgust", "surprise"])
    for u in utts:
        actor = int(u.speaker.split("_")[1])
        assert u.gender == ("m" if actor % 2 else "f")
    u = next(u for u in utts if u.id == "ravdess_03-01-05-02-02-01-12")
    assert (u.emotion, u.custom["intensity"], u.text) == ("angry", "strong", "Dogs are sitting by the door")
    assert u.duration is not None


def test_ravdess_label_sets_merge_calm(data_root):
    r7 = load_corpus("ravdess", root=data_root, labels="ravdess7")
    assert Counter(u.emotion for u in r7)["neutral"] == 240 and "calm" not in {u.emotion for u in r7}
    r4 = load_corpus("ravdess", root=data_root, labels="4class")
    assert len(r4) == 240 + 3 * 160


def test_ravdess_stereo_files_load_mono(data_root):
    import csv

    with open(data_root / "ravdess" / "labels.csv", encoding="utf-8") as f:
        stereo = [r["file"] for r in csv.DictReader(f) if r["channels"] != "1"]
    if not stereo:
        pytest.skip("no stereo file in this copy")
    p = data_root / "ravdess" / stereo[0]
    assert audio.info(p).channels == 2
    x = audio.load(p)
    assert x.ndim == 1 and len(x) > 16000


def test_ravdess_file_names_from_fixture(tmp_path):
    import soundfile as sf

    from serkit.testing import pseudo_wave

    d = tmp_path / "wav" / "Actor_03"
    d.mkdir(parents=True)
    for name in ["03-01-06-01-02-01-03", "03-01-02-02-01-02-03", "02-01-06-01-02-01-03", "03-02-06-01-02-01-03"]:
        sf.write(d / f"{name}.wav", pseudo_wave(0.3), 16000)
    utts = ravdess.prepare_ravdess(tmp_path)  # video-only (02) and song (02 channel) files skipped
    assert sorted((u.emotion, u.custom["intensity"]) for u in utts) == [("calm", "strong"), ("fear", "normal")]
    assert {u.gender for u in utts} == {"m"}


# ------------------------------------------------------------------ LJSpeech


def test_ljspeech(data_root):
    utts = load_corpus("ljspeech", root=data_root)
    assert len(utts) == 385
    assert {u.speaker for u in utts} == {"ljspeech_LJ"} and all(u.emotion is None for u in utts)
    assert utts[1].text == "in being comparatively modern."


# ------------------------------------------------------------------ IEMOCAP (fixture tree)


def test_iemocap_fixture_tree_layout(tmp_path):
    rel = create_iemocap_tree(tmp_path, sessions=1)
    ev = (rel / "Session1" / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").read_text()
    assert "[1.0000 - 1.5000]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]" in ev
    assert (rel / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_F000.wav").is_file()
    assert (rel / "Session1" / "dialog" / "transcriptions" / "Ses01F_script01_1.txt").is_file()


def test_iemocap_4class_with_excited_merged(tmp_path):
    rel = create_iemocap_tree(tmp_path, sessions=2)
    utts = iemocap.prepare_iemocap(rel, tmp_path / "out")
    # per session: neu, ang, exc->happy, hap, sad kept; xxx and fru dropped
    assert len(utts) == 10
    assert Counter(u.emotion for u in utts) == {"happy": 4, "neutral": 2, "angry": 2, "sad": 2}
    assert {u.speaker for u in utts} == {"iemocap_Ses01F", "iemocap_Ses01M", "iemocap_Ses02F", "iemocap_Ses02M"}
    assert {u.session for u in utts} == {"Ses01", "Ses02"}
    u = next(u for u in utts if u.id == "iemocap_Ses01F_impro01_M000")
    # the file's [V, A, D] = [1.5, 4.0, 4.0] becomes avd = [arousal, valence, dominance]
    assert u.avd == (4.0, 1.5, 4.0)
    assert (u.gender, u.emotion, u.text, u.custom["raw_emotion"]) == ("m", "angry", "Sentence number 1 here.", "ang")
    assert u.duration == pytest.approx(0.5)
    assert len(audio.load(u.path, start=u.start, duration=u.duration)) == 8000
    assert read_jsonl(tmp_path / "out" / "iemocap.jsonl") == utts


def test_iemocap_label_sets(tmp_path):
    rel = create_iemocap_tree(tmp_path, sessions=1)
    plain = iemocap.prepare_iemocap(rel, labels="4class")
    assert Counter(u.emotion for u in plain) == {"neutral": 1, "angry": 1, "happy": 1, "sad": 1}
    every = iemocap.prepare_iemocap(rel, labels="all")
    assert len(every) == len(IEMOCAP_FIXTURE) - 1  # all but xxx (no majority)
    dims = iemocap.prepare_iemocap(rel, labels="4class", keep_unlabelled=True)
    assert len(dims) == len(IEMOCAP_FIXTURE)
    assert sum(u.emotion is None for u in dims) == 3 and all(u.avd for u in dims)
    with pytest.raises(UnknownKeyError, match="4class_exc"):
        iemocap.prepare_iemocap(rel, labels="five")


def test_iemocap_leave_one_session_out(tmp_path):
    utts = iemocap.prepare_iemocap(create_iemocap_tree(tmp_path, sessions=3))
    folds = make_folds(utts, "loso_session")
    assert [f.name for f in folds] == ["Ses01", "Ses02", "Ses03"]
    assert all(len(f.test) == 5 and len(f.train) == 10 for f in folds)


def test_iemocap_wrong_folder(tmp_path):
    with pytest.raises(ManifestError, match="Session1..Session5"):
        iemocap.prepare_iemocap(tmp_path)


def test_iemocap_via_registry_and_data_root(tmp_path):
    create_iemocap_tree(tmp_path / "root", sessions=1)
    (tmp_path / "root" / "IEMOCAP_full_release").rename(tmp_path / "root" / "iemocap")
    assert len(load_corpus("iemocap", root=tmp_path / "root")) == 5


# ------------------------------------------------------------------ MSP-Podcast (fixture tree)


def test_msp_podcast_fixture(tmp_path):
    rel = create_msp_podcast_tree(tmp_path)
    utts = msp_podcast.prepare_msp_podcast(rel, tmp_path / "out")
    assert Counter(u.emotion for u in utts) == {"neutral": 2, "angry": 2, "happy": 1, "sad": 1}
    assert Counter(u.custom["partition"] for u in utts) == {"Train": 3, "Development": 1, "Test1": 2}
    u = next(u for u in utts if u.id == "msp_MSP-PODCAST_0001_0009")
    assert (u.speaker, u.gender, u.avd) == ("msp_127", "f", (5.8, 2.0, 5.6))
    unk = next(u for u in utts if u.id == "msp_MSP-PODCAST_0005_0003")
    assert unk.speaker == "msp_unknown_MSP-PODCAST_0005_0003"
    assert len(audio.load(u.path)) == 8000
    assert read_jsonl(tmp_path / "out" / "msp_podcast.jsonl") == utts


def test_msp_podcast_label_sets_and_official_partition(tmp_path):
    rel = create_msp_podcast_tree(tmp_path)
    assert "surprise" in {u.emotion for u in msp_podcast.prepare_msp_podcast(rel, labels="8class")}
    dims = msp_podcast.prepare_msp_podcast(rel, labels="8class", keep_unlabelled=True)
    assert len(dims) == 8 and sum(u.emotion is None for u in dims) == 1
    utts = msp_podcast.prepare_msp_podcast(rel, labels="8class")
    (fold,) = make_folds(utts, "official")
    assert fold.name == "Test1"
    assert sorted(fold.test) == ["msp_MSP-PODCAST_0003_0001", "msp_MSP-PODCAST_0003_0002", "msp_MSP-PODCAST_0005_0003"]
    assert sorted(fold.train) == ["msp_MSP-PODCAST_0001_0008", "msp_MSP-PODCAST_0001_0009", "msp_MSP-PODCAST_0002_0011"]


def test_msp_podcast_missing_labels(tmp_path):
    with pytest.raises(ManifestError, match="labels_consensus.csv"):
        msp_podcast.prepare_msp_podcast(tmp_path)


# ------------------------------------------------------------------ generic manifests and registry


def test_generic_csv_manifest(tmp_path):
    from serkit.testing import create_audio_files

    create_audio_files(tmp_path / "a", n=4)
    (tmp_path / "a" / "m.csv").write_text(
        "path,speaker,emotion,arousal,valence,dominance,start,duration,text\n"
        "utt000.wav,spkA,angry,0.8,0.2,0.7,0.1,0.5,hello\n"
        "utt001.wav,spkB,sad,,,,,,\n")
    utts = load_corpus("manifest", manifest=tmp_path / "a" / "m.csv")
    assert [u.id for u in utts] == ["utt000", "utt001"]
    assert utts[0].avd == (0.8, 0.2, 0.7) and utts[0].start == 0.1 and utts[0].text == "hello"
    assert utts[1].avd is None and Path(utts[1].path).is_file()
    assert [u.id for u in prepare_manifest(tmp_path / "a" / "m.csv", labels="sad")] == ["utt001"]
    (tmp_path / "half.csv").write_text("path,speaker,arousal,valence\nx.wav,s1,0.5,0.2\n")
    with pytest.raises(ManifestError, match=r"half.csv:2: .*all three or none"):
        prepare_manifest(tmp_path / "half.csv")
    (tmp_path / "bad.csv").write_text("file,emotion\nx.wav,sad\n")
    with pytest.raises(ManifestError, match="'path' and 'speaker'"):
        prepare_manifest(tmp_path / "bad.csv")


def test_generic_jsonl_manifest(assets):
    utts = load_corpus("manifest", manifest=assets / "manifest.jsonl")
    assert len(utts) == 4
    with pytest.raises(ManifestError, match="data.manifest"):
        load_corpus("manifest")


def test_registry_errors_list_valid_names(tmp_path):
    with pytest.raises(UnknownKeyError, match="emodb") as ei:
        load_corpus("emodbb", root=tmp_path)
    assert "ravdess" in str(ei.value)
    with pytest.raises(UnknownKeyError, match="emodb7"):
        emodb.prepare_emodb(tmp_path, labels="7class")


def test_label_sets_are_explicit():
    for spec in CORPORA.values():
        assert spec.default_labels is None or spec.default_labels in spec.label_sets
        for lset in spec.label_sets.values():
            assert labels_of(lset) and all(v is None or isinstance(v, str) for v in lset.values())
    assert iemocap.LABEL_SETS["4class_exc"]["excited"] == "happy"
    assert "excited" not in iemocap.LABEL_SETS["4class"]


def test_find_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("SERKIT_DATA", str(tmp_path))
    assert find_data_root() == tmp_path
    assert find_data_root(tmp_path / "x") == tmp_path / "x"


def test_ljspeech_fixture_reports_hours(tmp_path, assets):
    """Issue 17: `serkit prepare ljspeech` said "hours": 0.0 (no durations in metadata.csv)."""
    from serkit.data.corpora.ljspeech import prepare_ljspeech
    from serkit.data.manifest import summary

    (tmp_path / "wavs").mkdir()
    rows = []
    for i, f in enumerate(sorted(assets.glob("*.wav"))):
        shutil.copy(f, tmp_path / "wavs" / f"LJ001-{i:04d}.wav")
        rows.append(f"LJ001-{i:04d}|Text {i}.|Text {i}.")
    (tmp_path / "metadata.csv").write_text("\n".join(rows) + "\n")
    utts = prepare_ljspeech(tmp_path)
    expected = sum(audio.info(f).duration for f in assets.glob("*.wav")) / 3600
    assert summary(utts)["hours"] == pytest.approx(expected, abs=1e-3) and summary(utts)["hours"] > 0


def test_manifest_labels_must_be_emotions_of_the_manifest(tmp_path, assets):
    """Issue 17: keeping a recipe's `emodb7` with data.corpus: manifest silently gave no utterances."""
    csv_path = tmp_path / "m.csv"
    csv_path.write_text("path,speaker,emotion\n" + "".join(
        f"{f},{f.name[:2]},{'angry' if 'W' in f.name else 'sad'}\n" for f in sorted(assets.glob("*.wav"))))
    with pytest.raises(ManifestError, match=r"comma-separated .* null .*\['angry', 'sad'\]|\['angry', 'sad'\].*comma-separated"):
        prepare_manifest(csv_path, labels="emodb7")
    assert {u.emotion for u in prepare_manifest(csv_path, labels="sad")} == {"sad"}
    assert len(prepare_manifest(csv_path, labels=None)) == 4
