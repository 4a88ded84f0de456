"""``serkit plot attention``: maps of one file from a ks_transformer checkpoint, and the PNG."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.cli.plot_attention import main
from serkit.errors import ConfigError
from serkit.models.ks_transformer import KsTransformer, tiny_config
from serkit.runs import checkpoint_outputs
from serkit.viz.attention_maps import plot_attention


@pytest.fixture
def checkpoint(tmp_path, tiny_bert):
    enc = tiny_bert
    mcfg = tiny_config(text_encoder=str(enc), text_dim=16, k=0.5, frame_stack=2)
    model = KsTransformer(mcfg, input_dim=16, num_classes=2)
    ck = {"config": {"model": asdict(mcfg), "features": {"name": "logmel", "n_mels": 16, "speaker_norm": True},
                     "data": {}, "train": {}, "eval": {}},
          "state_dict": model.state_dict(), "label_names": ["angry", "sad"], "serkit_version": "0.1.0", "input_dim": 16}
    p = tmp_path / "model.pt"
    torch.save(ck, p)
    return p


def test_checkpoint_outputs_and_plot(checkpoint, assets, tmp_path):
    """serkit.runs.checkpoint_outputs gives the maps of one file; serkit plot attention draws them."""
    wav = assets / "03a02Ta.wav"
    text = "Der Lappen liegt auf dem Eisschrank."
    outs, ck = checkpoint_outputs(checkpoint, [wav], texts=[text], speaker_files=[assets / "03a02Wc.wav"])
    o = outs[0]
    t = o["inputs"].shape[0]
    a = o["attn"]
    assert int(a["audio_lengths"]) == t and a["audio_importance"].shape == (t,) and a["audio_kept"].shape == (t,)
    assert int(a["text_lengths"]) == 9 and a["text_importance"].shape == (9,)  # [CLS] 6 words . [SEP]
    assert 0 < (a["text_kept"] > 0).sum() < 9  # key-sparse: some tokens dropped by every head
    assert o["probs"].shape == (2,) and ck.label_names == ["angry", "sad"]
    # speaker statistics: the same file standardised with another recording of its speaker differs
    alone, _ = checkpoint_outputs(checkpoint, [wav], texts=[text])
    assert not np.allclose(alone[0]["inputs"], o["inputs"])
    out = tmp_path / "map.png"
    assert main([str(checkpoint), "--file", str(wav), "--text", text, "--out", str(out)]) == 0
    assert out.stat().st_size > 5000
    with pytest.raises(ConfigError, match="--text"):
        checkpoint_outputs(checkpoint, [wav])
    assert main([str(checkpoint), "--file", str(wav)]) == 1


def test_plot_attention_checks_lengths(tmp_path):
    p = plot_attention(tmp_path / "a.png", audio_importance=np.random.rand(50), audio_kept=np.ones(50))
    assert p.is_file()
    with pytest.raises(ValueError, match="same length"):
        plot_attention(tmp_path / "b.png", tokens=["a", "b"], text_importance=np.ones(3), text_kept=np.ones(3))
    with pytest.raises(ValueError, match="needs"):
        plot_attention(tmp_path / "c.png")


def test_recipe_smoke_run_then_plot_attention_from_run_dir(tmp_path, assets, tiny_bert):
    """serkit evaluate on the 4 asset clips (2 speakers, LOSO), then serkit plot attention RUN_DIR."""
    import yaml

    from serkit.cli.main import main as serkit

    cfg = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs/chen2022/emodb_both.yaml").read_text())
    cfg["data"] = {"corpus": "manifest", "manifest": str(assets / "manifest.jsonl")}
    cfg["model"].update(text_encoder=str(tiny_bert), text_dim=16, d_model=16, num_heads=2, ffn_dim=16, audio_layers=1,
                        text_layers=1, interaction_blocks=1, fusion_layers=1)
    cfg["train"].update(epochs=1, batch_size=2, valid_fraction=0.0)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    assert serkit(["evaluate", str(recipe), "--out", str(run), "--no-progress"]) == 0
    assert serkit(["plot", "attention", str(run), "--utterance", "emodb_08a01Wa"]) == 0
    assert (run / "emodb_08a01Wa.attention.png").stat().st_size > 5000
    assert serkit(["plot", "attention", str(run)]) == 1  # a run folder needs --utterance
