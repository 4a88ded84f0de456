"""Training engine: losses, loss composition, early stopping data, checkpoints, exact resume."""

from __future__ import annotations

import math

import pytest
import torch

from serkit.data.dataset import Batch
from serkit.errors import ConfigError, UnknownKeyError
from serkit.experiment import recipe_from_dict
from serkit.models.base import ModelOutput
from serkit.models.checkpoint import Checkpoint, load_checkpoint, load_model
from serkit.train.loop import fit_predict, prepare, train_model
from serkit.train.losses import ccc_loss, compute_losses, concordance_cc, task_weights


def _cfg(**train):
    return recipe_from_dict({
        "data": {"corpus": "manifest"},
        "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "pooled_mlp", "hidden_dim": 16, "dropout": 0.1, "gender_head": True},
        "train": {"epochs": 4, "batch_size": 4, "lr": 0.01, "valid_fraction": 0.25, **train},
        "eval": {"protocol": "loso"},
    })


def test_ccc_hand_computed():
    x = torch.tensor([[-1.5], [-0.5], [0.5], [1.5]])  # zero mean, so CCC(x, -x) = -1 exactly
    assert concordance_cc(x, x).item() == pytest.approx(1.0, abs=1e-6)
    assert concordance_cc(x, -x).item() == pytest.approx(-1.0, abs=1e-6)
    # target = x + 1: cov 1.25, vars 1.25 each, mean diff 1 -> 2.5 / 3.5
    assert concordance_cc(x, x + 1).item() == pytest.approx(2.5 / 3.5, abs=1e-6)
    p = torch.cat([x, x, x], 1)
    t = torch.cat([x, -x, x + 1], 1)
    want = 1 - (0.5 * 1 + 0.25 * -1 + 0.25 * 2.5 / 3.5)
    assert ccc_loss(p, t, (0.5, 0.25, 0.25)).item() == pytest.approx(want, abs=1e-6)


def test_loss_weighting_modes():
    assert task_weights({"ctc": 0.1}) == {"emotion": 1.0, "ctc": 0.1}
    assert task_weights({"ctc": 0.1}, "ctc_plus_alpha_ce") == {"emotion": 0.1, "ctc": 1.0}
    with pytest.raises(UnknownKeyError, match="expected one of"):
        task_weights({"emotoin": 1.0})
    with pytest.raises(UnknownKeyError):
        task_weights({}, "both")


def test_compute_losses_weighted_sum():
    out = ModelOutput(logits=torch.randn(3, 4), aux={"gender": torch.randn(3, 2)})
    b = Batch(inputs=torch.zeros(3, 5, 2), lengths=torch.tensor([5, 5, 5]), ids=["a", "b", "c"],
              speakers=["s"] * 3, label=torch.tensor([0, 1, 2]), gender=torch.tensor([0, 1, -100]))
    ls = compute_losses(out, b, {"emotion": 1.0, "gender": 0.5})
    assert ls["total"].item() == pytest.approx(ls["emotion"].item() + 0.5 * ls["gender"].item(), rel=1e-6)
    with pytest.raises(ConfigError, match="no task"):
        compute_losses(ModelOutput(), b, {"emotion": 1.0})


