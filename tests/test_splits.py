"""Protocols: LOSO, speaker-grouped k-fold, leave-one-session-out, official partition, and the
speaker-overlap check; random utterance folds only on request."""

from __future__ import annotations

from collections import Counter

import pytest

from serkit.data.manifest import Utterance
from serkit.data.splits import (
    check_speaker_disjoint,
    make_folds,
    protocol_name,
    validation_split,
)
from serkit.errors import ConfigError, SpeakerOverlapError, UnknownKeyError


def _corpus(speakers: int = 6, per: int = 5, **kw) -> list[Utterance]:
    return [Utterance(id=f"s{s}_{i}", path="x.wav", speaker=f"s{s}", emotion="ab"[i % 2], **kw)
            for s in range(speakers) for i in range(per + s % 3)]


def _speakers(utts, ids):
    by = {u.id: u.speaker for u in utts}
    return {by[i] for i in ids}


def _assert_partition(utts, folds):
    """Each utterance is tested exactly once; train is the complement of test."""
    tested = Counter(i for f in folds for i in f.test)
    assert set(tested) == {u.id for u in utts} and set(tested.values()) == {1}
    for f in folds:
        assert set(f.train) | set(f.test) == {u.id for u in utts}
        assert not set(f.train) & set(f.test)
        assert not _speakers(utts, f.train) & _speakers(utts, f.test)


def test_loso():
    utts = _corpus()
    folds = make_folds(utts, "loso")
    assert [f.name for f in folds] == [f"s{i}" for i in range(6)]
    _assert_partition(utts, folds)
    for f in folds:
        assert _speakers(utts, f.test) == {f.name}



def test_loso_with_folds_groups_every_speaker():
    """Issue 17: eval.folds=k on a loso recipe gives k speaker-grouped folds over ALL speakers
    (it used to test only the first k speakers while the header counted every utterance)."""
    utts = _corpus()
    folds = make_folds(utts, "loso", k=3)
    assert len(folds) == 3
    _assert_partition(utts, folds)
    assert set().union(*(_speakers(utts, f.test) for f in folds)) == {f"s{i}" for i in range(6)}
    assert "speaker-grouped 3-fold" in protocol_name("loso", 3)
    with pytest.raises(ConfigError, match="only 6 speakers"):
        make_folds(utts, "loso", k=7)


@pytest.mark.parametrize("k", [2, 3, 5])
def test_speaker_kfold(k):
    utts = _corpus(speakers=10)
    folds = make_folds(utts, "speaker_kfold", k=k, seed=1)
    assert len(folds) == k
    _assert_partition(utts, folds)
    sizes = [len(f.test) for f in folds]
    assert max(sizes) - min(sizes) <= 7  # balanced up to one speaker's utterances
    assert make_folds(utts, "speaker_kfold", k=k, seed=1) == folds  # deterministic


def test_speaker_kfold_bad_k():
    with pytest.raises(ConfigError, match="only 3 speakers"):
        make_folds(_corpus(speakers=3), "speaker_kfold", k=5)
    with pytest.raises(ConfigError, match=">= 2"):
        make_folds(_corpus(), "speaker_kfold", k=1)


def test_loso_session():
    utts = [Utterance(id=f"{ses}{g}{i}", path="x", speaker=f"{ses}{g}", session=ses)
            for ses in ["Ses01", "Ses02", "Ses03"] for g in "FM" for i in range(3)]
    folds = make_folds(utts, "loso_session")
    assert [f.name for f in folds] == ["Ses01", "Ses02", "Ses03"]
    _assert_partition(utts, folds)
    with pytest.raises(ConfigError, match="no session"):
        make_folds(_corpus(), "loso_session")


def test_loso_session_raises_when_a_speaker_spans_sessions():
    utts = [Utterance(id="a", path="x", speaker="actor1", session="Ses01"),
            Utterance(id="b", path="x", speaker="actor1", session="Ses02"),
            Utterance(id="c", path="x", speaker="actor2", session="Ses02")]
    with pytest.raises(SpeakerOverlapError, match="actor1"):
        make_folds(utts, "loso_session")


