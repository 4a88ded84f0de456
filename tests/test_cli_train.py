"""``serkit train`` through the CLI on a tiny recipe, for every protocol, and the one recipe -> folds
function (test speakers, official partitions, pooled-corpus defaults honoured everywhere)."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest
import yaml

from serkit.config import DataConfig, EvalConfig
from serkit.data.manifest import write_jsonl
from serkit.data.splits import recipe_folds, recipe_protocol_name
from serkit.models.checkpoint import load_checkpoint
from serkit.models.compact_cnn import tiny_config

PROTOCOLS = {
    "loso": {"protocol": "loso"},
    "speaker_kfold": {"protocol": "speaker_kfold", "folds": 2},
    "holdout": {"protocol": "holdout", "test_speakers": ["spk1"]},
    "official": {"protocol": "official", "official_train": ["Train"], "official_test": "Test1"},
}
FOLD = {"loso": "spk2", "speaker_kfold": "fold2", "holdout": "holdout", "official": "Test1"}


@pytest.fixture
def tiny_recipe(synthetic, tmp_path):
    """A recipe file over the synthetic corpus (partition: spk0/1 Test1, spk2/3 Train) and a writer."""
    utts = [dataclasses.replace(u, custom={"partition": "Test1" if u.speaker in ("spk0", "spk1") else "Train"})
            for u in synthetic]
    manifest = write_jsonl(utts, tmp_path / "m.jsonl")

    def write(eval_section: dict, **train) -> str:
        d = {"data": {"corpus": "manifest", "manifest": str(manifest)},
             "features": {"name": "logmel", "n_mels": 16, "max_seconds": 0.5},
             "model": dataclasses.asdict(tiny_config()),
             "train": {"epochs": 2, "batch_size": 4, "valid_fraction": 0.0, **train},
             "eval": eval_section}
        p = tmp_path / f"recipe_{eval_section['protocol']}.yaml"
        p.write_text(yaml.safe_dump(d), encoding="utf-8")
        return str(p)

    return write


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_serkit_train_fold_every_protocol(tiny_recipe, tmp_path, capsys, protocol):
    from serkit.cli.main import main

    out = tmp_path / "run"
    assert main(["train", tiny_recipe(PROTOCOLS[protocol]), "--fold", FOLD[protocol], "--out", str(out),
                 "--no-progress"]) == 0
    line = capsys.readouterr().out
    assert f"fold={FOLD[protocol]}" in line and "UA=" in line and "protocol=" in line
    ck = load_checkpoint(out)
    assert ck.model_config == tiny_config() and len(ck.extra["history"]) == 2


def test_serkit_train_holdout_trains_without_the_test_speakers(tiny_recipe, tmp_path, capsys):
    """The fold's training set excludes eval.test_speakers (the recipe's, not a guess)."""
    from serkit.cli.main import main

    recipe = tiny_recipe({"protocol": "holdout", "test_speakers": ["spk1", "spk3"]})
    assert main(["train", recipe, "--fold", "holdout", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    assert "(1 of 1 folds" in capsys.readouterr().out


def test_serkit_train_unknown_fold_lists_the_folds(tiny_recipe, tmp_path, capsys):
    from serkit.cli.main import main

    assert main(["train", tiny_recipe(PROTOCOLS["loso"]), "--fold", "nobody", "--out", str(tmp_path / "r"),
                 "--no-progress"]) != 0
    assert "unknown fold 'nobody'; expected one of ['spk0', 'spk1', 'spk2', 'spk3']" in capsys.readouterr().err


def test_serkit_train_without_fold_uses_every_speaker(tiny_recipe, tmp_path, capsys):
    from serkit.cli.main import main

    recipe = tiny_recipe(PROTOCOLS["loso"], valid_fraction=0.25)
    assert main(["train", recipe, "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["epochs"] == 2 and len(res["validation_speakers"]) == 1
    assert load_checkpoint(tmp_path / "r").extra["n_parameters"] == res["n_parameters"]


def test_recipe_folds_pooled_corpus_defaults_and_test_speakers(synthetic):
    """A pooled corpus name takes the first corpus's default fold count (no KeyError)."""
    cfg = SimpleNamespace(data=DataConfig(corpus="emodb+ravdess"), eval=EvalConfig(protocol="speaker_kfold", folds=None))
    from serkit.data.corpora import corpus_spec

    k = corpus_spec("emodb").default_folds
    if k is None or k > 4:
        cfg = SimpleNamespace(data=cfg.data, eval=EvalConfig(protocol="speaker_kfold", folds=2))
        k = 2
    assert len(recipe_folds(cfg, synthetic)) == k
    assert str(k) in recipe_protocol_name(cfg)
    hold = SimpleNamespace(data=cfg.data, eval=EvalConfig(protocol="holdout", test_speakers=("spk0",)))
    (f,) = recipe_folds(hold, synthetic)
    assert {u.speaker for u in synthetic if u.id in set(f.test)} == {"spk0"}


def test_serkit_evaluate_end_to_end(tiny_recipe, tmp_path, capsys):
    """--end-to-end runs each fold model through Predictor on its test files and reports E2E_* columns."""
    from serkit.cli.main import main

    recipe = tiny_recipe({"protocol": "holdout", "test_speakers": ["spk1"]})
    out = tmp_path / "run"
    assert main(["evaluate", recipe, "--out", str(out), "--end-to-end", "--no-progress",
                 "--json", str(tmp_path / "r.json")]) == 0
    table = capsys.readouterr().out
    assert "E2E_UA" in table and "E2E_*" in table
    fold = json.loads((tmp_path / "r.json").read_text())["folds"][0]
    assert set(fold["scores"]) >= {"ua", "e2e_ua", "e2e_wa", "e2e_f1"} and "e2e_failed" in fold["extra"]


def test_predict_utterances_reads_segments(synthetic, tmp_path):
    """Whole files go through predict_file; a start/duration row is scored on its segment only."""
    from serkit.inference import Predictor, predict_utterances
    from serkit.testing import save_tiny_checkpoint

    pred = Predictor.load(save_tiny_checkpoint(tmp_path / "m.pt"))
    seg = dataclasses.replace(synthetic[0], id="seg", start=0.25, duration=0.5)
    bad = dataclasses.replace(synthetic[1], id="bad", path=str(tmp_path / "missing.wav"))
    whole, part, err = predict_utterances(pred, [synthetic[0], seg, bad])
    assert whole["id"] == synthetic[0].id and whole["duration"] == pytest.approx(1.0)
    assert part["id"] == "seg" and part["duration"] == pytest.approx(0.5)
    assert err["id"] == "bad" and "missing.wav" in err["error"]