def test_label_smoothing_of_the_emotion_loss():
    """``train.label_smoothing``: the emotion loss is torch's smoothed cross-entropy (0 = plain)."""
    z = torch.tensor([[4.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    b = Batch(inputs=torch.zeros(2, 5, 2), lengths=torch.tensor([5, 5]), ids=["a", "b"], speakers=["s"] * 2,
              label=torch.tensor([0, 1]))
    plain = compute_losses(ModelOutput(logits=z), b, {"emotion": 1.0}, {})["emotion"].item()
    smooth = compute_losses(ModelOutput(logits=z), b, {"emotion": 1.0}, {"label_smoothing": 0.1})["emotion"].item()
    assert plain == pytest.approx(torch.nn.functional.cross_entropy(z, b.label).item())
    assert smooth == pytest.approx(torch.nn.functional.cross_entropy(z, b.label, label_smoothing=0.1).item())
    assert smooth > plain  # confident right answers cost more once the target is smoothed


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_equals_uninterrupted(synthetic, tmp_path, ema_decay):
    cfg = _cfg(ema_decay=ema_decay)
    labels = sorted({u.emotion for u in synthetic})
    tr, va = synthetic[:12], synthetic[12:]
    p_tr, p_va = prepare(cfg, tr, progress=False), prepare(cfg, va, progress=False)
    full = train_model(cfg, p_tr, p_va, labels=labels, out_dir=tmp_path / "full", progress=False)
    # "kill" after 2 epochs: train a 2-epoch run with the same schedule length, then resume
    from dataclasses import replace

    short = replace(cfg, train=replace(cfg.train, epochs=4))
    part_dir = tmp_path / "part"
    class Kill(Exception):
        pass

    orig = Checkpoint.save
    calls = {"n": 0}

    def killing_save(self, path):
        orig(self, path)
        if str(path).endswith("last.pt"):
            calls["n"] += 1
            if calls["n"] == 2:
                raise Kill

    Checkpoint.save = killing_save
    try:
        with pytest.raises(Kill):
            train_model(short, p_tr, p_va, labels=labels, out_dir=part_dir, progress=False)
    finally:
        Checkpoint.save = orig
    assert load_checkpoint(part_dir / "last.pt").extra["epoch"] == 1
    resumed = train_model(short, p_tr, p_va, labels=labels, out_dir=part_dir, resume=True, progress=False)
    assert len(resumed.history) == 4
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert [h["train_loss"] for h in full.history] == [h["train_loss"] for h in resumed.history]


def test_ema_weights_are_the_exponential_average_of_the_steps(synthetic, monkeypatch):
    """train.ema_decay: the saved weights are e_1 = w_1, e_k = d e_(k-1) + (1 - d) w_k over the
    weights w_k after every optimiser step (computed here by hand); off, the last step's weights."""
    import serkit.train.loop as loop

    steps: list[dict[str, torch.Tensor]] = []
    make = loop._optimizer

    def recording(model, tc):
        opt = make(model, tc)
        opt.register_step_post_hook(
            lambda *_: steps.append({n: p.detach().clone() for n, p in model.named_parameters()}))
        return opt

    monkeypatch.setattr(loop, "_optimizer", recording)
    labels = sorted({u.emotion for u in synthetic})
    d = 0.8
    for decay in (0.0, d):
        steps.clear()
        cfg = _cfg(epochs=2, valid_fraction=0.0, ema_decay=decay)
        res = train_model(cfg, prepare(cfg, synthetic, progress=False), None, labels=labels, progress=False)
        assert len(steps) > 4
        want = dict(steps[-1])
        if decay:
            want = dict(steps[0])
            for w in steps[1:]:
                want = {n: d * want[n] + (1 - d) * w[n] for n in want}
            assert any(not torch.allclose(want[n], steps[-1][n]) for n in want)
        got = dict(res.model.named_parameters())
        for n, v in want.items():
            torch.testing.assert_close(got[n].detach(), v, rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="ema_decay"):
        train_model(_cfg(ema_decay=1.0), prepare(_cfg(), synthetic[:8], progress=False), None, labels=labels,
                    progress=False)


def test_checkpoint_rebuilds_model(synthetic, tmp_path):
    cfg = _cfg(epochs=1)
    labels = sorted({u.emotion for u in synthetic})
    res = train_model(cfg, prepare(cfg, synthetic, progress=False), None, labels=labels,
                      out_dir=tmp_path, progress=False)
    model, ckpt = load_model(tmp_path)  # the run folder; weights_only=True inside
    assert ckpt.label_names == labels and ckpt.serkit_version
    assert load_checkpoint(tmp_path / "checkpoint.pt").config == cfg.to_dict()
    x = torch.randn(2, 30, 16)
    torch.testing.assert_close(model(x, torch.tensor([30, 20])).logits,
                               res.model(x, torch.tensor([30, 20])).logits)
    assert (tmp_path / "resolved.yaml").is_file() and (tmp_path / "train.log").is_file()


def test_fit_predict_learns_synthetic(synthetic):
    # the synthetic emotion sets the pitch: a small model must learn it for unseen speakers. Two
    # held-out speakers (8 utterances, 4 classes): guessing reaches >= 7/8 with probability 1e-4.
    cfg = _cfg(epochs=25, lr=0.01, valid_fraction=0.0)
    held = {"spk0", "spk1"}
    train = [u for u in synthetic if u.speaker not in held]
    test = [u for u in synthetic if u.speaker in held]
    fo = fit_predict(cfg, train, test, labels=sorted({u.emotion for u in synthetic}), progress=False)
    assert [p.id for p in fo.predictions] == [u.id for u in test]
    correct = sum(p.true == p.pred for p in fo.predictions)
    assert correct >= 7, f"{correct}/8 correct"
    assert fo.extra["n_parameters"] > 0 and not math.isnan(fo.extra["train_time_s"])


def test_overlapping_fold_raises(synthetic):
    from serkit.errors import SpeakerOverlapError

    with pytest.raises(SpeakerOverlapError, match="share"):
        fit_predict(_cfg(), synthetic[:8], synthetic[4:], labels=["angry"], progress=False)


def test_bad_config_errors():
    from serkit.models import model_config_from_dict

    with pytest.raises(UnknownKeyError, match="expected one of"):
        model_config_from_dict({"name": "w2v"})
    with pytest.raises(UnknownKeyError, match="model.hidden_dim"):
        model_config_from_dict({"name": "pooled_mlp", "hiden_dim": 3})
    with pytest.raises(UnknownKeyError, match="train.lr"):
        recipe_from_dict({"model": {"name": "pooled_mlp"}, "train": {"lrate": 1}})


def test_ctc_checkpoint_rebuilds_with_vocab(tmp_path):
    """A checkpoint with a CharVocab rebuilds its CTC model from the checkpoint alone."""
    import dataclasses

    from serkit.config import to_dict
    from serkit.data.vocab import CharVocab
    from serkit.models.w2v2_ctc import build_w2v2_ctc, tiny_config
    vocab = CharVocab.from_texts(["hallo welt", "kids are talking"])
    mcfg = tiny_config()
    model = build_w2v2_ctc(mcfg, input_dim=1, num_classes=2, vocab_size=len(vocab))
    Checkpoint(config={"model": to_dict(dataclasses.asdict(mcfg))}, state_dict=model.state_dict(),
               label_names=["a", "b"], input_dim=1, vocab=vocab.to_dict()).save(tmp_path / "c.pt")
    rebuilt, _ = load_model(tmp_path / "c.pt")
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())


def test_augment_onecycle_and_input_norm(synthetic):
    """train.augment, scheduler onecycle (stepped per batch) and train.input_stats in the one loop."""
    import numpy as np

    from serkit.train.augment import AugmentConfig, FeatureAugmenter

    cfg = recipe_from_dict({
        "data": {"corpus": "manifest"}, "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "compact_cnn", "channels": [8], "hidden_dim": 8},
        "train": {"epochs": 3, "batch_size": 4, "scheduler": "onecycle", "valid_fraction": 0.0,
                  "input_stats": True, "sort_by_length": False,
                  "augment": {"crop_frames": 40, "gain_db": 6.0, "freq_mask": 4, "time_mask": 10}},
        "eval": {"protocol": "loso"}})
    p = prepare(cfg, synthetic, progress=False)
    res = train_model(cfg, p, None, labels=sorted({u.emotion for u in synthetic}), progress=False)
    frames = np.concatenate(p.inputs, 0)
    torch.testing.assert_close(res.model.in_mean, torch.from_numpy(frames.mean(0)))
    lrs = [h["lr"] for h in res.history]
    assert lrs[0] > lrs[-1] and lrs[-1] < 0.05 * 1e-3  # one cycle annealed far below the peak lr
    # augmentation: masks and gain change only valid frames; padding stays zero
    import random

    aug = FeatureAugmenter(AugmentConfig(gain_db=6.0, freq_mask=4, time_mask=10))
    x = torch.zeros(2, 50, 16)
    x[0, :50], x[1, :30] = 1.0, 2.0
    y = aug.batch(x, torch.tensor([50, 30]), random.Random(0))
    assert torch.equal(y[1, 30:], torch.zeros(20, 16)) and not torch.equal(y, x)
    with pytest.raises(ConfigError, match="gain_db"):
        FeatureAugmenter(AugmentConfig(gain_db=3.0), feature_name="mfcc")


def test_wave_augment_and_corpus_balance_in_the_loop(synthetic, monkeypatch):
    """train.augment.wave feeds new features every epoch; train.balance evens out corpora and their prior."""
    pytest.importorskip("audiomentations")
    import dataclasses

    import numpy as np

    from serkit.data.dataset import LengthBucketSampler
    from serkit.train import loop

    utts = [dataclasses.replace(u, corpus="big" if i < 12 else "small") for i, u in enumerate(synthetic)]
    cfg = recipe_from_dict({
        "data": {"corpus": "manifest"}, "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "compact_cnn", "channels": [8], "hidden_dim": 8, "input_norm": "utterance"},
        "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.0, "input_stats": True, "class_weighted": True,
                  "sort_by_length": False, "balance": "corpus",
                  "augment": {"crop_frames": 40, "wave": {"p_noise": 1.0, "noise_kinds": ["white", "babble"],
                                                          "p_gain": 1.0}}},
        "eval": {"protocol": "loso"}})
    assert cfg.train.augment.wave.p_noise == 1.0 and cfg.train.augment.wave.noise_kinds == ("white", "babble")
    seen, drawn = [], []
    from serkit.train.waves import AugmentedInputs

    orig_for_epoch = AugmentedInputs.for_epoch

    def spy(self, epoch):
        out = orig_for_epoch(self, epoch)
        seen.append(out)
        return out

    orig_batches = LengthBucketSampler.batches

    def spy_batches(self):
        b = orig_batches(self)
        drawn.append([i for bb in b for i in bb])
        return b

    monkeypatch.setattr(AugmentedInputs, "for_epoch", spy)
    monkeypatch.setattr(LengthBucketSampler, "batches", spy_batches)
    p = prepare(cfg, utts, progress=False)
    res = train_model(cfg, p, None, labels=sorted({u.emotion for u in utts}), progress=False)
    assert len(seen) == 2 and not np.allclose(seen[0][0], seen[1][0])
    assert not np.allclose(seen[0][0], p.inputs[0])  # augmented, not the clean features
    assert sum(i >= 12 for i in drawn[0]) == sum(i < 12 for i in drawn[0])  # equal shares per corpus
    assert np.isfinite(res.history[-1]["train_loss"])
    with pytest.raises(UnknownKeyError, match="train.balance"):
        loop._balance_groups(utts, "speaker")


def test_speaker_norm_gives_clean_draws_their_speakers_statistics(synthetic, monkeypatch):
    """train.speaker_norm: clean draws are normalised by their speaker's statistics, augmented copies by themselves."""
    pytest.importorskip("audiomentations")
    import numpy as np

    from serkit.models.compact_cnn import CompactCnn

    cfg = recipe_from_dict({
        "data": {"corpus": "manifest"}, "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "compact_cnn", "channels": [8], "hidden_dim": 8, "input_norm": "utterance"},
        "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.0, "input_stats": True, "sort_by_length": False,
                  "speaker_norm": 1.0, "augment": {"wave": {"p_gain": 1.0, "copies": 1}}},
        "eval": {"protocol": "loso"}})
    p = prepare(cfg, synthetic, progress=False)
    calls = []
    orig = CompactCnn.forward

    def spy(self, x, lengths, *, norm_stats=None, **kw):
        if self.training:
            calls.append((x.detach().clone(), lengths.clone(), norm_stats))
        return orig(self, x, lengths, norm_stats=norm_stats, **kw)

    monkeypatch.setattr(CompactCnn, "forward", spy)
    res = train_model(cfg, p, None, labels=sorted({u.emotion for u in synthetic}), progress=False)
    assert np.isfinite(res.history[-1]["train_loss"])
    clean = {u.id: x for u, x in zip(p.utts, p.inputs, strict=True)}
    spk_of = {u.id: u.speaker for u in p.utts}
    frames = {s: np.concatenate([x for u, x in zip(p.utts, p.inputs, strict=True) if u.speaker == s]) for s in set(spk_of.values())}
    n_spk = n_own = 0
    for x, lens, ns in calls:
        rows = ns[0] if ns is not None else torch.full((len(lens), 16), math.nan)
        for b in range(len(lens)):
            xb = x[b, :lens[b]].numpy()
            match = [i for i, c in clean.items() if c.shape == xb.shape and np.allclose(c, xb)]
            if torch.isnan(rows[b]).all():
                n_own += 1
                assert not match  # an augmented copy keeps its own statistics
            else:
                n_spk += 1
                assert match  # only clean draws get their speaker's statistics ...
                torch.testing.assert_close(rows[b], torch.from_numpy(frames[spk_of[match[0]]].mean(0)))  # ... these
    assert n_spk > 0 and n_own > 0
    with pytest.raises(ConfigError, match="speaker_norm"):
        bad = recipe_from_dict({**cfg.to_dict(), "model": {"name": "compact_cnn", "channels": [8], "hidden_dim": 8}})
        train_model(bad, p, None, labels=sorted({u.emotion for u in synthetic}), progress=False)


