"""End-to-end ``serkit evaluate`` on a recipe over synthetic audio and over the assets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from serkit.cli.main import main
from serkit.testing import create_audio_files


def _recipe(tmp_path: Path, manifest: Path, **eval_kw) -> Path:
    d = {
        "data": {"corpus": "manifest", "manifest": str(manifest)},
        "features": {"name": "egemaps", "speaker_norm": True},
        "model": {"name": "linear_svm", "C": 0.01},
        "eval": {"protocol": "loso", "seed": 3, **eval_kw},
    }
    p = tmp_path / "recipe.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


@pytest.fixture
def synth(tmp_path):
    create_audio_files(tmp_path / "wav", n=16, speakers=4, seconds=0.6)
    return tmp_path / "wav" / "manifest.jsonl"


def test_evaluate_end_to_end(tmp_path, synth, capsys):
    cfg = _recipe(tmp_path, synth)
    out = tmp_path / "res" / "r.json"
    assert main(["evaluate", str(cfg), "--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "protocol=leave-one-speaker-out, 4 folds, speaker-independent" in text
    assert "corpus=manifest" in text and "utterances=16" in text and "seed=3" in text
    assert "±" in text and "mean ± std over 4 folds" in text
    for spk in ["spk0", "spk1", "spk2", "spk3"]:
        assert any(line.startswith(spk) for line in text.splitlines())
    d = json.loads(out.read_text())
    assert d["protocol"] == "loso" and d["corpus"] == "manifest" and d["n_utterances"] == 16
    assert d["labels"] == ["angry", "happy", "neutral", "sad"] and len(d["folds"]) == 4
    assert {"ua", "wa", "f1"} <= set(d["mean"]) and {"ua", "wa", "f1"} <= set(d["std"])
    assert d["mean"]["ua"] > 0.5  # pitch encodes the emotion in the synthetic data (chance 0.25)
    assert (out.parent / "r.confusion.png").is_file() and (out.parent / "r.predictions.csv").is_file()


def test_evaluate_overrides_and_kfold(tmp_path, synth, capsys):
    cfg = _recipe(tmp_path, synth)
    out = tmp_path / "k.json"
    rc = main(["evaluate", str(cfg), "--set", "eval.protocol=speaker_kfold", "--set", "eval.folds=2",
               "--set", "model.C=0.1", "--json", str(out), "--no-progress"])
    assert rc == 0
    d = json.loads(out.read_text())
    assert d["protocol"] == "speaker_kfold" and len(d["folds"]) == 2 and d["config"]["model"]["C"] == 0.1
    assert "speaker-grouped 2-fold" in capsys.readouterr().out


def test_random_split_needs_flag_and_header_says_dependent(tmp_path, synth, capsys):
    cfg = _recipe(tmp_path, synth, protocol="random_kfold", folds=2)
    assert main(["evaluate", str(cfg), "--no-progress"]) == 1
    assert "speaker_dependent" in capsys.readouterr().err
    out = tmp_path / "dep.json"
    assert main(["evaluate", str(cfg), "--set", "eval.speaker_dependent=true", "--json", str(out),
                 "--no-progress"]) == 0
    assert "speaker-DEPENDENT" in capsys.readouterr().out
    assert json.loads(out.read_text())["speaker_independent"] is False


def test_bad_recipe_errors_are_one_line(tmp_path, synth, capsys):
    cfg = _recipe(tmp_path, synth)
    assert main(["evaluate", str(cfg), "--set", "model.gamma=2"]) == 1
    err = capsys.readouterr().err
    assert "model.gamma" in err and "model.C" in err and "Traceback" not in err
    assert main(["evaluate", str(tmp_path / "nope.yaml")]) == 1
    assert "recipe not found" in capsys.readouterr().err
    assert main(["evaluate", str(cfg), "--set", "features.name=fbank", "--no-progress"]) == 1


def test_evaluate_on_assets(tmp_path, assets, capsys):
    cfg = _recipe(tmp_path, assets / "manifest.jsonl")
    out = tmp_path / "a.json"
    assert main(["evaluate", str(cfg), "--json", str(out), "--no-progress"]) == 0
    d = json.loads(out.read_text())
    assert [f["name"] for f in d["folds"]] == ["emodb_03", "emodb_08"]
    assert d["labels"] == ["angry", "sad"]


def test_prepare_and_features_commands(tmp_path, assets, capsys):
    assert main(["features", "manifest", "--manifest", str(assets / "manifest.jsonl"), "--name", "mfcc",
                 "--cache-dir", str(tmp_path / "c")]) == 0
    assert "mfcc: 4 utterances" in capsys.readouterr().out
    assert main(["prepare", "emodbb", "--out", str(tmp_path)]) == 1
    assert "expected one of" in capsys.readouterr().err


def test_demo_on_a_miniature_emodb(tmp_path, assets, capsys):
    """``serkit demo`` (the job of ``make demo``) on an EmoDB folder holding the 4 asset clips."""
    import shutil

    (tmp_path / "emodb" / "wav").mkdir(parents=True)
    for f in assets.glob("*.wav"):
        shutil.copy(f, tmp_path / "emodb" / "wav" / f.name)
    out = tmp_path / "runs"
    assert main(["demo", "--data-root", str(tmp_path), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "corpus=emodb labels=emodb7" in text and "leave-one-speaker-out, 2 folds" in text
    d = json.loads((out / "emodb_egemaps_svm.json").read_text())
    assert d["features"] == "egemaps" and d["n_utterances"] == 4
    assert (out / "emodb_egemaps_svm.confusion.png").is_file()
