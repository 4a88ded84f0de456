"""CPC encoder, InfoNCE, pretraining loop (checkpoints, resume, logs), CPC features and the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch

from serkit.cli.main import main
from serkit.config import FeatureConfig
from serkit.errors import CheckpointError, ConfigError, ModelNotFoundError
from serkit.features.cpc import (
    CpcConfig,
    CpcModel,
    conv_output_lengths,
    cpc_features,
    load_cpc,
    read_cpc_checkpoint,
    tiny_cpc_config,
)
from serkit.models.checkpoint import load_checkpoint
from serkit.testing import pseudo_wave
from serkit.train.cpc import (
    CpcTrainConfig,
    collect_sources,
    fixed_segment,
    info_nce,
    pretrain_cpc,
    sample_negative_indices,
    save_cpc,
)


def _write_waves(folder, n=6, seconds=0.7):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sf.write(folder / f"w{i}.wav", pseudo_wave(seconds, seed=i), 16000, subtype="PCM_16")
    return folder


def test_paper_architecture_frame_rate_and_dims():
    m = CpcModel(CpcConfig())
    convs = [c for c in m.encoder.convs if isinstance(c, torch.nn.Conv1d)]
    assert [c.kernel_size[0] for c in convs] == [10, 8, 8, 4]
    assert [c.stride[0] for c in convs] == [5, 4, 4, 2]
    assert all(c.out_channels == 128 for c in convs)
    assert m.gru.hidden_size == 256 and not m.gru.bidirectional
    assert len(m.predictors) == 12
    with torch.no_grad():
        z, c, n = m(torch.randn(1, 4000), torch.tensor([4000]))
    assert z.shape == (1, 25, 128) and c.shape == (1, 25, 256) and n.tolist() == [25]  # 10 ms frames
    assert conv_output_lengths(torch.tensor([160, 1600, 16000]), CpcConfig()).tolist() == [1, 10, 100]


def test_info_nce_random_features_near_log51():
    g = torch.Generator().manual_seed(0)
    z = 0.01 * torch.randn(4, 60, 32, generator=g)
    c = 0.01 * torch.randn(4, 60, 64, generator=g)
    preds = [torch.nn.Linear(64, 32) for _ in range(12)]
    loss, acc, count = info_nce(z, c, preds, torch.tensor([60, 60, 40, 30]), negatives=50, generator=g)
    assert abs(loss.item() - math.log(51)) < 0.02
    # valid predictions: sum over sequences and k of (len - k) for k <= 12 with t + k < len
    expected = sum(sum(L - k for k in range(1, 13)) for L in (60, 60, 40, 30))
    assert int(count) == expected
    assert 0.0 <= float(acc) < 0.1


def test_info_nce_fresh_paper_model_near_log51():
    torch.manual_seed(0)
    m = CpcModel(CpcConfig())
    w = torch.from_numpy(np.stack([pseudo_wave(0.5, seed=s) for s in range(2)]))
    with torch.no_grad():
        z, c, n = m(w, torch.tensor([8000, 8000]))
    loss, _, _ = info_nce(z, c, m.predictors, n, negatives=50, generator=torch.Generator().manual_seed(0))
    assert abs(loss.item() - math.log(51)) < 0.1


def test_negatives_never_include_positive_and_cover_the_rest():
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([2, 5, 37])
    pos = torch.stack([torch.randint(0, int(L), (20, 4), generator=g) for L in lengths])  # (B, P, K)
    neg = sample_negative_indices(pos, lengths, 200, generator=g)
    assert neg.shape == (3, 20, 4, 200)
    assert not (neg == pos[..., None]).any()
    assert (neg >= 0).all() and (neg < lengths[:, None, None, None]).all()
    # with 2 frames the only negative is the other frame
    assert ((neg[0] + pos[0][..., None]) == 1).all()
    # every non-positive frame of the longest sequence is drawn at some point
    b, p, k = 2, 0, 0
    assert set(neg[b, p, k].tolist()) | set(neg[b, 1:, k].flatten().tolist()) >= set(range(37)) - {int(pos[b, p, k])}
    with pytest.raises(ValueError):
        sample_negative_indices(pos[:1], torch.tensor([1]), 5)


def test_info_nce_perfect_predictor_picks_positive():
    # z orthogonal frames and a predictor that reproduces z_{t+k} exactly from c_t: accuracy 1
    T, D = 20, 32
    z = torch.eye(D)[:T][None] * 10  # (1, T, D)
    c = torch.roll(z, shifts=-1, dims=1)  # c_t = z_{t+1}
    lin = torch.nn.Linear(D, D, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(D))
    loss, acc, _ = info_nce(z, c, [lin], torch.tensor([T]), negatives=10)
    assert acc.item() == 1.0 and loss.item() < 1e-3


def test_padding_invariance_and_masked_standardisation():
    torch.manual_seed(0)
    m = CpcModel(tiny_cpc_config()).eval()
    a = torch.from_numpy(pseudo_wave(0.5, seed=1))
    b = torch.from_numpy(pseudo_wave(0.3, seed=2))
    w = torch.zeros(2, len(a))
    w[0], w[1, : len(b)] = a, b
    with torch.no_grad():
        _, cb, nb = m(w, torch.tensor([len(a), len(b)]))
        _, c1, n1 = m(b[None], torch.tensor([len(b)]))
    assert int(nb[1]) == int(n1[0]) == len(b) // 160
    # frames away from the right edge are identical; the last one may see the conv padding differently
    torch.testing.assert_close(cb[1, : int(n1[0]) - 1], c1[0, : int(n1[0]) - 1], atol=1e-5, rtol=1e-4)


def test_fixed_segment_cut_and_repeat():
    rng = np.random.default_rng(0)
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fixed_segment(x, 25, rng), np.concatenate([x, x, x[:5]]))
    y = fixed_segment(np.arange(100, dtype=np.float32), 30, rng)
    assert len(y) == 30 and np.all(np.diff(y) == 1)


def test_checkpoint_roundtrip_cache_and_features(tmp_path):
    torch.manual_seed(0)
    m = CpcModel(tiny_cpc_config())
    p = save_cpc(tmp_path / "cpc.pt", m)
    m2 = load_cpc(p)
    assert load_cpc(tmp_path) is m2  # cached per path (folder resolves to cpc.pt)
    for a, b in zip(m.state_dict().values(), m2.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    sig = pseudo_wave(0.8, seed=3)
    f = cpc_features(sig, FeatureConfig(name="cpc", encoder=str(p)))
    assert f.shape == (80, 16) and f.dtype == np.float32
    assert cpc_features(sig, FeatureConfig(name="cpc", encoder=str(p), layer=0)).shape == (80, 8)
    with pytest.raises(ConfigError, match="features.encoder"):
        cpc_features(sig, FeatureConfig(name="cpc"))
    with pytest.raises(ConfigError, match="layer"):
        cpc_features(sig, FeatureConfig(name="cpc", encoder=str(p), layer=3))
    with pytest.raises(ModelNotFoundError, match="serkit pretrain cpc"):
        load_cpc(tmp_path / "missing.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a serkit CPC checkpoint"):
        read_cpc_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="pass the file itself"):  # two .pt files now: no guessing
        load_cpc(tmp_path)


def test_pretrain_logs_checkpoints_and_resume(tmp_path):
    wav = _write_waves(tmp_path / "wav")
    cfg = tiny_cpc_config()
    tr = CpcTrainConfig(epochs=1, batch_size=2, lr=3e-3, valid_fraction=0.0, save_every=0)
    out = tmp_path / "run"
    res = pretrain_cpc(collect_sources([wav]), out, cfg=cfg, train=tr, progress=False)
    assert res["steps"] == 3 and len(res["history"]) == 1 and res["checkpoint"] == str(out / "checkpoint.pt")
    h = res["history"][0]
    assert {"train_loss", "train_accuracy", "chance"} <= set(h) and h["chance"] == pytest.approx(1 / 6)
    assert (out / "epoch_001.pt").is_file() and (out / "history.json").is_file()
    assert len((out / "steps.jsonl").read_text().splitlines()) == 3
    with pytest.raises(ConfigError, match="--resume"):
        pretrain_cpc(collect_sources([wav]), out, cfg=cfg, train=tr, progress=False)
    res2 = pretrain_cpc(collect_sources([wav]), out, train=replace(tr, epochs=2), resume=True, progress=False)
    assert res2["steps"] == 6 and [r["epoch"] for r in res2["history"]] == [1, 2]
    ck = load_checkpoint(out / "last.pt")  # the one loader; the state --resume continues from
    assert ck.extra["epoch"] == 2 and ck.extra["step"] == 6 and ck.model_config == cfg
    # --resume without a state starts from scratch (logged), as serkit train --resume does
    res3 = pretrain_cpc(collect_sources([wav]), tmp_path / "new", cfg=cfg, train=tr, resume=True, progress=False)
    assert res3["steps"] == 3 and [r["epoch"] for r in res3["history"]] == [1]


def test_pretrain_init_starts_from_an_encoders_weights(tmp_path):
    """``--init`` (continue the shipped encoder on your own audio): a new run starts from the given
    encoder's weights and architecture with a fresh optimiser, and says so in config.json; a
    checkpoint that is not a CPC encoder is refused."""
    wav = _write_waves(tmp_path / "wav")
    src = CpcModel(tiny_cpc_config())
    save_cpc(tmp_path / "enc.pt", src)
    tr = CpcTrainConfig(epochs=1, max_steps=1, batch_size=2, lr=0.0, valid_fraction=0.0, save_every=0)
    out = tmp_path / "run"
    res = pretrain_cpc(collect_sources([wav]), out, cfg=CpcConfig(), train=tr, progress=False, init=tmp_path / "enc.pt")
    assert res["steps"] == 1
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck.model_config == tiny_cpc_config()  # the encoder's architecture, not cfg
    for k, v in src.state_dict().items():  # lr 0: the weights are the encoder's
        assert torch.equal(ck.state_dict[k], v), k
    assert json.loads((out / "config.json").read_text())["init"] == str(tmp_path / "enc.pt")
    with pytest.raises(ConfigError, match="not a CPC pretraining run"):
        pretrain_cpc(collect_sources([wav]), tmp_path / "bad", train=tr, progress=False,
                     init="bundled:default")


def test_pretrain_save_resume_load_is_exact_and_uses_the_one_checkpoint(tmp_path):
    """save -> resume -> load: a run stopped mid-epoch and resumed ends with the weights of an
    uninterrupted run; its folder loads through load_checkpoint / features.encoder by the one rule."""
    wav = _write_waves(tmp_path / "wav", n=8)
    cfg = tiny_cpc_config()
    tr = CpcTrainConfig(epochs=2, batch_size=2, lr=3e-3, valid_fraction=0.0, save_every=0)
    pretrain_cpc(collect_sources([wav]), tmp_path / "whole", cfg=cfg, train=tr, progress=False)
    part = tmp_path / "part"
    pretrain_cpc(collect_sources([wav]), part, cfg=cfg, train=replace(tr, max_steps=5), progress=False)
    assert load_checkpoint(part / "last.pt").extra["batch_in_epoch"] == 1  # stopped inside epoch 2
    res = pretrain_cpc(collect_sources([wav]), part, train=tr, resume=True, progress=False)
    assert res["steps"] == 8
    whole, resumed = load_checkpoint(tmp_path / "whole"), load_checkpoint(part)
    assert whole.extra["kind"] == "serkit-cpc" and whole.label_names == [] and whole.input_dim == 1
    assert "optimizer" not in whole.extra  # the encoder file holds no training state
    for k, v in whole.state_dict.items():
        torch.testing.assert_close(resumed.state_dict[k], v, rtol=0, atol=1e-6)
    m = whole.build_model()
    assert isinstance(m, CpcModel) and m.cfg == cfg
    sig = pseudo_wave(0.5, seed=9)
    a = cpc_features(sig, FeatureConfig(name="cpc", encoder=str(tmp_path / "whole")))  # folder -> checkpoint.pt
    with torch.no_grad():
        b, _ = m.representation(torch.from_numpy(sig)[None], torch.tensor([len(sig)]))
    np.testing.assert_allclose(a, b[0].numpy(), atol=1e-6)


def _legacy(ck_path, out_path):
    """Rewrite a checkpoint in the layout serkit pretrain cpc wrote before the typed checkpoint."""
    ck = load_checkpoint(ck_path)
    d = {"kind": "serkit-cpc", "config": dict(ck.config["model"]), "state_dict": ck.state_dict,
         "serkit_version": "0.1.0"}
    for k in ("optimizer", "epoch", "batch_in_epoch", "step", "train"):
        if k in ck.extra:
            d[k] = ck.extra[k]
    if "history" in ck.extra:
        d["history"], d["epoch_sums"] = json.dumps(ck.extra["history"]), json.dumps(ck.extra.get("epoch_sums"))
    torch.save(d, out_path)
    return d


def test_old_cpc_pt_files_load_and_resume(tmp_path):
    wav = _write_waves(tmp_path / "wav")
    cfg = tiny_cpc_config()
    tr = CpcTrainConfig(epochs=1, batch_size=2, valid_fraction=0.0, save_every=0)
    out = tmp_path / "run"
    pretrain_cpc(collect_sources([wav]), out, cfg=cfg, train=tr, progress=False)
    old = tmp_path / "old"
    old.mkdir()
    d = _legacy(out / "last.pt", old / "cpc.pt")
    # every reader accepts it: features, the typed loader, the private copy
    m = load_cpc(old / "cpc.pt")
    assert m.cfg == cfg
    ck = load_checkpoint(old / "cpc.pt")
    assert ck.model_config == cfg and ck.extra["step"] == 3 and isinstance(ck.extra["history"], list)
    for k, v in d["state_dict"].items():
        torch.testing.assert_close(ck.state_dict[k], v)
    # and an old run folder resumes from its cpc.pt
    res = pretrain_cpc(collect_sources([wav]), old, train=replace(tr, epochs=2), resume=True, progress=False)
    assert res["steps"] == 6 and [r["epoch"] for r in res["history"]] == [1, 2]
    # an old folder with several .pt files: a clear error naming the fix
    torch.save(d, old / "epoch_001_old.pt")
    (old / "checkpoint.pt").unlink()
    (old / "last.pt").unlink()
    with pytest.raises(CheckpointError, match="pass the file itself"):
        load_cpc(old)


def test_recipe_may_not_name_the_encoder_as_its_model():
    from serkit.models import model_config_from_dict

    with pytest.raises(ConfigError, match="features.encoder"):
        model_config_from_dict({"name": "cpc"})


def test_pretrain_resume_mid_epoch_logs_whole_epoch(tmp_path):
    wav = _write_waves(tmp_path / "wav")
    tr = CpcTrainConfig(epochs=1, batch_size=2, valid_fraction=0.0, save_every=0)
    out = tmp_path / "run"
    res = pretrain_cpc(collect_sources([wav]), out, cfg=tiny_cpc_config(), train=replace(tr, max_steps=2),
                       progress=False)
    assert res["steps"] == 2 and res["history"][-1]["complete"] is False
    res = pretrain_cpc(collect_sources([wav]), out, train=tr, resume=True, progress=False)
    assert res["steps"] == 3 and len(res["history"]) == 1 and res["history"][0]["complete"]
    steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert res["history"][0]["train_loss"] == pytest.approx(np.mean([r["loss"] for r in steps]), abs=1e-4)


def test_info_nce_training_rises_above_chance():
    # a few Adam steps on a fixed batch: the positive is picked far more often than 1/(N+1)
    torch.manual_seed(0)
    cfg = tiny_cpc_config()
    m = CpcModel(cfg)
    w = torch.from_numpy(np.stack([pseudo_wave(0.5, seed=s) for s in range(4)]))
    lengths = torch.full((4,), w.shape[1])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    hist = []
    for _ in range(40):
        z, c, n = m(w, lengths)
        loss, acc, _ = info_nce(z, c, m.predictors, n, negatives=cfg.negatives, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hist.append((loss.item(), acc.item()))
    assert hist[0][0] == pytest.approx(math.log(cfg.negatives + 1), abs=0.05)
    assert hist[-1][0] < hist[0][0] - 0.3
    assert hist[-1][1] > 2 / (cfg.negatives + 1)


def test_collect_sources_errors(tmp_path):
    with pytest.raises(ConfigError, match="expected a folder"):
        collect_sources([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no audio found"):
        collect_sources([tmp_path / "empty"])


def test_cli_pretrain_cpc(tmp_path, capsys):
    wav = _write_waves(tmp_path / "wav", n=4, seconds=0.6)
    out = tmp_path / "run"
    rc = main(["pretrain", "cpc", "--audio", str(wav), "--out", str(out), "--epochs", "1", "--batch-size", "2",
               "--segment-seconds", "0.5", "--steps-ahead", "2", "--negatives", "4", "--channels", "8",
               "--hidden", "8", "--no-progress", "--valid-fraction", "0"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert res["steps"] == 2 and (out / "accuracy.png").is_file()
    assert load_checkpoint(out).model_config.negatives == 4 and res["checkpoint"] == str(out / "checkpoint.pt")
    assert json.loads((out / "config.json").read_text())["audio"] == [str(wav)]  # provenance


def test_extract_features_cpc_cached_and_invalidated_by_new_checkpoint(tmp_path):
    from serkit.features.extract import extract_features
    from serkit.testing import create_audio_files

    utts = create_audio_files(tmp_path / "wav", n=2, seconds=0.5)
    torch.manual_seed(0)
    p = save_cpc(tmp_path / "cpc.pt", CpcModel(tiny_cpc_config()))
    cfg = FeatureConfig(name="cpc", encoder=str(p))
    a, _ = extract_features(utts, cfg, cache_dir=tmp_path / "cache", progress=False)
    b, _ = extract_features(utts, cfg, cache_dir=tmp_path / "cache", progress=False)
    assert a[0].shape == (50, 16)
    np.testing.assert_array_equal(a[0], b[0])
    torch.manual_seed(1)
    save_cpc(p, CpcModel(tiny_cpc_config()))  # same path, new weights (e.g. pretraining went on)
    c, _ = extract_features(utts, cfg, cache_dir=tmp_path / "cache", progress=False)
    assert not np.allclose(a[0], c[0])

