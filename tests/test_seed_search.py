"""benchmarks/seeds.py (seed-averaged scores, paired test) and benchmarks/search.py (nested Optuna
search on development speakers) on tiny inputs."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _bench(name: str):
    import sys

    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"{name}_bench", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _report(path: Path, seed: int, ua: list[float]) -> Path:
    folds = [{"name": f"f{i}", "scores": {"ua": v, "wa": v, "f1": v}, "extra": {"epochs": 3}} for i, v in enumerate(ua)]
    path.write_text(json.dumps({"corpus": "c", "label_set": "l", "labels": ["a", "b"], "protocol_name": "loso",
                                "folds": folds, "config": {"train": {"seed": seed}}, "wall_time_s": 1.0}))
    return path


def test_seed_summary_averages_per_fold_then_over_folds(tmp_path):
    seeds = _bench("seeds")
    a = _report(tmp_path / "s0.json", 0, [0.6, 0.8, 0.7, 0.9])
    b = _report(tmp_path / "s1.json", 1, [0.8, 0.8, 0.9, 0.9])
    base = _report(tmp_path / "base.json", 0, [0.5, 0.7, 0.8, 0.8])
    s = seeds.summarise([a, b], base)
    avg = s["seed_averaged"]["ua"]
    assert avg["per_fold"] == pytest.approx({"f0": 0.7, "f1": 0.8, "f2": 0.8, "f3": 0.9})
    assert avg["mean"] == pytest.approx(0.8) and avg["std_over_folds"] == pytest.approx(0.0707, abs=1e-4)
    assert s["std_over_seeds"]["ua"]["std"] == pytest.approx(0.0707, abs=1e-4)  # fold means 0.75, 0.85
    p = s["baseline"]["seed_averaged_minus_baseline"]
    assert p["folds_better"] == 3 and p["folds_worse"] == 0 and p["mean_difference"] == pytest.approx(0.1)
    assert "seed_ensemble_ua" not in s  # no prediction CSVs beside the reports
    # another system's seed summary as the baseline: its seed-averaged UA per fold
    summary = tmp_path / "other_seeds.json"
    summary.write_text(json.dumps(seeds.summarise([base, _report(tmp_path / "b1.json", 1, [0.7, 0.7, 0.8, 1.0])])))
    q = seeds.summarise([a, b], summary)["baseline"]
    assert q["ua_mean"] == pytest.approx(0.75) and q["seed_averaged_minus_baseline"]["mean_difference"] == pytest.approx(0.05)
    with pytest.raises(SystemExit, match="folds"):
        seeds.summarise([a, _report(tmp_path / "x.json", 2, [0.5, 0.5])])


def test_nested_search_chooses_on_development_speakers(synthetic, tmp_path):
    pytest.importorskip("optuna")
    import yaml

    from serkit.data.manifest import write_jsonl
    from serkit.models.cnn_blstm_attn import tiny_config

    search = _bench("search")
    recipe = {"data": {"corpus": "manifest", "manifest": str(write_jsonl(synthetic, tmp_path / "m.jsonl"))},
              "features": {"name": "logmel", "n_mels": 16, "max_seconds": 0.5},
              "model": {**dataclasses.asdict(tiny_config()), "gender_head": False},
              "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.5, "valid_seed": 0, "num_threads": 1},
              "eval": {"protocol": "speaker_kfold", "folds": 2}}
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    space = {"train.lr": ("log", 1e-4, 1e-2), "model.lstm_hidden": ("cat", (16, 8))}
    res = search.run(str(path), overrides=[], trials=2, reuse=None, out=None, space=space)
    rep = res["report"]
    assert len(rep.folds) == 2 and len(rep.predictions) == len(synthetic)
    for f in rep.folds:
        trials = f.extra["trials"]
        assert len(trials) == 2 and trials[0]["values"] == {"train.lr": 1e-3, "model.lstm_hidden": 16}
        best = max(trials, key=lambda t: trials[t]["dev_ua"])
        assert trials[f.extra["chosen_trial"]]["dev_ua"] == trials[best]["dev_ua"]  # chosen by dev UA only
