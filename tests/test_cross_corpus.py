"""Cross-corpus protocols: cross_corpus (train on some corpora, test on others) and
leave_one_corpus_out, labels restricted to the classes every corpus has, reports per test corpus."""

from __future__ import annotations

import json

import pytest

from serkit.data.manifest import Utterance
from serkit.data.splits import make_folds, protocol_name, shared_labels
from serkit.errors import ConfigError


def _utts() -> list[Utterance]:
    """Three corpora; corpus c has no 'sad', corpus b has an extra 'happy'."""
    spec = {"a": "angry sad neutral", "b": "angry sad neutral happy", "c": "angry neutral"}
    return [Utterance(id=f"{c}{s}_{e}_{i}", path="x.wav", speaker=f"{c}_{s}", corpus=c, emotion=e)
            for c, emos in spec.items() for s in range(2) for e in emos.split() for i in range(2)]


def _corpora(utts, ids):
    by = {u.id: u.corpus for u in utts}
    return {by[i] for i in ids}


def test_cross_corpus_one_fold_per_test_corpus():
    utts = _utts()
    folds = make_folds(utts, "cross_corpus", train_corpora=["a"], test_corpora=["b", "c"])
    assert [f.name for f in folds] == ["b", "c"]
    shared = {"angry", "neutral"}  # sad is missing from c, happy from a and c
    emo = {u.id: u.emotion for u in utts}
    for f in folds:
        assert _corpora(utts, f.train) == {"a"} and _corpora(utts, f.test) == {f.name}
        assert {emo[i] for i in (*f.train, *f.test)} == shared
    assert len(folds[0].train) == 2 * 2 * 2  # corpus a: 2 speakers x 2 shared classes x 2


def test_cross_corpus_trains_on_the_rest_by_default():
    utts = [u for u in _utts() if u.corpus != "c"]
    (f,) = make_folds(utts, "cross_corpus", test_corpora=["a"])
    assert _corpora(utts, f.train) == {"b"} and _corpora(utts, f.test) == {"a"}
    # the two corpora share angry, sad, neutral; b's happy is dropped
    assert {u.emotion for u in utts if u.id in set(f.train)} == {"angry", "sad", "neutral"}


def test_leave_one_corpus_out():
    utts = _utts()
    folds = make_folds(utts, "leave_one_corpus_out")
    assert [f.name for f in folds] == ["a", "b", "c"]
    for f in folds:
        assert _corpora(utts, f.test) == {f.name}
        assert _corpora(utts, f.train) == {"a", "b", "c"} - {f.name}
    assert [f.name for f in make_folds(utts, "leave_one_corpus_out", test_corpora=["c"])] == ["c"]


@pytest.mark.parametrize("kw, match", [
    ({"test_corpora": []}, "needs eval.test_corpora"),
    ({"train_corpora": ["a"], "test_corpora": ["a"]}, "in both"),
    ({"test_corpora": ["zz"]}, "not in the data"),
])
def test_cross_corpus_config_errors(kw, match):
    with pytest.raises(ConfigError, match=match):
        make_folds(_utts(), "cross_corpus", **kw)


def test_leave_one_corpus_out_needs_two_corpora():
    with pytest.raises(ConfigError, match="two or more"):
        make_folds([u for u in _utts() if u.corpus == "a"], "leave_one_corpus_out")


def test_shared_labels_none_shared():
    us = [Utterance(id="1", path="x", speaker="a1", corpus="a", emotion="x"),
          Utterance(id="2", path="x", speaker="b1", corpus="b", emotion="y")]
    with pytest.raises(ConfigError, match="share no emotion"):
        shared_labels(us, ["a", "b"])


def test_protocol_name_names_the_corpora():
    utts = _utts()
    folds = make_folds(utts, "cross_corpus", train_corpora=["a"], test_corpora=["b"])
    name = protocol_name("cross_corpus", folds=folds, corpus_of={u.id: u.corpus for u in utts})
    assert name == "cross-corpus (train on a, test on each of b)"


def test_cross_corpus_report_end_to_end(tmp_path):
    """A real run (eGeMAPS + SVM on the test clips): one fold per test corpus, stamped cross-corpus."""
    from serkit.experiment import recipe_from_dict, run_experiment
    from serkit.testing import assets_dir

    rows = [json.loads(x) for x in (assets_dir() / "manifest.jsonl").read_text().splitlines() if x.strip()]
    lines = []
    for corpus in ("a", "b"):
        for r in rows:
            lines.append({**r, "id": f"{corpus}_{r['id']}", "speaker": f"{corpus}_{r['speaker']}", "corpus": corpus,
                          "path": str(assets_dir() / r["path"])})
    lines.append({**lines[-1], "id": "b_extra", "emotion": "happy"})  # a class corpus a lacks: dropped
    man = tmp_path / "m.jsonl"
    man.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    cfg = recipe_from_dict({
        "data": {"corpus": "manifest", "manifest": str(man)},
        "features": {"name": "egemaps"},
        "model": {"name": "linear_svm", "C": 0.01},
        "eval": {"protocol": "cross_corpus", "train_corpora": ["a"], "test_corpora": ["b"]},
    })
    rep = run_experiment(cfg, progress=False)
    assert [f.name for f in rep.folds] == ["b"] and rep.folds[0].n_test == 4
    assert rep.labels == ["angry", "sad"]
    assert "CROSS-CORPUS" in rep.header() and "trained on a" in rep.header()
    d = rep.to_dict()
    assert d["cross_corpus"]["train_corpora"] == ["a"] and set(d["cross_corpus"]["per_corpus"]) == {"b"}
    assert d["cross_corpus"]["per_corpus"]["b"]["ua"] == pytest.approx(d["mean"]["ua"])
    assert any("dropped ['happy']" in n for n in rep.notes)
    assert "1 test corpus (cross-corpus); no std" in rep.to_table()
