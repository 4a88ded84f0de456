"""serkit.runs: the folds of a run folder, the fold that held an utterance out, a fold's inputs and outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from serkit.errors import ConfigError, UnknownKeyError
from serkit.runs import Run, fold_dirs


def test_folds_of_a_run_and_their_splits(make_run, synthetic):
    run_dir, labels = make_run("cnn_blstm_attn")
    run = Run(run_dir)
    assert run.fold_names == ["spk0", "spk1"] == list(fold_dirs(run_dir))
    f = run.fold("fold_spk1")  # the folder name works too
    assert f is run.fold("spk1") and f.name == "spk1"  # loaded once
    assert {u.speaker for u in f.test} == {"spk1"} and "spk1" not in {u.speaker for u in f.train}
    assert len(f.all) == len(synthetic) and f.label_names == labels
    assert f.split("train") == f.train
    with pytest.raises(UnknownKeyError, match="spk0"):
        run.fold("spk9")
    with pytest.raises(UnknownKeyError, match="test"):
        f.split("dev")
    with pytest.raises(FileNotFoundError, match="serkit evaluate"):
        Run(run_dir / "nothing")


def test_fold_holding_out_an_utterance(make_run, synthetic):
    run = Run(make_run("cnn_blstm_attn")[0])
    u = next(x for x in synthetic if x.speaker == "spk1")
    fold, found = run.fold_holding_out(u.id)
    assert fold.name == "spk1" and found == u
    assert run.fold_holding_out(u.path)[1] == u  # by file path too
    # with --fold the utterance may be one the fold trained on
    assert run.fold_holding_out(u.id, fold="spk0")[0].name == "spk0"
    other = next(x for x in synthetic if x.speaker == "spk2")  # no fold of this run tests spk2
    with pytest.raises(ConfigError, match="not in the test split of any fold"):
        run.fold_holding_out(other.id)


def test_inputs_standardised_per_speaker_as_in_training(make_run, synthetic):
    from serkit.features.extract import extract_features

    fold = Run(make_run("cnn_blstm_attn")[0]).fold("spk1")
    u = fold.test[0]
    x = fold.features([u])[0]
    # training standardised with all of the speaker's utterances, not with this one alone
    speaker = [v for v in synthetic if v.speaker == u.speaker]
    ref, _ = extract_features(speaker, fold.cfg.features, progress=False)
    np.testing.assert_allclose(x, ref[[v.id for v in speaker].index(u.id)], rtol=0, atol=1e-6)
    alone, _ = extract_features([u], fold.cfg.features, progress=False)
    assert not np.allclose(x, alone[0])


def test_outputs_match_the_model_run_directly(make_run):
    fold = Run(make_run("cnn_bilstm_tf")[0]).fold("spk0")
    utts = fold.test[:3]
    outs = fold.outputs(utts)
    assert {"probs", "embedding", "embeddings", "attn", "inputs"} <= set(outs[0])
    assert {"before_transformer", "after_transformer"} <= set(outs[0]["embeddings"])
    model = fold.model()
    for o in outs:  # batched (padded) outputs equal one-by-one runs
        x = torch.from_numpy(o["inputs"])[None]
        with torch.no_grad():
            ref = torch.softmax(model(x, torch.tensor([x.shape[1]])).logits[0], -1).numpy()
        np.testing.assert_allclose(o["probs"], ref, rtol=0, atol=1e-5)
        assert fold.predicted_label(o) == fold.label_names[int(ref.argmax())]


def test_a_changed_recipe_is_reported(make_run):
    import yaml

    run_dir, _ = make_run("cnn_blstm_attn")
    resolved = run_dir / "fold_spk0" / "resolved.yaml"
    d = yaml.safe_load(resolved.read_text())
    d["eval"]["protocol"] = "speaker_kfold"
    d["eval"]["folds"] = 2
    resolved.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match="was the recipe changed"):
        Run(run_dir).fold("spk0")
