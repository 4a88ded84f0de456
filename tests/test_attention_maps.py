"""``serkit plot attention``: maps of one file from a ks_transformer checkpoint, and the PNG."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.cli.plot_attention import attention_for_file, main
from serkit.errors import ConfigError
from serkit.models.ks_transformer import KsTransformer, tiny_config
from serkit.viz.attention_maps import plot_attention

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "der", "lappen", "liegt", "auf", "dem", "eisschrank", "."]


@pytest.fixture
def bert(tmp_path):
    """A random 1-layer BERT (hidden 16) with a word vocabulary, saved as a local folder."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    enc = tmp_path / "bert"
    enc.mkdir()
    (enc / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    BertTokenizerFast(vocab_file=str(enc / "vocab.txt")).save_pretrained(enc)
    BertModel(BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32)).save_pretrained(enc)
    return enc


@pytest.fixture
def checkpoint(tmp_path, bert):
    enc = bert
    mcfg = tiny_config(text_encoder=str(enc), text_dim=16, k=0.5, frame_stack=2)
    model = KsTransformer(mcfg, input_dim=16, num_classes=2)
    ck = {"config": {"model": asdict(mcfg), "features": {"name": "logmel", "n_mels": 16, "speaker_norm": True},
                     "data": {}, "train": {}, "eval": {}},
          "state_dict": model.state_dict(), "label_names": ["angry", "sad"], "serkit_version": "0.1.0", "input_dim": 16}
    p = tmp_path / "model.pt"
    torch.save(ck, p)
    return p


def test_attention_for_file_and_plot(checkpoint, assets, tmp_path):
    wav = assets / "03a02Ta.wav"
    r = attention_for_file(checkpoint, wav, text="Der Lappen liegt auf dem Eisschrank.",
                           speaker_files=[str(assets / "03a02Wc.wav")])
    t = r["features"].shape[0]
    assert r["audio_importance"].shape == (t,) and r["audio_kept"].shape == (t,)
    assert r["tokens"][0] == "[CLS]" and len(r["tokens"]) == len(r["text_importance"]) == 9
    assert r["label"] in ("angry", "sad") and r["norm"].startswith("per speaker")
    assert 0 < (r["text_kept"] > 0).sum() < 9  # key-sparse: some tokens dropped by every head
    out = tmp_path / "map.png"
    assert main([str(checkpoint), "--file", str(wav), "--text", "Der Lappen liegt auf dem Eisschrank.",
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 5000
    with pytest.raises(ConfigError, match="--text"):
        attention_for_file(checkpoint, wav)


def test_plot_attention_checks_lengths(tmp_path):
    p = plot_attention(tmp_path / "a.png", audio_importance=np.random.rand(50), audio_kept=np.ones(50))
    assert p.is_file()
    with pytest.raises(ValueError, match="same length"):
        plot_attention(tmp_path / "b.png", tokens=["a", "b"], text_importance=np.ones(3), text_kept=np.ones(3))
    with pytest.raises(ValueError, match="needs"):
        plot_attention(tmp_path / "c.png")


def test_recipe_smoke_run_then_plot_attention_from_run_dir(tmp_path, assets, bert):
    """serkit evaluate on the 4 asset clips (2 speakers, LOSO), then serkit plot attention RUN_DIR."""
    import yaml

    from serkit.cli.main import main as serkit

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/chen2022/emodb_both.yaml").read_text())
    cfg["data"] = {"corpus": "manifest", "manifest": str(assets / "manifest.jsonl")}
    cfg["model"].update(text_encoder=str(bert), text_dim=16, d_model=16, num_heads=2, ffn_dim=16, audio_layers=1,
                        text_layers=1, interaction_blocks=1, fusion_layers=1)
    cfg["train"].update(epochs=1, batch_size=2, valid_fraction=0.0)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    assert serkit(["evaluate", str(recipe), "--out", str(run), "--no-progress"]) == 0
    assert serkit(["plot", "attention", str(run), "--utterance", "emodb_08a01Wa"]) == 0
    assert (run / "emodb_08a01Wa.attention.png").stat().st_size > 5000
    assert serkit(["plot", "attention", str(run)]) == 1  # a run folder needs --utterance
