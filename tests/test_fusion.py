"""Score fusion (``model.name: fusion``): weights fitted on development speakers drawn from each
fold's training speakers, members trained in the fold or reused from a finished run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import yaml

from serkit.errors import ConfigError, UnknownKeyError
from serkit.models.fusion import FusionConfig, ScoreFusion, member_from_dict


def test_weights_favour_the_informative_system_and_fusion_can_beat_each_member():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400)
    a = np.eye(4)[y] * 1.2 + rng.normal(size=(400, 4))  # two noisy systems with independent errors
    b = np.eye(4)[y] * 1.2 + rng.normal(size=(400, 4))
    noise = rng.normal(size=(400, 4))
    f = ScoreFusion(FusionConfig()).fit([a[:200], b[:200], noise[:200]], y[:200])
    w = f.weights_
    assert w[2] < 0.3 * min(w[0], w[1]) and (w >= 0).all()
    acc = lambda z: float((z.argmax(1) == y[200:]).mean())  # noqa: E731
    fused = acc(f.predict_logits([a[200:], b[200:], noise[200:]]))
    assert fused > max(acc(a[200:]), acc(b[200:])) + 0.03


def test_fusion_input_errors():
    f = ScoreFusion(FusionConfig())
    with pytest.raises(ConfigError, match="before fit"):
        f.predict_logits([np.zeros((2, 3))])
    with pytest.raises(ValueError, match="one shape"):
        f.fit([np.zeros((2, 3)), np.zeros((2, 4))], [0, 1])
    f.fit([np.eye(3), np.eye(3)], [0, 1, 2])
    with pytest.raises(ValueError, match="expected 2 score arrays"):
        f.predict_logits([np.eye(3)])
    with pytest.raises(UnknownKeyError, match="model.members\\[0\\].seed"):
        member_from_dict({"recipe": "a.yaml", "seed": 3})
    with pytest.raises(ConfigError, match="at least two members"):
        FusionConfig(members=({"recipe": "a.yaml"},)).parsed_members()


def _recipes(tmp_path, manifest):
    """An eGeMAPS SVM member and a tiny Li 2019 member (1 epoch) on the synthetic manifest."""
    from serkit.models.cnn_blstm_attn import tiny_config

    data = {"corpus": "manifest", "manifest": str(manifest)}
    svm = {"data": data, "features": {"name": "egemaps", "speaker_norm": True},
           "model": {"name": "linear_svm", "C": 0.01}, "eval": {"protocol": "speaker_kfold", "folds": 2}}
    cnn = {"data": data, "features": {"name": "logmel", "n_mels": 16, "max_seconds": 0.5, "speaker_norm": True},
           "model": {**dataclasses.asdict(tiny_config()), "gender_head": False},
           "train": {"epochs": 1, "batch_size": 4, "valid_fraction": 0.5, "valid_seed": 0, "num_threads": 1},
           "eval": {"protocol": "speaker_kfold", "folds": 2}}
    paths = {}
    for name, d in (("svm", svm), ("cnn", cnn)):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(d))
    return data, paths


def _fusion(data, members):
    from serkit.experiment import recipe_from_dict

    return recipe_from_dict({"data": data, "model": {"name": "fusion", "members": members, "valid_fraction": 0.5},
                             "eval": {"protocol": "speaker_kfold", "folds": 2}})


def test_fusion_recipe_runs_nested(synthetic, tmp_path):
    from serkit.data.manifest import write_jsonl
    from serkit.experiment import run_experiment

    data, p = _recipes(tmp_path, write_jsonl(synthetic, tmp_path / "m.jsonl"))
    cfg = _fusion(data, [{"recipe": str(p["svm"])}, {"recipe": str(p["cnn"]), "seeds": 2}])
    report = run_experiment(cfg, out_dir=tmp_path / "run", progress=False)
    assert sorted(x.id for x in report.predictions) == sorted(u.id for u in synthetic)
    assert all(x.scores and abs(sum(x.scores.values()) - 1) < 1e-6 for x in report.predictions)
    by_fold = {f.name: {x.speaker for x in report.predictions if x.fold == f.name} for f in report.folds}
    for f in report.folds:
        assert set(f.extra["fusion_weights"]) == {"0:linear_svm/egemaps", "1:cnn_blstm_attn/logmel"}
        # development speakers are training speakers of the fold, never its test speakers
        assert f.extra["dev_speakers"] and not set(f.extra["dev_speakers"]) & by_fold[f.name]
        # both seeds of the neural member were trained in this fold, on the same development speakers
        assert {d.name for d in (tmp_path / "run" / "member1").iterdir()} == {"seed0", "seed1"}
    assert any("score fusion of 2 systems" in n for n in report.notes)


def test_fusion_reuses_a_finished_run_and_refuses_a_mismatched_one(synthetic, tmp_path):
    from serkit.data.manifest import write_jsonl
    from serkit.experiment import load_recipe, run_experiment

    data, p = _recipes(tmp_path, write_jsonl(synthetic, tmp_path / "m.jsonl"))
    run_experiment(load_recipe(p["cnn"]), out_dir=tmp_path / "cnn_s0", progress=False)
    runs = str(tmp_path / "cnn_s{seed}")
    cfg = _fusion(data, [{"recipe": str(p["svm"])}, {"recipe": str(p["cnn"]), "runs": runs}])
    report = run_experiment(cfg, out_dir=tmp_path / "fused", progress=False)
    assert len(report.predictions) == len(synthetic)
    assert not (tmp_path / "fused" / "member1").exists()  # nothing trained again
    bad = _fusion(data, [{"recipe": str(p["svm"])},
                         {"recipe": str(p["cnn"]), "runs": runs, "set": ["model.dropout=0.4"]}])
    with pytest.raises(ConfigError, match="model.dropout"):
        run_experiment(bad, progress=False)
