"""What a new user trips over (issue 17): error messages that say what to do, output polish."""

from __future__ import annotations

import pytest

from serkit.cli.main import main


@pytest.mark.parametrize("cmd", ["features", "prepare"])
def test_manifest_corpus_without_the_flag_names_the_flag(cmd, capsys):
    assert main([cmd, "manifest"]) == 1
    err = capsys.readouterr().err
    assert "--manifest FILE" in err and "data.manifest" not in err


# Issue 17's "a text model in predict says what to try" (a blanket refusal naming serkit evaluate)
# is superseded by issue 16: text models now predict with a transcript, and a file without one gets
# an error naming --text, a manifest text column and --text-from ctc: (tests/test_predict_families.py::
# test_chen2022_ks_missing_text_is_a_clear_error).


def test_no_progress_silences_library_bars(tmp_path, monkeypatch, capfd):
    """Issue 17: --no-progress still showed Hugging Face's "Loading weights"; demo had no --no-progress."""
    import shutil
    from pathlib import Path

    from transformers.utils import logging as hf_logging

    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(sorted((Path(__file__).parent / "assets").glob("*.wav"))[0], clips)
    seen = {}

    def predict_examples(folder, out_dir):  # runs inside the command, where --no-progress holds
        for _ in hf_logging.tqdm(range(3), desc="Loading weights"):  # the bar transformers draws
            pass
        seen["err"] = capfd.readouterr().err
        return 0

    monkeypatch.setattr("serkit.cli.demo.predict_examples", predict_examples)
    assert main(["demo", "--no-progress", "--no-baseline", "--examples", str(clips), "--out", str(tmp_path / "o")]) == 0
    assert "Loading weights" not in seen["err"]
    assert hf_logging.is_progress_bar_enabled()  # restored after the command


def test_train_json_counts_epochs_from_one(tmp_path, capsys):
    """Issue 17: the train JSON said "epochs": 2 with "last_epoch": {"epoch": 1}."""
    import json
    import shutil
    from pathlib import Path

    assets = Path(__file__).parent / "assets"
    rows = ["path,speaker,emotion"]
    for f in sorted(assets.glob("*.wav")):
        shutil.copy(f, tmp_path / f.name)
        rows.append(f"{f.name},{f.name[:2]},{'angry' if 'W' in f.name else 'sad'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"data: {{corpus: manifest, manifest: {tmp_path / 'labels.csv'}}}\n"
                      "features: {name: logmel, n_mels: 16}\nmodel: {name: compact_cnn, channels: [8, 8], "
                      "hidden_dim: 8}\ntrain: {epochs: 2, batch_size: 4}\neval: {protocol: loso}\n")
    assert main(["train", str(recipe), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epochs"] == 2 and out["last_epoch"]["epoch"] == 2
