"""The Li 2019 and Wang 2021 recipes parse and build; a tiny run goes through the training engine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from serkit.cli.common import load_recipe
from serkit.models import MODELS
from serkit.models.base import count_parameters

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RECIPES = sorted([*CONFIGS.glob("li2019/*.yaml"), *CONFIGS.glob("wang2021/*.yaml")])


def test_recipes_exist():
    assert {p.relative_to(CONFIGS).as_posix() for p in RECIPES} >= {
        "li2019/emodb.yaml", "li2019/ravdess.yaml", "wang2021/emodb.yaml", "wang2021/ravdess.yaml"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_recipe_parses_and_builds(path):
    cfg = load_recipe(str(path), [])
    mcfg = cfg.model
    model = MODELS[mcfg.name][1](mcfg, input_dim=cfg.features.n_mels, num_classes=7).eval()
    x = torch.randn(2, 120, cfg.features.n_mels)
    out = model(x, torch.tensor([120, 70]))
    assert out.logits.shape == (2, 7)
    assert count_parameters(model) < 200_000  # sized for CPU training
    if mcfg.name == "cnn_blstm_attn":
        assert ("gender" in out.aux) == (cfg.train.loss_weights.get("gender", 0) > 0)


@pytest.mark.parametrize("name", ["cnn_blstm_attn", "cnn_bilstm_tf"])
def test_tiny_evaluate_runs_through_the_engine(name, synthetic, tmp_path):
    from serkit.data.manifest import write_jsonl
    from serkit.experiment import recipe_from_dict, run_experiment
    from serkit.models.cnn_bilstm_tf import tiny_config as tf_tiny
    from serkit.models.cnn_blstm_attn import tiny_config as li_tiny

    manifest = write_jsonl(synthetic, tmp_path / "m.jsonl")
    tiny = li_tiny() if name == "cnn_blstm_attn" else tf_tiny()
    cfg = recipe_from_dict({
        "data": {"corpus": "manifest", "manifest": str(manifest)},
        "features": {"name": "logmel", "n_mels": 24, "max_seconds": 0.5},
        "model": dataclasses.asdict(tiny),
        "train": {"epochs": 1, "batch_size": 4, "loss_weights": {"emotion": 1.0, "gender": 0.5},
                  "valid_fraction": 0.0},
        "eval": {"protocol": "speaker_kfold", "folds": 2},
    })
    report = run_experiment(cfg, out_dir=tmp_path / "run", progress=False)
    # the engine's bookkeeping: every utterance predicted once, by the fold whose speakers it held
    # out, and the reported UA is the one its own predictions give
    assert len(report.folds) == 2
    assert sorted(p.id for p in report.predictions) == sorted(u.id for u in synthetic)
    test_speakers = {f.name: {p.speaker for p in report.predictions if p.fold == f.name} for f in report.folds}
    assert not set.intersection(*test_speakers.values())
    for f in report.folds:
        mine = [p for p in report.predictions if p.fold == f.name]
        assert f.n_test == len(mine)
        recall = [np.mean([p.pred == c for p in mine if p.true == c]) for c in sorted({p.true for p in mine})]
        assert f.scores["ua"] == pytest.approx(float(np.mean(recall)))
    assert all(f.extra["n_parameters"] == count_parameters(MODELS[name][1](
        tiny, input_dim=24, num_classes=len(report.labels))) for f in report.folds)
    assert all((tmp_path / "run" / f"fold_{f.name}" / "checkpoint.pt").is_file() for f in report.folds)
