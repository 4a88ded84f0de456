"""eval.only_folds: one protocol's folds spread over several runs sharing an --out folder, then
merged by a --resume run, give the same report as one run over all folds."""

import dataclasses

import pytest

from serkit.data.manifest import write_jsonl
from serkit.errors import ConfigError
from serkit.experiment import recipe_from_dict, run_experiment
from serkit.models.cnn_blstm_attn import tiny_config


def _cfg(manifest, **ev):
    return recipe_from_dict({
        "data": {"corpus": "manifest", "manifest": str(manifest)},
        "features": {"name": "logmel", "n_mels": 24, "max_seconds": 0.5},
        "model": {**dataclasses.asdict(tiny_config()), "gender_head": False},
        "train": {"epochs": 2, "batch_size": 4, "loss_weights": {"emotion": 1.0}, "valid_fraction": 0.0},
        "eval": {"protocol": "speaker_kfold", "folds": 3, **ev},
    })


def test_split_runs_merge_to_the_single_run(synthetic, tmp_path):
    manifest = write_jsonl(synthetic, tmp_path / "m.jsonl")
    whole = run_experiment(_cfg(manifest), out_dir=tmp_path / "whole", progress=False)
    names = [f.name for f in whole.folds]
    part = run_experiment(_cfg(manifest, only_folds=names[1:2]), out_dir=tmp_path / "split", progress=False)
    assert [f.name for f in part.folds] == names[1:2]
    assert any("partial run" in n for n in part.notes)
    run_experiment(_cfg(manifest, only_folds=[names[0], names[2]]), out_dir=tmp_path / "split", progress=False)
    merged = run_experiment(_cfg(manifest), out_dir=tmp_path / "split", progress=False, resume=True)
    assert not any("partial run" in n for n in merged.notes)
    assert [(p.id, p.pred) for p in merged.predictions] == [(p.id, p.pred) for p in whole.predictions]
    assert merged.mean() == pytest.approx(whole.mean())


def test_unknown_fold_name_is_a_clear_error(synthetic, tmp_path):
    manifest = write_jsonl(synthetic, tmp_path / "m.jsonl")
    with pytest.raises(ConfigError, match="only_folds.*nobody"):
        run_experiment(_cfg(manifest, only_folds=["nobody"]), progress=False)