def test_class_weights_on_the_balanced_draw():
    from serkit.train.loop import _class_weights

    # corpus a: 3 x class 0, 1 x class 1; corpus b: 1 x class 0, 1 x class 1 -> balanced shares 1.25 / 0.75
    w = _class_weights([0, 0, 0, 1, 0, 1], 2, ["a", "a", "a", "a", "b", "b"])
    torch.testing.assert_close(w, torch.tensor([2.0 / (2 * 1.25), 2.0 / (2 * 0.75)]))
    torch.testing.assert_close(_class_weights([0, 0, 0, 1], 2, None), torch.tensor([4 / 6, 4 / 2]))


def test_join_same_group_continues_with_the_same_speaker_and_emotion():
    """train.augment.join: a picked item goes on with other members of its group, up to the target length."""
    import random

    import numpy as np

    from serkit.train.augment import AugmentConfig, join_same_group

    xs = [np.full((10, 2), float(i)) for i in range(6)]
    groups = ["a", "a", "a", "b", "b", "c"]
    out = join_same_group(xs, groups, 1.0, 25, random.Random(0))
    for i, y in enumerate(out):
        assert np.array_equal(y[:10], xs[i])  # starts with the item itself
        parts = {float(v) for v in y[:, 0]}
        assert all(groups[int(v)] == groups[i] for v in parts)  # only its own group
        assert len(y) == {"a": 30, "b": 20, "c": 10}[groups[i]]  # up to 25 frames, or the group used up
    assert out[5] is xs[5]
    assert join_same_group(xs, groups, 0.0, 25, random.Random(0)) == xs
    shares = [sum(len(y) > 10 for y in join_same_group(xs[:3] * 100, ["a"] * 300, 0.3, 25, random.Random(s)))
              for s in range(3)]
    assert all(60 < n < 120 for n in shares)  # about 30 % of 300
    with pytest.raises(ConfigError, match="crop_frames"):
        AugmentConfig(join=0.5).check_join()
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        AugmentConfig(join=1.5, crop_frames=100).check_join()