def _podcast(overlap: bool = False) -> list[Utterance]:
    rows = [("a", "p1", "Train"), ("b", "p2", "Train"), ("c", "p3", "Development"),
            ("d", "p4", "Test1"), ("e", "p5", "Test2")]
    if overlap:
        rows.append(("f", "p1", "Test1"))
    return [Utterance(id=i, path="x", speaker=s, custom={"partition": p}) for i, s, p in rows]


def test_official_partition():
    (f,) = make_folds(_podcast(), "official")
    assert (f.name, f.train, f.test) == ("Test1", ("a", "b"), ("d",))
    (f2,) = make_folds(_podcast(), "official", official_train=("Train", "Development"), official_test="Test2")
    assert (f2.train, f2.test) == (("a", "b", "c"), ("e",))
    with pytest.raises(SpeakerOverlapError, match="p1"):
        make_folds(_podcast(overlap=True), "official")
    with pytest.raises(ConfigError, match="partition"):
        make_folds(_corpus(), "official")
    with pytest.raises(ConfigError, match="Test3"):
        make_folds(_podcast(), "official", official_test="Test3")


def test_overlap_error_names_speakers_and_fix():
    a = [Utterance(id="1", path="x", speaker="alice"), Utterance(id="2", path="x", speaker="bob")]
    b = [Utterance(id="3", path="x", speaker="bob")]
    with pytest.raises(SpeakerOverlapError) as ei:
        check_speaker_disjoint(a, b, fold="f1")
    msg = str(ei.value)
    assert "'f1'" in msg and "bob" in msg and "alice" not in msg and "speaker_dependent" in msg
    assert isinstance(ei.value, ValueError)
    check_speaker_disjoint(a, b, speaker_dependent=True)  # asked for on purpose: no error
    check_speaker_disjoint(a[:1], b)


def test_random_kfold_needs_the_flag():
    utts = _corpus()
    with pytest.raises(ConfigError, match="speaker_dependent"):
        make_folds(utts, "random_kfold")
    folds = make_folds(utts, "random_kfold", k=4, speaker_dependent=True)
    assert len(folds) == 4
    tested = Counter(i for f in folds for i in f.test)
    assert set(tested.values()) == {1} and len(tested) == len(utts)
    assert any(_speakers(utts, f.train) & _speakers(utts, f.test) for f in folds)
    assert "speaker-dependent" in protocol_name("random_kfold", 4)


def test_unknown_protocol():
    with pytest.raises(UnknownKeyError, match="loso_session"):
        make_folds(_corpus(), "leave_one_out")


def test_protocol_names():
    assert protocol_name("loso") == "leave-one-speaker-out"
    assert protocol_name("speaker_kfold", 5) == "speaker-grouped 5-fold"
    assert protocol_name("loso_session") == "leave-one-session-out"


def test_validation_split_holds_out_whole_training_speakers():
    utts = _corpus(speakers=8)
    tr, va = validation_split(utts, 0.25, seed=3)
    assert len(tr) + len(va) == len(utts)
    assert not {u.speaker for u in tr} & {u.speaker for u in va}
    assert len({u.speaker for u in va}) == 2
    assert validation_split(utts, 0.0) == (utts, [])
    one = _corpus(speakers=1, per=10)
    tr1, va1 = validation_split(one, 0.2)
    assert len(va1) == 2 and len(tr1) == 8  # one speaker: utterance split as a fallback


def test_recipe_loso_folds_cover_every_speaker():
    from types import SimpleNamespace as NS

    from serkit.config import DataConfig, EvalConfig
    from serkit.data.splits import recipe_folds, recipe_protocol_name

    utts = _corpus()
    cfg = NS(data=DataConfig(corpus="ravdess"), eval=EvalConfig(protocol="loso"))
    assert len(recipe_folds(cfg, utts)) == 6  # the corpus' k-fold default (5) does not cap loso
    cfg = NS(data=DataConfig(corpus="emodb"), eval=EvalConfig(protocol="loso", folds=3))
    folds = recipe_folds(cfg, utts)
    assert len(folds) == 3 and sum(len(f.test) for f in folds) == len(utts)
    assert recipe_protocol_name(cfg, folds, utts).startswith("speaker-grouped 3-fold")
