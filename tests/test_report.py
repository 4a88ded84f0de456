"""Reports: header facts, per-fold table with mean ± std, JSON keys, predictions CSV, PNG."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from serkit.eval.report import FoldResult, Prediction, Report
from serkit.viz.confusion import save_report_figures


def _report(speaker_dependent: bool = False) -> Report:
    preds = [Prediction("u1", "s1", "s1", "angry", "angry"), Prediction("u2", "s1", "s1", "sad", "angry"),
             Prediction("u3", "s2", "s2", "angry", "angry"), Prediction("u4", "s2", "s2", "sad", "sad")]
    folds = [FoldResult("s1", 2, 2, ["s1"], {"ua": 0.5, "wa": 0.5, "f1": 1 / 3}),
             FoldResult("s2", 2, 2, ["s2"], {"ua": 1.0, "wa": 1.0, "f1": 1.0})]
    return Report(corpus="toy", label_set="2class", labels=["angry", "sad"], protocol="loso",
                  protocol_name="leave-one-speaker-out", speaker_dependent=speaker_dependent, seed=7,
                  n_utterances=4, features="egemaps", model="linear_svm", folds=folds, predictions=preds,
                  notes=["a note"])


def test_mean_std_pooled_confusion():
    r = _report()
    assert r.metric_names == ["ua", "wa", "f1"]
    assert r.mean()["ua"] == pytest.approx(0.75) and r.std()["ua"] == pytest.approx(0.25)
    assert r.pooled()["wa"] == pytest.approx(0.75)
    np.testing.assert_array_equal(r.confusion_matrix(), [[2, 0], [1, 1]])


def test_header_and_table_carry_the_facts():
    r = _report()
    t = r.to_table()
    for s in ["corpus=toy", "labels=2class", "angry, sad", "leave-one-speaker-out", "2 folds",
              "speaker-independent", "utterances=4", "seed=7", "note: a note", "mean ± std over 2 folds"]:
        assert s in t, s
    lines = t.splitlines()
    assert lines[2].startswith("s1") and lines[3].startswith("s2")
    assert "0.7500±0.2500" in lines[4]
    dep = _report(speaker_dependent=True)
    assert "speaker-DEPENDENT" in dep.header() and "speaker-DEPENDENT" in dep.to_table()


def test_header_names_the_training_seed_when_it_differs_from_the_split_seed():
    from dataclasses import replace

    r = _report()
    assert "train seed" not in r.header() and r.to_dict()["train_seed"] is None
    assert "train seed" not in replace(r, train_seed=7).header()
    seeded = replace(r, train_seed=8)
    assert "seed=7, train seed=8 |" in seeded.header() and seeded.to_dict()["train_seed"] == 8


def test_save_json_csv_png(tmp_path):
    r = _report()
    paths = r.save(tmp_path / "out" / "rep.json")
    assert "confusion" not in paths  # the report draws nothing: figures come from viz
    paths.update(save_report_figures(r, tmp_path / "out" / "rep.json"))
    d = json.loads(paths["json"].read_text())
    for k in ["protocol", "corpus", "labels", "folds", "mean", "std", "seed", "n_utterances", "label_set",
              "speaker_independent", "confusion", "pooled"]:
        assert k in d, k
    assert set(d["mean"]) == {"ua", "wa", "f1"} and set(d["std"]) == {"ua", "wa", "f1"}
    assert d["folds"][0]["name"] == "s1" and d["folds"][1]["scores"]["ua"] == 1.0
    assert d["speaker_independent"] is True
    png = paths["confusion"]
    assert png == tmp_path / "out" / "rep.confusion.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(paths["predictions"].open()))
    assert [(x["id"], x["true"], x["pred"]) for x in rows][1] == ("u2", "sad", "angry")


def test_dimensional_report():
    folds = [FoldResult("Test1", 5, 3, ["a"], {"ccc_arousal": 0.5, "ccc_valence": 0.2, "ccc_dominance": 0.4})]
    preds = [Prediction(f"u{i}", "Test1", "a", None, None, avd_true=[i, i, i], avd_pred=[i, -i, 2 * i])
             for i in range(3)]
    r = Report(corpus="msp_podcast", label_set=None, labels=[], protocol="official", protocol_name="official partition",
               speaker_dependent=False, seed=0, n_utterances=8, features="logmel", model="m", folds=folds,
               predictions=preds)
    assert r.metric_names == ["ccc_arousal", "ccc_valence", "ccc_dominance"]
    assert r.pooled()["ccc_arousal"] == pytest.approx(1.0)
    assert "CCC_AROUSAL" in r.to_table()


def test_single_fold_says_1_fold_without_a_std():
    """Issue 17: a one-fold run printed `1 folds` and `±0.0000`."""
    import dataclasses

    r = _report()
    one = dataclasses.replace(r, folds=r.folds[:1], predictions=r.predictions[:2])
    t = one.to_table()
    assert "1 fold," in t and "1 folds" not in t and "±" not in t
    assert "(scores of 1 fold; no std)" in t and "(1 fold)" in one.short_title() and "±" not in one.short_title()


def test_partial_run_says_so_in_header_notes_and_json():
    import dataclasses

    r = dataclasses.replace(_report(), folds_total=10, notes=["partial run: only folds ['s1', 's2'] of 10"])
    assert "PARTIAL RUN: 2 of 10 folds" in r.header() and "(4 of them tested)" in r.header()
    d = r.to_dict()
    assert d["partial"] is True and d["n_folds_protocol"] == 10 and d["n_folds"] == 2
    assert "partial run" in r.to_table()
    full = _report().to_dict()
    assert full["partial"] is False and full["n_folds_protocol"] == 2


def test_table_has_per_class_recall_and_confusion_text():
    t = _report().to_table()
    assert "per-class recall" in t and "angry 1.000" in t and "sad 0.500" in t
    rows = t.splitlines()
    i = next(n for n, x in enumerate(rows) if x.startswith("confusion matrix"))
    assert rows[i + 2].split() == ["angry", "2", "0"] and rows[i + 3].split() == ["sad", "1", "1"]
