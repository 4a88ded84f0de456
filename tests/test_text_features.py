"""Text features: offline MiniLM, local folders, cache, padding invariance, missing transcripts."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import numpy as np
import pytest

from serkit.errors import ConfigError, ModelNotFoundError
from serkit.features import text as T


@pytest.fixture
def no_network(monkeypatch):
    """Fail any socket connection, and tell Hugging Face it is offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")

    def refuse(*a, **k):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_offline_minilm_loads_and_encodes_tokens(no_network):
    assert (T.minilm_dir() / "config.json").is_file()
    feats = T.encode_texts(["Kids are talking by the door", "Der Lappen liegt auf dem Eisschrank."],
                           cache_dir="", progress=False)
    assert feats[0].shape == (8, 384)  # [CLS] kids are talking by the door [SEP]
    assert feats[1].shape[0] == 14 and feats[1].dtype == np.float32
    assert np.isfinite(feats[0]).all()
    short = T.encode_texts(["Der Lappen liegt auf dem Eisschrank."], max_tokens=5, cache_dir="", progress=False)
    np.testing.assert_allclose(short[0].shape, (5, 384))


def test_local_folder_padding_invariance(tiny_bert, no_network):
    texts = ["kids are talking by the door", "dogs", "der lappen liegt auf dem eisschrank ."]
    batch = T.encode_texts(texts, encoder=str(tiny_bert), cache_dir="", progress=False)
    for t, b in zip(texts, batch, strict=True):
        single = T.encode_texts([t], encoder=str(tiny_bert), cache_dir="", progress=False)[0]
        np.testing.assert_allclose(b, single, rtol=1e-5, atol=1e-5)
    assert [b.shape[0] for b in batch] == [8, 3, 9]
    assert batch[0].shape[1] == 16


def test_cache_reuses_features_without_the_encoder(tiny_bert, tmp_path, monkeypatch):
    texts = ["kids are talking by the door", "dogs", "kids are talking by the door"]
    first = T.encode_texts(texts, encoder=str(tiny_bert), cache_dir=tmp_path / "c", progress=False)
    assert len(list((tmp_path / "c" / "text").rglob("*.npy"))) == 2  # unique sentences

    def boom(folder):
        raise AssertionError("encoder loaded although every text is cached")

    monkeypatch.setattr(T, "load_text_encoder", boom)
    again = T.encode_texts(texts, encoder=str(tiny_bert), cache_dir=tmp_path / "c", progress=False)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    # another max_tokens is another cache entry
    with pytest.raises(AssertionError, match="encoder loaded"):
        T.encode_texts(texts, encoder=str(tiny_bert), max_tokens=3, cache_dir=tmp_path / "c", progress=False)


def test_missing_transcript_raises_unless_fallback(tiny_bert):
    with pytest.raises(ConfigError, match="'u2' has no transcript.*ctc"):
        T.encode_texts(["dogs", "  "], encoder=str(tiny_bert), ids=["u1", "u2"], cache_dir="", progress=False)
    out = T.encode_texts(["dogs", None], encoder=str(tiny_bert), fallback=[None, "kids"], cache_dir="",
                         progress=False)
    assert out[1].shape[0] == 3


def test_hub_name_without_local_files_raises(tmp_path):
    with pytest.raises(ModelNotFoundError, match="save_pretrained"):
        T.encode_texts(["hello"], encoder="roberta-base", cache_dir="", progress=False)
    with pytest.raises(ModelNotFoundError, match="without config.json"):
        T.resolve_encoder(str(tmp_path))


def test_transcript_sources():
    assert T.parse_transcripts("manifest") == ("manifest", None)
    assert T.parse_transcripts("ctc:runs/w2v2/fold_1/model.pt") == ("ctc", "runs/w2v2/fold_1/model.pt")
    with pytest.raises(ConfigError, match="manifest"):
        T.parse_transcripts("whisper")
    utts = [SimpleNamespace(text="dogs", id="a")]
    assert T.transcripts_for(utts, "ctc:/nonexistent.pt") == (["dogs"], [None])  # CTC only where needed


def test_ctc_fallback_from_a_tiny_w2v2_ctc_checkpoint(tmp_path, assets, tiny_bert):
    """transcripts: ctc:<checkpoint> decodes the multitask model's CTC head where the manifest has no text."""
    from dataclasses import asdict

    from serkit.data.manifest import read_jsonl
    from serkit.data.vocab import CharVocab
    from serkit.models.checkpoint import Checkpoint
    from serkit.models.w2v2_ctc import build_w2v2_ctc, tiny_config
    from serkit.train.transcripts import ctc_transcripts

    vocab = CharVocab.from_texts(["kids are talking by the door"])
    mcfg = tiny_config()
    model = build_w2v2_ctc(mcfg, num_classes=2, vocab_size=len(vocab))
    ck = Checkpoint(config={"model": asdict(mcfg), "features": {"name": "raw"}}, state_dict=model.state_dict(),
                    label_names=["angry", "sad"], input_dim=1, vocab=vocab.to_dict()).save(tmp_path / "ctc.pt")
    utts = read_jsonl(assets / "manifest.jsonl")[:2]
    hyp = ctc_transcripts(utts, ck, progress=False)
    assert len(hyp) == 2 and all(isinstance(h, str) and set(h) <= set(vocab.chars) for h in hyp)
    # the fallback is used only where the manifest has no transcript
    no_text = [utts[0].__class__(**{**utts[0].to_dict(), "text": None}), utts[1]]
    texts, fallback = T.transcripts_for(no_text, f"ctc:{ck}", transcribe=ctc_transcripts, progress=False)
    assert texts[0] is None and fallback[0] == hyp[0] and fallback[1] is None
    with pytest.raises(ConfigError, match="CTC transcriber"):
        T.transcripts_for(no_text, f"ctc:{ck}")
    ck2 = Checkpoint(config={"model": asdict(mcfg)}, state_dict={}, label_names=["a"],
                     input_dim=1).save(tmp_path / "no_ctc.pt")
    with pytest.raises(ConfigError, match="no character vocabulary"):
        ctc_transcripts(utts, ck2, progress=False)
    with pytest.raises(ModelNotFoundError, match="CTC checkpoint not found"):
        ctc_transcripts(utts, tmp_path / "missing.pt", progress=False)


def test_text_features_for_model_settings(tiny_bert):
    utts = [SimpleNamespace(text="kids are talking", id="a"), SimpleNamespace(text="dogs", id="b")]
    feats = T.text_features_for(utts, encoder=str(tiny_bert), transcripts="manifest", max_tokens=4,
                                cache_dir="", progress=False)
    assert [f.shape[0] for f in feats] == [4, 3]