def test_join_in_the_loop(synthetic, monkeypatch):
    """The loop feeds joined inputs (same speaker and emotion) to the batches; CTC recipes are refused."""
    from serkit.train import loop

    cfg = recipe_from_dict({
        "data": {"corpus": "manifest"}, "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "compact_cnn", "channels": [8], "hidden_dim": 8, "input_norm": "utterance"},
        "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.0, "sort_by_length": False,
                  "augment": {"crop_frames": 10_000, "join": 1.0}},
        "eval": {"protocol": "loso"}})
    import dataclasses

    utts = [dataclasses.replace(u, speaker=f"spk{i // 8}") for i, u in enumerate(synthetic)]  # 2 per (speaker, emotion)
    p = prepare(cfg, utts, progress=False)
    lengths = []
    orig = loop._train_batches

    def spy(ds, *a, **k):
        lengths.append([ds.length(i) for i in range(len(ds))])
        yield from orig(ds, *a, **k)

    monkeypatch.setattr(loop, "_train_batches", spy)
    train_model(cfg, p, None, labels=sorted({u.emotion for u in utts}), progress=False)
    per_group: dict = {}
    for u, x in zip(p.utts, p.inputs, strict=True):
        per_group[(u.speaker, u.emotion)] = per_group.get((u.speaker, u.emotion), 0) + len(x)
    want = [per_group[(u.speaker, u.emotion)] for u in p.utts]  # join 1.0, no length limit: the whole group
    assert lengths == [want, want] and want != [len(x) for x in p.inputs]
    import numpy as np

    ctc = dataclasses.replace(p, tokens=[np.zeros(2, np.int64) for _ in p.utts])
    with pytest.raises(ConfigError, match="transcript"):
        train_model(cfg, ctc, None, labels=sorted({u.emotion for u in utts}), progress=False)
