"""Cai et al. 2021 multitask model: shapes, freezing, parameter groups, CTC overfit, loss weighting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.config import load_dict
from serkit.data.dataset import Batch
from serkit.data.vocab import CharVocab
from serkit.errors import ConfigError, ModelNotFoundError, UnknownKeyError
from serkit.experiment import recipe_from_dict
from serkit.models.w2v2_ctc import W2v2Ctc, W2v2CtcConfig, build_w2v2_ctc, tiny_config, transcribe
from serkit.testing import pseudo_wave
from serkit.train.losses import compute_losses, task_weights

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "cai2021"


def _batch(waves, texts=None, labels=None, vocab=None):
    lengths = torch.tensor([len(w) for w in waves])
    x = torch.zeros(len(waves), int(lengths.max()))
    for i, w in enumerate(waves):
        x[i, : len(w)] = torch.from_numpy(w)
    tokens = token_lengths = None
    if texts is not None:
        enc = [vocab.encode(t) for t in texts]
        token_lengths = torch.tensor([len(e) for e in enc])
        tokens = torch.zeros(len(enc), int(token_lengths.max()), dtype=torch.long)
        for i, e in enumerate(enc):
            tokens[i, : len(e)] = torch.from_numpy(e)
    label = torch.tensor(labels) if labels is not None else None
    return Batch(inputs=x, lengths=lengths, ids=[str(i) for i in range(len(waves))],
                 speakers=["s"] * len(waves), label=label, tokens=tokens, token_lengths=token_lengths)


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory):
    import transformers as tf

    folder = tmp_path_factory.mktemp("hf") / "tiny-wav2vec2"
    cfg = tf.Wav2Vec2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                            conv_dim=(16, 16), conv_kernel=(10, 4), conv_stride=(5, 4), conv_bias=True,
                            feat_extract_norm="layer", num_conv_pos_embeddings=8,
                            num_conv_pos_embedding_groups=2, mask_time_prob=0.0)
    tf.Wav2Vec2Model(cfg).save_pretrained(folder)
    return folder


def test_output_contract_and_no_ctc_head_without_vocab():
    m = build_w2v2_ctc(tiny_config(), input_dim=1, num_classes=3, vocab_size=7)
    out = m(torch.randn(2, 4000), torch.tensor([4000, 2500]))
    logits, lens = out.aux["ctc"]
    assert out.logits.shape == (2, 3) and out.embedding.shape == (2, 16)
    assert logits.shape[0] == 2 and logits.shape[2] == 7 and lens.dtype == torch.long
    assert int(lens[0]) == logits.shape[1] and int(lens[1]) < int(lens[0])
    m0 = build_w2v2_ctc(tiny_config(), input_dim=1, num_classes=3, vocab_size=None)
    out0 = m0(torch.randn(1, 4000), torch.tensor([4000]))
    assert "ctc" not in out0.aux
    with pytest.raises(ConfigError, match="no CTC head"):
        transcribe(out0, CharVocab(["a"]))
    with pytest.raises(ValueError, match="raw waves"):
        m(torch.randn(2, 10, 4), torch.tensor([10, 10]))


def test_padding_does_not_change_predictions():
    m = build_w2v2_ctc(tiny_config(), num_classes=3, vocab_size=5).eval()
    a, b = pseudo_wave(0.4, seed=1), pseudo_wave(0.25, seed=2)
    batch = _batch([a, b])
    with torch.no_grad():
        both = m(batch.inputs, batch.lengths)
        alone = m(torch.from_numpy(b)[None], torch.tensor([len(b)]))
    torch.testing.assert_close(both.logits[1], alone.logits[0], atol=1e-4, rtol=1e-4)
    n = int(alone.aux["ctc"][1][0])
    torch.testing.assert_close(both.aux["ctc"][0][1, :n], alone.aux["ctc"][0][0], atol=1e-4, rtol=1e-4)


def test_frozen_mode_trains_only_heads_and_layer_weights(tiny_hf):
    cfg = W2v2CtcConfig(encoder="pretrained", encoder_path=str(tiny_hf), mode="frozen")
    m = build_w2v2_ctc(cfg, num_classes=2, vocab_size=5)
    assert m.layer_sum is not None and m.layer_sum.weights.numel() == 3
    m.train()
    assert not m.encoder.training  # a frozen encoder keeps dropout / masking off
    v = CharVocab(["a", "b", "c", "d"])
    batch = _batch([pseudo_wave(0.3, seed=0), pseudo_wave(0.2, seed=1)], ["ab", "cd"], [0, 1], v)
    loss = compute_losses(m(batch.inputs, batch.lengths), batch, task_weights({"ctc": 0.5}))["total"]
    loss.backward()
    with_grad = {n for n, p in m.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert with_grad == {"layer_sum.weights", "ctc_head.weight", "ctc_head.bias",
                         "emotion_head.weight", "emotion_head.bias"}
    assert all(not p.requires_grad for p in m.encoder.parameters())
    assert [g["name"] for g in m.param_groups(1e-3)] == ["heads"]


def test_finetune_freezes_only_the_conv_feature_encoder_and_has_its_own_lr(tiny_hf):
    cfg = W2v2CtcConfig(encoder="pretrained", encoder_path=str(tiny_hf), mode="finetune", encoder_lr=5e-5)
    m = build_w2v2_ctc(cfg, num_classes=2, vocab_size=5)
    assert m.layer_sum is None  # z = last layer, as in the paper
    out = m(torch.randn(2, 3000), torch.tensor([3000, 2000]))
    (out.logits.sum() + out.aux["ctc"][0].sum()).backward()
    enc = m.encoder.model
    assert all(p.grad is None and not p.requires_grad for p in enc.feature_extractor.parameters())
    assert all(p.grad is not None for p in enc.encoder.parameters() if p.requires_grad)
    groups = {g["name"]: g for g in m.param_groups(1e-3)}
    assert groups["encoder"]["lr"] == 5e-5 and groups["heads"]["lr"] == 1e-3
    n_enc = sum(p.numel() for p in groups["encoder"]["params"])
    assert n_enc == sum(p.numel() for p in enc.parameters() if p.requires_grad) > 0
    # the engine's optimizer builder uses param_groups when the model has it
    from serkit.train.loop import _optimizer

    opt = _optimizer(m, recipe_from_dict({"model": {"name": "w2v2_ctc"}, "train": {"lr": 1e-3}}).train)
    assert sorted(g["lr"] for g in opt.param_groups) == [5e-5, 1e-3]


def test_scratch_encoder_trains_everything():
    m = build_w2v2_ctc(tiny_config(), num_classes=2, vocab_size=4)
    out = m(torch.randn(2, 3000), torch.tensor([3000, 3000]))
    (out.logits.sum() + out.aux["ctc"][0].sum()).backward()
    missing = [n for n, p in m.named_parameters() if p.grad is None]
    assert missing == [], missing


def test_missing_or_hub_encoder_paths_raise():
    with pytest.raises(ModelNotFoundError, match="huggingface-cli download"):
        build_w2v2_ctc(W2v2CtcConfig(encoder="pretrained", encoder_path="facebook/wav2vec2-base"), num_classes=2)
    with pytest.raises(ConfigError, match="encoder_path"):
        build_w2v2_ctc(W2v2CtcConfig(encoder="pretrained"), num_classes=2)
    with pytest.raises(UnknownKeyError, match="scratch"):
        build_w2v2_ctc(W2v2CtcConfig(encoder="w2v"), num_classes=2)
    with pytest.raises(UnknownKeyError, match="frozen"):
        build_w2v2_ctc(replace(tiny_config(), mode="freeze"), num_classes=2)


# Each character is a tone of its own pitch, so the CTC alignment is learnable in a few seconds.
_F0 = {"a": 120.0, "b": 260.0, "c": 500.0}


def _spoken(text: str, seed: int) -> np.ndarray:
    gap = np.zeros(800, np.float32)
    parts = [gap]
    for i, c in enumerate(text):
        parts += [pseudo_wave(0.2, seed=10 * seed + i, f0=_F0[c]), gap]
    return np.concatenate(parts)


def _overfit(texts: list[str], steps: int):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    vocab = CharVocab.from_texts(texts)
    waves = [_spoken(t, i) for i, t in enumerate(texts)]
    batch = _batch(waves, texts, list(range(len(texts))), vocab)
    m = build_w2v2_ctc(tiny_config(), num_classes=len(texts), vocab_size=len(vocab))
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    w = task_weights({"emotion": 1.0, "ctc": 1.0})
    hyps: list[str] = []
    for step in range(steps):
        m.train()
        loss = compute_losses(m(batch.inputs, batch.lengths), batch, w)["total"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        if step % 10 == 9:
            m.eval()
            with torch.no_grad():
                out = m(batch.inputs, batch.lengths)
            hyps = transcribe(out, vocab.to_dict())
            if hyps == texts and (out.logits.argmax(-1) == batch.label).all():
                break
    return m.eval(), vocab, waves, hyps, step


@pytest.fixture(scope="module")
def overfit_two():
    return _overfit(["ab", "ca"], steps=300)


def test_tiny_model_overfits_and_decodes_its_transcripts(overfit_two):
    _, _, _, hyps, step = overfit_two
    assert hyps == ["ab", "ca"], f"decoded {hyps} after {step + 1} steps"


def test_predict_transcribe_from_a_checkpoint(overfit_two, tmp_path, capsys):
    from serkit.cli.main import main
    from serkit.inference import Predictor
    from serkit.models.checkpoint import Checkpoint
    from serkit.vad import SegmentConfig

    m, vocab, waves, _, _ = overfit_two
    cfg = recipe_from_dict({"features": {"name": "raw"}, "model": {"name": "w2v2_ctc", **tiny_config().__dict__}})
    ck = Checkpoint(config=cfg.to_dict(), state_dict=m.state_dict(), label_names=["x", "y"], input_dim=1,
                    vocab=vocab.to_dict()).save(tmp_path / "run" / "checkpoint.pt")
    pred = Predictor.from_checkpoint(ck, segment=SegmentConfig(vad=False, max_window=5.0), transcribe=True)
    r = pred.predict_signal(waves[0])
    assert r["text"] == "ab" and r["segments"][0]["text"] == "ab" and r["label"] == "x"
    import soundfile as sf

    sf.write(tmp_path / "ca.wav", waves[1], 16000, subtype="FLOAT")
    assert main(["predict", str(tmp_path / "ca.wav"), "--model", str(tmp_path / "run"), "--transcribe",
                 "--no-vad", "--format", "json"]) == 0
    assert '"text": "ca"' in capsys.readouterr().out
    # a model without a CTC head refuses --transcribe with the reason
    Checkpoint(config=cfg.to_dict(), state_dict=build_w2v2_ctc(tiny_config(), num_classes=2).state_dict(),
               label_names=["x", "y"], input_dim=1).save(tmp_path / "noctc.pt")
    with pytest.raises(ConfigError, match="CTC head"):
        Predictor.from_checkpoint(tmp_path / "noctc.pt", transcribe=True)


@pytest.mark.slow
def test_tiny_model_overfits_four_utterances():
    hyps = _overfit(["ab", "ba", "cab", "bc"], steps=600)[3]
    assert hyps == ["ab", "ba", "cab", "bc"]


def test_loss_weighting_matches_each_recipe():
    """The engine's composition equals the formula each Cai 2021 recipe says it uses."""
    torch.manual_seed(0)
    v = CharVocab(["a", "b"])
    m = build_w2v2_ctc(tiny_config(), num_classes=2, vocab_size=len(v))
    batch = _batch([pseudo_wave(0.3, seed=0), pseudo_wave(0.3, seed=1)], ["ab", "ba"], [0, 1], v)
    out = m(batch.inputs, batch.lengths)
    recipes = sorted(CONFIGS.glob("*.yaml"))
    assert len(recipes) >= 3
    for path in recipes:
        cfg = recipe_from_dict(load_dict(path))
        alpha = cfg.train.loss_weights["ctc"]
        assert alpha > 0, path
        losses = compute_losses(out, batch, task_weights(cfg.train.loss_weights, cfg.train.ctc_weighting))
        ce, ctc = losses["emotion"], losses["ctc"]
        expect = ce + alpha * ctc if cfg.train.ctc_weighting == "ce_plus_alpha_ctc" else ctc + alpha * ce
        torch.testing.assert_close(losses["total"], expect)
        text = path.read_text()
        formula = "L_CE + alpha L_CTC" if cfg.train.ctc_weighting == "ce_plus_alpha_ctc" else "L_CTC + alpha L_CE"
        assert formula in text, f"{path.name} must say it uses {formula}"
    # alpha = 0 is single-task emotion training in both orders
    for mode in ("ce_plus_alpha_ctc", "ctc_plus_alpha_ce"):
        w = task_weights({"ctc": 0.0}, mode)
        torch.testing.assert_close(compute_losses(out, batch, w)["total"], compute_losses(out, batch, w)["emotion"])


