"""CPC + self-attention + CCC recogniser (Li et al. 2021): CCC loss and metric, model contract, fits."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from serkit.config import load_dict
from serkit.errors import ConfigError
from serkit.eval.metrics import concordance_cc
from serkit.features.cpc import CpcModel, tiny_cpc_config
from serkit.models import MODELS, model_config_from_dict
from serkit.models.cpc_ccc import CpcCcc, CpcCccConfig, build_cpc_ccc, masked_mean_std, tiny_config
from serkit.testing import pseudo_wave
from serkit.train.cpc import save_cpc
from serkit.train.losses import ccc_loss
from serkit.train.losses import concordance_cc as concordance_cc_torch

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "li2021"



def test_ccc_metric_and_loss_hand_computed():
    # x = [1, 2, 4], y = [1, 2, 3]: means 7/3 and 2, variances 14/9 and 2/3, covariance 1
    # CCC = 2 * 1 / (14/9 + 2/3 + 1/9) = 6/7
    assert concordance_cc([1, 2, 4], [1, 2, 3]) == pytest.approx(6 / 7)
    assert concordance_cc([-1, 0, 1], [1, 0, -1]) == pytest.approx(-1.0)
    target = torch.tensor([[1.0, 5.0, -1.0], [2.0, 6.0, 0.0], [4.0, 7.0, 1.0]])
    pred = torch.tensor([[1.0, 5.0, 1.0], [2.0, 6.0, 0.0], [3.0, 7.0, -1.0]])
    torch.testing.assert_close(concordance_cc_torch(pred, target), torch.tensor([6 / 7, 1.0, -1.0]))
    # L = 1 - 0.5 * 6/7 - 0.3 * 1 - 0.2 * (-1)
    assert float(ccc_loss(pred, target, (0.5, 0.3, 0.2))) == pytest.approx(1 - 3 / 7 - 0.3 + 0.2, abs=1e-6)
    # NaN rows (missing labels) are ignored
    t2 = torch.cat([target, torch.full((1, 3), float("nan"))])
    p2 = torch.cat([pred, torch.zeros(1, 3)])
    assert float(ccc_loss(p2, t2, (0.5, 0.3, 0.2))) == pytest.approx(float(ccc_loss(pred, target, (0.5, 0.3, 0.2))))
    # weights are normalised to sum 1 (engine convention): (5, 3, 2) == (0.5, 0.3, 0.2)
    assert float(ccc_loss(pred, target, (5, 3, 2))) == pytest.approx(1 - 3 / 7 - 0.3 + 0.2, abs=1e-6)
    assert float(ccc_loss(pred[:1], target[:1])) == 0.0  # a single labelled row carries no CCC signal


def _feats(B=3, T=12, F=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, F, generator=g), torch.tensor([T, T - 4, 5])


def test_forward_shapes_registry_and_backward():
    assert "cpc_ccc" in MODELS
    cfg = model_config_from_dict({"name": "cpc_ccc", "d_model": 16, "heads": 2, "fc_dim": 16, "tasks": ["emotion", "avd"]})
    m = build_cpc_ccc(cfg, input_dim=10, num_classes=4)
    x, n = _feats()
    out = m(x, n)
    assert out.logits.shape == (3, 4) and out.avd.shape == (3, 3) and out.embedding.shape == (3, 16)
    assert out.attn.shape == (3, 12, 12)
    (out.logits.sum() + ccc_loss(out.avd, torch.randn(3, 3))).backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    only_emotion = build_cpc_ccc(replace(cfg, tasks=("emotion",)), input_dim=10, num_classes=4)
    assert only_emotion(x, n).avd is None
    only_avd = build_cpc_ccc(replace(cfg, tasks=("avd",)), input_dim=10, num_classes=0)
    assert only_avd(x, n).logits is None
    with pytest.raises(ConfigError, match="tasks"):
        build_cpc_ccc(replace(cfg, tasks=("gender",)), input_dim=10, num_classes=4)
    with pytest.raises(ConfigError, match="no output head"):
        build_cpc_ccc(replace(cfg, tasks=("emotion",)), input_dim=10, num_classes=0)
    with pytest.raises(ValueError, match=r"\(B, T, F\)"):
        m(torch.randn(3, 100), n)


def test_paper_defaults():
    m = CpcCcc(CpcCccConfig(), input_dim=256, num_classes=7).eval()
    assert m.attn.embed_dim == 512 and m.attn.num_heads == 8
    lin = [x for x in m.fc if isinstance(x, torch.nn.Linear)]
    drop = [x for x in m.fc if isinstance(x, torch.nn.Dropout)]
    assert [x.out_features for x in lin] == [128, 128] and all(d.p == 0.2 for d in drop)


@pytest.mark.parametrize(("stride", "norm"), [(1, False), (4, False), (1, True)])
def test_padding_invariance_and_masked_pooling(stride, norm):
    m = CpcCcc(replace(tiny_config(), frame_stride=stride, input_norm=norm), input_dim=10, num_classes=4)
    if norm:  # a training step fills the running statistics from valid frames only
        x0, n0 = _feats(seed=1)
        m.train()(x0, n0)
        assert m.input_norm.running_mean.abs().sum() > 0
    m.eval()
    x, n = _feats()
    with torch.no_grad():
        batch = m(x, n)
        for i in range(3):
            one = m(x[i: i + 1, : int(n[i])], n[i: i + 1])
            torch.testing.assert_close(batch.logits[i], one.logits[0], atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(batch.avd[i], one.avd[0], atol=1e-5, rtol=1e-4)
    # masking matters: pooling over padding gives different statistics
    pooled = masked_mean_std(x, n)
    full = masked_mean_std(x, torch.full((3,), 12))
    assert pooled.shape == (3, 20) and not torch.allclose(pooled[1], full[1])
    torch.testing.assert_close(pooled[0], full[0])


def test_masked_average_frames():
    from serkit.models.cpc_ccc import masked_average_frames

    x = torch.arange(10.0).view(1, 10, 1).repeat(2, 1, 1)  # (2, 10, 1)
    y, n = masked_average_frames(x, torch.tensor([10, 5]), 4)
    assert n.tolist() == [3, 2]
    torch.testing.assert_close(y[0, :, 0], torch.tensor([1.5, 5.5, 8.5]))
    torch.testing.assert_close(y[1, :2, 0], torch.tensor([1.5, 4.0]))  # second window holds frame 4 only


def test_end_to_end_encoder_on_raw_waves(tmp_path):
    torch.manual_seed(0)
    ck = save_cpc(tmp_path / "cpc.pt", CpcModel(tiny_cpc_config()))
    cfg = replace(tiny_config(), encoder=str(ck))
    m = build_cpc_ccc(cfg, input_dim=1, num_classes=3)
    w = torch.from_numpy(np.stack([pseudo_wave(0.4, seed=s) for s in range(2)]))
    out = m(w, torch.tensor([6400, 4000]))
    assert out.logits.shape == (2, 3)
    out.logits.sum().backward()
    conv = m.encoder.encoder.convs[0].weight
    assert conv.grad is not None and conv.grad.abs().sum() > 0  # fine-tuned end to end
    assert all(p.grad is None for p in m.encoder.predictors.parameters())  # pretraining-only heads stay out
    frozen = build_cpc_ccc(replace(cfg, freeze_encoder=True), input_dim=1, num_classes=3)
    frozen(w, torch.tensor([6400, 4000])).logits.sum().backward()
    assert frozen.encoder.encoder.convs[0].weight.grad is None
    with pytest.raises(ValueError, match="waves"):
        m(torch.randn(2, 10, 16), torch.tensor([10, 10]))


def test_tiny_model_fits_synthetic_dimensional_fixture():
    # A/V/D are smooth functions of each utterance's frame statistics; CCC loss alone trains the head
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    B, T, F = 48, 10, 6
    x = torch.randn(B, T, F, generator=g) + torch.randn(B, 1, F, generator=g)
    n = torch.randint(5, T + 1, (B,), generator=g)
    mean = torch.stack([x[i, : int(n[i])].mean(0) for i in range(B)])  # (B, F)
    y = torch.stack([mean[:, 0] + 0.5 * mean[:, 1], mean[:, 2] - mean[:, 3], torch.tanh(mean[:, 4])], 1) * 2 + 3
    m = CpcCcc(replace(tiny_config(), tasks=("avd",)), input_dim=F, num_classes=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    for _ in range(150):
        loss = ccc_loss(m(x, n).avd, y, (1 / 3, 1 / 3, 1 / 3))
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        p = m(x, n).avd.numpy()
    cccs = [concordance_cc(y[:, d].numpy(), p[:, d]) for d in range(3)]
    assert min(cccs) > 0.9, cccs


@pytest.mark.parametrize("recipe", sorted(CONFIGS.glob("*.yaml")) or [None])
def test_recipes_parse_and_build(recipe):
    if recipe is None:
        pytest.fail("configs/li2021/ has no recipes")
    from serkit.experiment import recipe_from_dict

    cfg = recipe_from_dict(load_dict(recipe))
    mcfg = cfg.model
    assert isinstance(mcfg, CpcCccConfig)
    if mcfg.encoder is None:  # end-to-end recipes need a pretrained checkpoint on disk
        build_cpc_ccc(mcfg, input_dim=256 if cfg.features.name == "cpc" else cfg.features.n_mfcc, num_classes=7)


def _iemocap_fixture(root: Path) -> Path:
    """Two sessions x 2 dialogues x 4 utterances with synthetic audio whose pitch follows arousal."""
    rel = root / "IEMOCAP_full_release"
    emos = ["ang", "neu", "sad", "exc"]
    k = 0
    for s in (1, 2):
        ses = rel / f"Session{s}"
        for d, gender in enumerate("FM"):
            dialog = f"Ses0{s}{gender}_impro0{d + 1}"
            (ses / "dialog" / "EmoEvaluation").mkdir(parents=True, exist_ok=True)
            (ses / "dialog" / "transcriptions").mkdir(parents=True, exist_ok=True)
            wav_dir = ses / "sentences" / "wav" / dialog
            wav_dir.mkdir(parents=True, exist_ok=True)
            ev, tr = [], []
            for i in range(4):
                spk = "FM"[(i + d) % 2]
                utt = f"{dialog}_{spk}00{i}"
                a = 1.5 + 3.0 * ((i + s) % 4) / 3  # arousal 1.5 .. 4.5
                v, dom = 5.5 - a, 0.5 * a + 1
                sec = 0.6
                sf.write(wav_dir / f"{utt}.wav", pseudo_wave(sec, seed=k, f0=90 + 40 * a), 16000, subtype="PCM_16")
                ev.append(f"[{i:.4f} - {i + sec:.4f}]\t{utt}\t{emos[i]}\t[{v:.4f}, {a:.4f}, {dom:.4f}]")
                tr.append(f"{utt} [{i:.4f}-{i + sec:.4f}]: hello there")
                k += 1
            (ses / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(ev) + "\n")
            (ses / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(tr) + "\n")
    return rel


def test_iemocap_fixture_dimensional_labels(tmp_path):
    from serkit.data.corpora.iemocap import prepare_iemocap

    utts = prepare_iemocap(_iemocap_fixture(tmp_path), labels="4class_exc")
    assert len(utts) == 16 and {u.session for u in utts} == {"Ses01", "Ses02"}
    assert all(u.avd is not None and 1.0 <= u.avd[0] <= 5.0 for u in utts)


def test_iemocap_fixture_flows_to_ccc_in_report(tmp_path):
    pytest.importorskip("serkit.train.loop", reason="needs the training engine (serkit.train.loop)")
    from serkit.experiment import recipe_from_dict, run_experiment

    root = _iemocap_fixture(tmp_path)
    cfg = recipe_from_dict({
        "data": {"corpus": "iemocap", "root": str(root), "labels": "4class_exc"},
        "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "cpc_ccc", "d_model": 16, "heads": 2, "fc_dim": 16, "dropout": 0.0,
                  "tasks": ["emotion", "avd"]},
        "train": {"epochs": 2, "batch_size": 4, "lr": 3e-3, "valid_fraction": 0.0, "num_threads": 1,
                  "loss_weights": {"emotion": 1.0, "avd": 1.0}, "avd_weights": [0.4, 0.4, 0.2]},
        "eval": {"protocol": "loso_session"},
    })
    rep = run_experiment(cfg, out_dir=tmp_path / "run", progress=False)
    assert len(rep.folds) == 2
    for f in rep.folds:
        assert {"ccc_arousal", "ccc_valence", "ccc_dominance"} <= set(f.scores)
        assert all(np.isfinite(f.scores[k]) for k in ("ccc_arousal", "ccc_valence", "ccc_dominance"))
    table = rep.to_table()
    assert "CCC_AROUSAL" in table and "±" in table
    assert any(p.avd_pred is not None for p in rep.predictions)
    # the fold checkpoint serves predictions with A/V/D on the corpus scale
    from serkit.inference import Predictor

    ck = next((tmp_path / "run").rglob("checkpoint.pt"))
    pred = Predictor.from_checkpoint(ck)
    out = pred.predict_signal(pseudo_wave(1.0, seed=99, f0=200))
    assert {"label", "arousal", "valence", "dominance"} <= set(out)
    assert all(np.isfinite(out[k]) for k in ("arousal", "valence", "dominance"))


@pytest.mark.parametrize("mode", ["frozen_cpc", "end_to_end"])
def test_recipe_smoke_on_assets(tmp_path, assets, mode):
    """A CPC checkpoint -> frozen CPC features or end-to-end raw waves -> LOSO report on the 4 EmoDB clips."""
    from serkit.experiment import recipe_from_dict, run_experiment

    torch.manual_seed(0)
    ck = save_cpc(tmp_path / "cpc.pt", CpcModel(tiny_cpc_config()))
    model = {"name": "cpc_ccc", "d_model": 16, "heads": 2, "fc_dim": 16, "frame_stride": 2}
    if mode == "end_to_end":
        features, model["encoder"] = {"name": "raw"}, str(ck)
    else:
        features = {"name": "cpc", "encoder": str(ck)}
    cfg = recipe_from_dict({
        "data": {"corpus": "manifest", "manifest": str(assets / "manifest.jsonl")},
        "features": features, "model": model,
        "train": {"epochs": 1, "batch_size": 2, "valid_fraction": 0.0, "num_threads": 1},
        "eval": {"protocol": "loso"},
    })
    rep = run_experiment(cfg, out_dir=tmp_path / "run", progress=False)
    assert len(rep.folds) == 2 and all({"ua", "wa", "f1"} <= set(f.scores) for f in rep.folds)
    assert len(rep.predictions) == 4
    from serkit.inference import Predictor

    pred = Predictor.from_checkpoint(next((tmp_path / "run").rglob("checkpoint.pt")))
    assert pred.predict_signal(pseudo_wave(1.0, seed=99))["label"] in {"angry", "sad"}
