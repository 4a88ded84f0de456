"""The holdout protocol and pooled corpora (data.corpus: a+b), used by the default model's recipe."""

from __future__ import annotations

import pytest

from serkit.data.manifest import Utterance
from serkit.data.splits import make_folds
from serkit.errors import ConfigError


def _utts():
    return [Utterance(id=f"u{i}", path=f"/x/{i}.wav", speaker=f"s{i % 4}", emotion="angry") for i in range(12)]


def test_holdout_fold_is_speaker_disjoint():
    (f,) = make_folds(_utts(), "holdout", test_speakers=["s1", "s3"])
    assert len(f.test) == 6 and len(f.train) == 6
    assert all(int(i[1:]) % 2 == 1 for i in f.test)


def test_holdout_needs_known_speakers():
    with pytest.raises(ConfigError, match="unknown"):
        make_folds(_utts(), "holdout", test_speakers=["nobody"])
    with pytest.raises(ConfigError, match="test_speakers"):
        make_folds(_utts(), "holdout")


def test_pooled_corpora_share_the_label_set(data_root):
    from serkit.experiment import load_data, recipe_from_dict

    cfg = recipe_from_dict({"data": {"corpus": "emodb+ravdess", "labels": "common6", "max_utterances": 60},
                                "model": {"name": "compact_cnn"}})
    utts, labels = load_data(cfg, data_root=data_root)
    assert labels == ["angry", "disgust", "fear", "happy", "neutral", "sad"]
    assert {u.speaker.split("_")[0] for u in utts} == {"emodb", "ravdess"}


def test_dev_protocol_never_sees_test_speakers():
    """Model selection (protocol dev): the test speakers are dropped, the dev speakers tested."""
    (f,) = make_folds(_utts(), "dev", test_speakers=["s1"], dev_speakers=["s2"])
    by_id = {u.id: u for u in _utts()}
    assert {by_id[i].speaker for i in f.test} == {"s2"}
    assert "s1" not in {by_id[i].speaker for i in f.train} and "s2" not in {by_id[i].speaker for i in f.train}


@pytest.mark.parametrize("dev", [["s1"], ["zz"], []])
def test_dev_protocol_rejects_test_or_unknown_speakers(dev):
    with pytest.raises(ConfigError, match="dev_speakers"):
        make_folds(_utts(), "dev", test_speakers=["s1"], dev_speakers=dev)
