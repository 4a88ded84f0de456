"""CharVocab, greedy CTC decoding, CER, and the transcripts the corpus adapters provide."""

from __future__ import annotations

import json

import numpy as np
import pytest

from serkit.data.manifest import read_jsonl
from serkit.data.vocab import CharVocab, ctc_collapse, normalize_text
from serkit.errors import ConfigError
from serkit.eval.metrics import character_error_rate, edit_distance


def test_blank_is_zero_and_symbols_follow():
    v = CharVocab.from_texts(["Der Lappen liegt auf dem Eisschrank.", "Kids are talking by the door"])
    assert v.blank == 0
    assert v.chars[:2] == [" ", "'"]
    assert len(v) == len(v.chars) + 1
    ids = v.encode("der lappen")
    assert ids.dtype == np.int64 and ids.min() >= 1 and ids.max() < len(v)


def test_german_letters_and_normalisation():
    v = CharVocab.from_texts(["Hat sie Größe? Ärger über Maße!"])
    for c in "äöüß":
        assert c in v.chars or c == "ü" and "ü" in v.chars
    assert "ü" in v.chars and "ö" in v.chars and "ä" in v.chars and "ß" in v.chars
    assert normalize_text("  Ärger,  ÜBER-Maße!! ") == "ärger über maße"
    assert normalize_text("It’s [LAUGHTER] fine") == "it's fine"
    assert "?" not in v.chars and "," not in v.chars and "-" not in v.chars


def test_encode_decode_roundtrip_and_unknown_chars_dropped():
    v = CharVocab.from_texts(["abc cab"])
    assert v.decode(v.encode("Cab, abc!")) == "cab abc"
    assert v.unknown_chars("abz") == {"z"}
    assert v.decode(v.encode("abz")) == "ab"


def test_greedy_ctc_collapses_repeats_then_drops_blanks():
    assert ctc_collapse([1, 1, 0, 1, 2, 2, 0, 0, 3]) == [1, 1, 2, 3]
    assert ctc_collapse([0, 0, 0]) == []
    v = CharVocab(["a", "b"])
    assert v.decode_ctc([1, 1, 0, 1, 2, 2]) == "aab"
    assert v.decode_ctc([1, 2, 1]) == "aba"


def test_serialisation_roundtrip_through_json():
    v = CharVocab.from_texts(["Dogs are sitting by the door", "Größe"])
    d = json.loads(json.dumps(v.to_dict()))
    assert CharVocab.from_dict(d) == v
    with pytest.raises(ConfigError, match="CharVocab"):
        CharVocab.from_dict({"blank": 3, "chars": ["a"]})


def test_no_letters_raises_with_fix():
    with pytest.raises(ConfigError, match="loss_weights.ctc=0"):
        CharVocab.from_texts([None, "123 !!", ""])
    with pytest.raises(ConfigError, match="unique"):
        CharVocab(["a", "a"])


def test_character_error_rate_hand_computed():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3
    assert character_error_rate(["abcd"], ["abcd"]) == 0.0
    # 1 substitution + 1 deletion over 4 + 2 reference characters
    assert character_error_rate(["abcd", "ef"], ["abxd", "e"]) == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="one hypothesis per reference"):
        character_error_rate(["a"], [])


def test_assets_have_transcripts(assets):
    utts = read_jsonl(assets / "manifest.jsonl")
    v = CharVocab.from_texts([u.text for u in utts])
    assert all(u.text for u in utts)
    assert all(len(v.encode(u.text)) > 5 for u in utts)


def _fake_iemocap(root):
    ses = root / "Session1"
    (ses / "dialog" / "EmoEvaluation").mkdir(parents=True)
    (ses / "dialog" / "transcriptions").mkdir(parents=True)
    (ses / "dialog" / "EmoEvaluation" / "Ses01F_impro01.txt").write_text(
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M001\tang\t[2.0000, 3.5000, 3.5000]\n")
    (ses / "dialog" / "transcriptions" / "Ses01F_impro01.txt").write_text(
        "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.\n"
        "Ses01F_impro01_M001 [010.0100-011.3925]: Do you have your forms? [LAUGHTER]\n")


def test_iemocap_adapter_fills_text(tmp_path):
    from serkit.data.corpora.iemocap import prepare_iemocap

    _fake_iemocap(tmp_path)
    utts = prepare_iemocap(tmp_path)
    assert [u.text for u in utts] == ["Excuse me.", "Do you have your forms? [LAUGHTER]"]
    v = CharVocab.from_texts([u.text for u in utts])
    assert v.decode(v.encode(utts[1].text)) == "do you have your forms"


@pytest.mark.corpus
@pytest.mark.parametrize("corpus,expect", [
    ("emodb", "der lappen liegt auf dem eisschrank"),
    ("ravdess", "kids are talking by the door"),
    ("ljspeech", None),
])
def test_corpus_adapters_fill_text(data_root, corpus, expect):
    from serkit.data.corpora import load_corpus

    utts = load_corpus(corpus, root=data_root)
    assert utts and all(u.text for u in utts), f"{corpus}: utterances without text"
    v = CharVocab.from_texts([u.text for u in utts])
    texts = {normalize_text(u.text) for u in utts}
    if expect:
        assert expect in texts
    if corpus == "emodb":
        assert len(texts) == 10 and {"ä", "ö", "ü"} & set(v.chars)
