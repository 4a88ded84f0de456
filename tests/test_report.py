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
