"""Calibrated scores: ECE (15 bins), temperature scaling on development data, the reliability
diagram, and the checkpoint's temperature applied by Predictor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serkit.errors import ConfigError
from serkit.eval.metrics import calibration_bins, ece_consistency, expected_calibration_error
from serkit.inference import Predictor
from serkit.testing import pseudo_wave, save_tiny_checkpoint
from serkit.train.calibration import calibrated_probs, check_calibration, fit_temperature


def _data(n=600, seed=0, scale=1.0):
    """Calibrated logits (Gaussian classes: the true log-posterior) times ``scale``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    x = rng.standard_normal((n, 4)) + 1.5 * np.eye(4)[y]
    return 1.5 * x * scale, y


def test_ece_hand_computed():
    # two bins used: conf 0.95 (2 items, 1 right) and conf 0.55 (2 items, both right)
    p = np.array([[0.95, 0.05], [0.95, 0.05], [0.55, 0.45], [0.45, 0.55]])
    y = [0, 1, 0, 1]
    assert expected_calibration_error(p, y) == pytest.approx(0.5 * abs(0.5 - 0.95) + 0.5 * abs(1.0 - 0.55))
    b = calibration_bins(p, y)
    assert b["count"].sum() == 4 and b["count"][14] == 2 and b["count"][8] == 2
    assert np.isnan(b["accuracy"][0])


def test_ece_of_calibrated_scores_is_small_and_of_overconfident_large():
    z, y = _data(4000)
    assert expected_calibration_error(calibrated_probs(z), y) < 0.03
    assert expected_calibration_error(calibrated_probs(3 * z), y) > 0.08


def test_ece_consistency_is_the_floor_of_a_perfectly_calibrated_model():
    # labels drawn from the scores themselves: perfectly calibrated, yet the 15-bin ECE of 300 items is not 0
    rng = np.random.default_rng(1)
    p = calibrated_probs(_data(300)[0])
    eces = [expected_calibration_error(p, [rng.choice(4, p=q) for q in p]) for _ in range(60)]
    floor = ece_consistency(p)
    assert 0.02 < floor["mean"] < floor["p95"] and floor["n"] == 300
    assert abs(np.mean(eces) - floor["mean"]) < 0.015  # the resampled floor matches direct simulation
    assert np.mean(np.array(eces) <= floor["p95"]) > 0.8
    # the floor shrinks with the test-set size; a clearly over-confident model lies far above it
    assert ece_consistency(calibrated_probs(_data(4000)[0]))["mean"] < floor["mean"] / 2
    z, y = _data(300)
    over = calibrated_probs(3 * z)
    r = ece_consistency(over, observed=expected_calibration_error(over, y))
    assert r["p"] < 0.01 and expected_calibration_error(over, y) > r["p95"]
    with pytest.raises(ValueError, match="ece_consistency"):
        ece_consistency(np.zeros((0, 3)))


def test_temperature_recovers_the_scale_and_lowers_ece():
    z, y = _data(scale=3.0)
    t = fit_temperature(z, y)
    assert 2.4 < t < 3.6
    zt, yt = _data(seed=1, scale=3.0)  # fitted on one set, checked on another
    before = expected_calibration_error(calibrated_probs(zt), yt)
    after = expected_calibration_error(calibrated_probs(zt, t), yt)
    assert after < before / 2
    assert (calibrated_probs(zt, t).argmax(1) == zt.argmax(1)).all()  # accuracy unchanged


def test_fit_temperature_errors():
    with pytest.raises(ValueError, match="at least"):
        fit_temperature(np.zeros((5, 3)), np.zeros(5, int))
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        fit_temperature(np.zeros((30, 3)), np.zeros(29, int))
    with pytest.raises(ConfigError, match="valid_fraction"):
        check_calibration("temperature", 0.0)
    with pytest.raises(ConfigError, match="one of"):
        check_calibration("platt", 0.2)


def test_reliability_diagram(tmp_path):
    from serkit.viz.reliability import plot_reliability

    z, y = _data(scale=3.0)
    t = fit_temperature(z, y)
    curves = {"uncalibrated": calibration_bins(calibrated_probs(z), y),
              "temperature": calibration_bins(calibrated_probs(z, t), y)}
    ece = {k: expected_calibration_error(calibrated_probs(z, tt), y) for k, tt in (("uncalibrated", 1), ("temperature", t))}
    p = plot_reliability(curves, tmp_path / "rel.png", title="test", ece=ece, band="temperature")
    assert p.is_file() and p.stat().st_size > 5000


def test_predictor_applies_the_checkpoint_temperature(tmp_path):
    path = save_tiny_checkpoint(tmp_path / "m.pt")
    ck = torch.load(path, weights_only=True)
    x = pseudo_wave(2.0, f0=140.0)
    base = Predictor.from_checkpoint(path).predict_signal(x)
    ck["temperature"] = 0.05  # sharpen a lot: the same argmax with a much higher top score
    torch.save(ck, tmp_path / "t.pt")
    sharp = Predictor.from_checkpoint(tmp_path / "t.pt").predict_signal(x)
    assert sharp["label"] == base["label"]
    assert max(sharp["scores"].values()) > max(base["scores"].values())
    s0 = np.array([base["scores"][c] for c in sorted(base["scores"])])
    s1 = np.array([sharp["scores"][c] for c in sorted(sharp["scores"])])
    assert not np.allclose(s0, s1)


def test_training_loop_calibrates_on_dev_speakers(tmp_path):
    """train.calibration=temperature: T fitted on the validation speakers, stored, applied, reported."""
    from serkit.experiment import recipe_from_dict, run_experiment
    from serkit.models.checkpoint import load_checkpoint
    from serkit.testing import create_audio_files

    create_audio_files(tmp_path / "syn", n=66, speakers=3, seconds=0.5)
    cfg = recipe_from_dict({
        "data": {"corpus": "manifest", "manifest": str(tmp_path / "syn" / "manifest.jsonl")},
        "features": {"name": "logmel", "n_mels": 16},
        "model": {"name": "pooled_mlp", "hidden_dim": 16},
        "train": {"epochs": 3, "batch_size": 8, "lr": 0.01, "valid_fraction": 0.5, "calibration": "temperature"},
        "eval": {"protocol": "loso", "only_folds": ["spk0"]},
    })
    rep = run_experiment(cfg, out_dir=tmp_path / "run", progress=False)
    (fold,) = rep.folds
    cal = fold.extra["calibration"]
    assert cal["method"] == "temperature" and cal["n_dev"] >= 20
    assert set(fold.extra["valid_speakers"]).isdisjoint(fold.test_speakers)  # dev speakers, never test
    ck = load_checkpoint(tmp_path / "run" / f"fold_{fold.name}" / "checkpoint.pt")
    assert ck.temperature == pytest.approx(cal["temperature"]) and ck.temperature != 1.0
    assert 0 <= cal["dev_ece_after"] <= 1 and 0 <= cal["dev_ece_before"] <= 1
    assert "ece" in fold.scores and "test_ece_before" in cal
    assert any("temperature scaling" in n for n in rep.notes)
    assert "ECE" in rep.to_table()


def test_calibration_needs_dev_speakers():
    from serkit.experiment import recipe_from_dict
    from serkit.train.loop import train_model

    cfg = recipe_from_dict({"model": {"name": "pooled_mlp"}, "train": {"calibration": "temperature", "valid_fraction": 0}})
    with pytest.raises(ConfigError, match="valid_fraction"):
        train_model(cfg, None, None, labels=["a", "b"])