def test_recipes_parse_and_build_or_explain(tiny_hf):
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = recipe_from_dict(load_dict(path))
        mcfg = cfg.model
        assert mcfg.name == "w2v2_ctc"
        assert cfg.features.name == ("cpc" if mcfg.encoder == "cpc" else "raw")
        if mcfg.encoder == "scratch":
            assert isinstance(build_w2v2_ctc(mcfg, num_classes=7, vocab_size=30), W2v2Ctc)
        elif mcfg.encoder == "pretrained":  # the user's folder: build with a tiny stand-in
            m = build_w2v2_ctc(replace(mcfg, encoder_path=str(tiny_hf)), num_classes=4, vocab_size=30)
            assert m.param_groups(cfg.train.lr)[0]["lr"] == mcfg.encoder_lr
        else:
            assert mcfg.encoder == "cpc" and cfg.features.name == "cpc" and cfg.features.layer == 0
            assert cfg.features.encoder == mcfg.encoder_path


def test_cpc_finetune_trains_gru_not_convolutions(tmp_path):
    cpc = pytest.importorskip("serkit.features.cpc")
    from serkit.train.cpc import save_cpc

    path = save_cpc(tmp_path / "cpc.pt", cpc.CpcModel(cpc.tiny_cpc_config()))
    m = build_w2v2_ctc(W2v2CtcConfig(encoder="cpc", encoder_path=str(path), encoder_lr=1e-4),
                       num_classes=3, vocab_size=5)
    z = torch.randn(2, 40, 8)  # cached conv frames (B, T, C)
    out = m(z, torch.tensor([40, 25]))
    (out.logits.sum() + out.aux["ctc"][0].sum()).backward()
    gru = m.encoder.model.cpc.gru
    assert all(p.grad is not None for p in gru.parameters())
    assert all(not p.requires_grad for p in m.encoder.model.cpc.encoder.parameters())
    assert {g["name"]: g["lr"] for g in m.param_groups(1e-3)} == {"encoder": 1e-4, "heads": 1e-3}


def test_ssl_model_flag_points_recipes_at_a_local_folder(tiny_hf):
    from serkit.cli.common import load_recipe

    cfg = load_recipe(str(CONFIGS / "emodb_scratch_w2v2.yaml"), ["train.epochs=1"], str(tiny_hf))
    mcfg = cfg.model
    assert (mcfg.encoder, mcfg.encoder_path, cfg.train.epochs) == ("pretrained", str(tiny_hf), 1)
    assert build_w2v2_ctc(mcfg, num_classes=7, vocab_size=30).encoder.kind == "wav2vec2"
    base = Path(__file__).resolve().parents[1] / "configs" / "baseline" / "emodb_egemaps_svm.yaml"
    with pytest.raises(ConfigError, match="uses no SSL encoder"):
        load_recipe(str(base), [], str(tiny_hf))
