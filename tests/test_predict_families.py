"""``serkit predict --model RUN_DIR`` for every model family of ``configs/``.

Each test writes a tiny recipe of the family over the four EmoDB clips of ``tests/assets``
(1 epoch, random-weight tiny widths), trains it with ``serkit train RECIPE --out RUN`` (the real
code path: feature extraction, training loop or SVM fit, checkpoint), then predicts a real
asset clip with ``serkit predict CLIP --model RUN --format json`` and checks the JSON fields.

Family -> recipes it stands for:
    compact_cnn            configs/default.yaml, configs/cross_corpus/*_plain.yaml
    cnn_blstm_attn         configs/li2019/*.yaml (Li et al. 2019, with the gender head)
    cnn_bilstm_tf          configs/wang2021/*.yaml
    cpc_ccc                configs/li2021/emodb_cpc_frozen.yaml (CPC features), emodb_cpc_finetune.yaml
                           (raw waves, encoder in the model), emodb_mfcc.yaml, iemocap_avd.yaml (A/V/D)
    w2v2_ctc               configs/cai2021/emodb_scratch_w2v2.yaml (raw), emodb_cpc.yaml (CPC frames)
    ks_transformer         configs/chen2022/*_{audio,text,both}.yaml (text: --text, manifest, CTC)
    linear_svm             configs/baseline/*_svm.yaml, configs/cross_corpus/*_svm.yaml
    ensemble               serkit.models.ensemble.merge_checkpoints of trained runs
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from serkit.cli.main import main

CLIP = "08a01Wa.wav"  # EmoDB speaker 08, anger; its sentence is in the tiny BERT's vocabulary
CLIP_TEXT = "Der Lappen liegt auf dem Eisschrank."
AVD_MEAN = (50.0, 40.0, 30.0)  # far from 0 so that a missing de-standardisation cannot pass


def _tiny(module: str, **kw) -> dict:
    from importlib import import_module

    cfg = import_module(f"serkit.models.{module}").tiny_config()
    return {**dataclasses.asdict(cfg), **kw}


def _train(tmp_path: Path, name: str, *, model: dict, features: dict, train: dict | None = None,
           manifest: Path | None = None, assets: Path) -> Path:
    """Write a recipe over the assets, run ``serkit train`` on it; the run folder."""
    recipe = {"data": {"corpus": "manifest", "manifest": str(manifest or assets / "manifest.jsonl")},
              "features": features, "model": model,
              "train": {"epochs": 1, "batch_size": 4, "valid_fraction": 0.0, "num_threads": 1, **(train or {})},
              "eval": {"protocol": "loso"}}
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    run = tmp_path / name
    assert main(["train", str(p), "--out", str(run), "--no-progress"]) == 0
    return run


def _predict(tmp_path: Path, run: Path, *inputs: str, extra: tuple[str, ...] = (), fmt: str = "json",
             rc: int = 0) -> list[dict] | str:
    out = tmp_path / f"pred.{fmt}"
    assert main(["predict", *inputs, "--model", str(run), "--format", fmt, "--out", str(out),
                 "--no-progress", *extra]) == rc
    text = out.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()] if fmt == "json" else text


def _check_result(r: dict, labels: set[str] | None = None) -> None:
    """The JSON fields every file result has (a file with speech)."""
    assert "error" not in r, r.get("error")
    assert r["file"].endswith(".wav") and 1.0 < r["duration"] <= 1.6
    assert r["segments"] and all(s["start"] < s["end"] for s in r["segments"])
    if labels is not None:
        assert r["label"] in labels and set(r["scores"]) == labels
        assert abs(sum(r["scores"].values()) - 1.0) < 1e-3
        assert r["label"] == max(r["scores"], key=r["scores"].get)


LABELS = {"angry", "sad"}


@pytest.mark.parametrize("family", ["compact_cnn", "cnn_blstm_attn", "cnn_bilstm_tf"])
def test_frame_level_cnn_families(family, tmp_path, assets):
    """compact_cnn (default recipe), Li 2019 (gender head trained too) and Wang 2021 on log-Mel."""
    train = {"loss_weights": {"emotion": 1.0, "gender": 0.3}} if family == "cnn_blstm_attn" else {}
    model = _tiny(family, **({"gender_head": True} if family == "cnn_blstm_attn" else {}))
    run = _train(tmp_path, family, model={**model, "name": family}, features={"name": "logmel", "n_mels": 40},
                 train=train, assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP))
    _check_result(r, LABELS)
    assert not {"arousal", "text", "score_kind"} & set(r)  # classification only: no fields added


@pytest.fixture
def cpc_encoder(tmp_path):
    from serkit.features.cpc import CpcModel, tiny_cpc_config
    from serkit.train.cpc import save_cpc

    return save_cpc(tmp_path / "cpc.pt", CpcModel(tiny_cpc_config()))


@pytest.mark.parametrize("variant", ["cpc_frozen", "cpc_finetune", "mfcc"])
def test_li2021_cpc_ccc_classification(variant, tmp_path, assets, cpc_encoder):
    """The three inputs of configs/li2021: frozen CPC features, raw waves through the CPC encoder
    inside the model, MFCCs."""
    model = {**_tiny("cpc_ccc", tasks=["emotion"], frame_stride=2), "name": "cpc_ccc"}
    if variant == "cpc_frozen":
        features = {"name": "cpc", "encoder": str(cpc_encoder)}
    elif variant == "cpc_finetune":
        features, model["encoder"], model["freeze_encoder"] = {"name": "raw"}, str(cpc_encoder), False
    else:
        features = {"name": "mfcc", "n_mfcc": 13, "n_mels": 40}
    run = _train(tmp_path, variant, model=model, features=features, assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP))
    _check_result(r, LABELS)
    assert "arousal" not in r


def test_li2021_dimensional_avd_in_json_and_csv(tmp_path, assets, cpc_encoder):
    """cpc_ccc with the A/V/D head (configs/li2021/iemocap_avd.yaml): arousal, valence and
    dominance come back on the corpus' scale (JSON fields; CSV and table columns)."""
    rows = [json.loads(line) for line in (assets / "manifest.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        row["path"] = str(assets / row["path"])
        row["avd"] = [m + (-1) ** i * (1 + i) * 0.5 for m in AVD_MEAN]  # [a, v, d] around AVD_MEAN
    manifest = tmp_path / "avd.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    model = {**_tiny("cpc_ccc", tasks=["emotion", "avd"], frame_stride=2), "name": "cpc_ccc"}
    run = _train(tmp_path, "avd", model=model, features={"name": "cpc", "encoder": str(cpc_encoder)},
                 train={"loss_weights": {"emotion": 1.0, "avd": 1.0}}, manifest=manifest, assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP))
    _check_result(r, LABELS)
    for k, m in zip(("arousal", "valence", "dominance"), AVD_MEAN, strict=True):
        # standardised outputs of a random-weight head are O(1); de-standardised they sit near
        # the training mean (std of the labels here: ~1.1)
        assert abs(r[k] - m) < 10, (k, r[k])
        assert all(abs(s[k] - m) < 10 for s in r["segments"])
    got = list(csv.DictReader(_predict(tmp_path, run, str(assets / CLIP), fmt="csv").splitlines()))
    assert [float(got[0][k]) for k in ("arousal", "valence", "dominance")] == pytest.approx(
        [r["arousal"], r["valence"], r["dominance"]], abs=1e-4)
    table = _predict(tmp_path, run, str(assets / CLIP), fmt="table")
    assert "arousal" in table.splitlines()[0] and f"{r['arousal']:.3f}" in table


@pytest.fixture
def ctc_run(tmp_path, assets):
    """A trained tiny w2v2_ctc (scratch encoder, raw waves, CTC head on the manifest transcripts)."""
    model = {**_tiny("w2v2_ctc"), "name": "w2v2_ctc", "encoder": "scratch", "mode": "finetune"}
    return _train(tmp_path, "w2v2_ctc", model=model, features={"name": "raw", "max_seconds": None},
                  train={"loss_weights": {"emotion": 1.0, "ctc": 0.1}, "ctc_weighting": "ce_plus_alpha_ctc"},
                  assets=assets)


def test_cai2021_w2v2_ctc_with_transcript(tmp_path, assets, ctc_run):
    (r,) = _predict(tmp_path, ctc_run, str(assets / CLIP), extra=("--transcribe",))
    _check_result(r, LABELS)
    assert isinstance(r["text"], str) and all(isinstance(s["text"], str) for s in r["segments"])
    (plain,) = _predict(tmp_path, ctc_run, str(assets / CLIP))
    assert "text" not in plain and plain["scores"] == r["scores"]


def test_cai2021_w2v2_ctc_on_cpc_frames(tmp_path, assets, cpc_encoder):
    """configs/cai2021/emodb_cpc.yaml: the CPC conv frames cached as features, the GRU in the model."""
    model = {"name": "w2v2_ctc", "encoder": "cpc", "encoder_path": str(cpc_encoder), "mode": "finetune",
             "dropout": 0.0}
    run = _train(tmp_path, "cai_cpc", model=model, features={"name": "cpc", "encoder": str(cpc_encoder), "layer": 0},
                 train={"loss_weights": {"emotion": 1.0, "ctc": 0.1}}, assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP), extra=("--transcribe",))
    _check_result(r, LABELS)
    assert isinstance(r["text"], str)


def _ks(modalities: str, tiny_bert: Path | None) -> dict:
    text = {"text_encoder": str(tiny_bert), "text_dim": 16} if tiny_bert else {"text_encoder": None}
    return {**_tiny("ks_transformer", modalities=modalities, frame_stack=4, **text), "name": "ks_transformer"}


def test_chen2022_ks_audio_only(tmp_path, assets):
    run = _train(tmp_path, "ks_audio", model=_ks("audio", None), features={"name": "logmel", "n_mels": 40},
                 assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP))
    _check_result(r, LABELS)
    assert "text_source" not in r
    # an audio-only model has no use for --text: say so rather than ignore it
    assert main(["predict", str(assets / CLIP), "--model", str(run), "--text", "x"]) == 1


@pytest.mark.parametrize("modalities", ["text", "both"])
def test_chen2022_ks_text_models_take_text_flag_and_manifest(modalities, tmp_path, assets, tiny_bert, capsys):
    run = _train(tmp_path, f"ks_{modalities}", model=_ks(modalities, tiny_bert),
                 features={"name": "logmel", "n_mels": 40}, assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP), extra=("--text", CLIP_TEXT))
    _check_result(r, LABELS)
    assert r["text"] == CLIP_TEXT and r["text_source"] == "given"
    # the transcript reaches the model: another sentence, other scores (text-only: the same audio)
    (other,) = _predict(tmp_path, run, str(assets / CLIP), extra=("--text", "kids are talking by the door"))
    assert other["scores"] != r["scores"]
    # a CSV manifest (path,text) gives each file its own transcript; table and CSV show it
    man = tmp_path / "in.csv"
    man.write_text(f"path,text\n{CLIP},{CLIP_TEXT}\n03a02Wc.wav,kids are talking by the door\n", encoding="utf-8")
    for name in (CLIP, "03a02Wc.wav"):
        (tmp_path / name).write_bytes((assets / name).read_bytes())
    res = _predict(tmp_path, run, str(man))
    assert [Path(x["file"]).name for x in res] == [CLIP, "03a02Wc.wav"]
    assert res[0]["text"] == CLIP_TEXT and res[0]["scores"] == r["scores"]
    assert res[1]["text"] == "kids are talking by the door"
    rows = list(csv.DictReader(_predict(tmp_path, run, str(man), fmt="csv").splitlines()))
    assert rows[0]["text"] == CLIP_TEXT and rows[0]["label"] == r["label"]


def test_chen2022_ks_missing_text_is_a_clear_error(tmp_path, assets, tiny_bert):
    run = _train(tmp_path, "ks_both", model=_ks("both", tiny_bert), features={"name": "logmel", "n_mels": 40},
                 assets=assets)
    res = _predict(tmp_path, run, str(assets / CLIP), str(assets / "03a02Ta.wav"), rc=1)
    assert len(res) == 2
    for r in res:
        assert set(r) == {"file", "error"}
        assert r["error"].startswith(r["file"]) and "--text" in r["error"] and "--text-from ctc:" in r["error"]
    # --text names one file's transcript: two files are refused before anything runs
    assert main(["predict", str(assets / CLIP), str(assets / "03a02Ta.wav"), "--model", str(run),
                 "--text", CLIP_TEXT]) == 1


def test_chen2022_ks_text_from_a_ctc_model(tmp_path, assets, tiny_bert, ctc_run):
    """--text-from ctc:RUN_DIR: each speech segment is transcribed by the Cai 2021 model first."""
    run = _train(tmp_path, "ks_both", model=_ks("both", tiny_bert), features={"name": "logmel", "n_mels": 40},
                 assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP), extra=("--text-from", f"ctc:{ctc_run}"))
    _check_result(r, LABELS)
    assert r["text_source"] == "ctc" and isinstance(r["text"], str)
    (t,) = _predict(tmp_path, ctc_run, str(assets / CLIP), extra=("--transcribe",))
    assert [s["text"] for s in r["segments"]] == [s["text"] for s in t["segments"]]
    # a given transcript wins over the CTC one
    (g,) = _predict(tmp_path, run, str(assets / CLIP), extra=("--text-from", f"ctc:{ctc_run}", "--text", CLIP_TEXT))
    assert g["text_source"] == "given" and g["text"] == CLIP_TEXT
    # a model without a CTC head cannot transcribe
    assert main(["predict", str(assets / CLIP), "--model", str(run), "--text-from", f"ctc:{run}"]) == 1


def test_baseline_linear_svm_on_functionals(tmp_path, assets):
    """configs/baseline: serkit train fits the SVM on eGeMAPS functionals and saves it; predict
    scores each speech segment's functionals and says the scores are SVM margins."""
    pytest.importorskip("opensmile")
    run = _train(tmp_path, "svm", model={"name": "linear_svm", "C": 0.001}, features={"name": "egemaps"},
                 assets=assets)
    (r,) = _predict(tmp_path, run, str(assets / CLIP))
    _check_result(r, LABELS)
    assert r["score_kind"] == "svm_margin_softmax"
    # the saved arrays reproduce the fitted scikit-learn pipeline
    from serkit.config import FeatureConfig
    from serkit.data.audio import load
    from serkit.features.extract import compute_features
    from serkit.models.checkpoint import load_checkpoint

    ck = load_checkpoint(run)
    x = compute_features(load(assets / CLIP), FeatureConfig(name="egemaps"))
    margin = ck.build_model().decision_function(x[None])[0]
    assert ck.label_names == ["angry", "sad"] and margin.shape == (2,)


def test_linear_scorer_equals_the_pipeline_multiclass():
    from serkit.models.classical import LinearScorer, LinearSvmConfig, build_linear_svm

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5)) * [1, 2, 3, 4, 5] + 3
    y = np.array(["c", "a", "b"])[np.arange(60) % 3]
    pipe = build_linear_svm(LinearSvmConfig(C=1.0)).fit(x, y)
    s = LinearScorer.from_state_dict(LinearScorer.from_pipeline(pipe, ["b", "c", "a"]).state_dict())
    np.testing.assert_allclose(s.decision_function(x), pipe.decision_function(x)[:, [1, 2, 0]], rtol=1e-10)
    with pytest.raises(ValueError, match="not among"):
        LinearScorer.from_pipeline(pipe, ["a", "z"])


def test_ensemble_of_trained_runs(tmp_path, assets):
    """Two trained compact_cnn runs merged: the ensemble's file scores are the members' mean."""
    from serkit.models.ensemble import merge_checkpoints

    runs = [_train(tmp_path, f"m{i}", model={**_tiny("compact_cnn"), "name": "compact_cnn"},
                   features={"name": "logmel", "n_mels": 40}, train={"seed": i}, assets=assets) for i in range(2)]
    merged = merge_checkpoints([r / "checkpoint.pt" for r in runs], tmp_path / "ens" / "model.pt").parent
    (r,) = _predict(tmp_path, merged, str(assets / CLIP))
    _check_result(r, LABELS)
    members = [_predict(tmp_path, m, str(assets / CLIP))[0]["scores"] for m in runs]
    assert members[0] != members[1]
    for c in LABELS:
        assert r["scores"][c] == pytest.approx((members[0][c] + members[1][c]) / 2, abs=1e-4)


def test_baseline_svm_evaluate_run_keeps_fold_models_for_predict(tmp_path, assets):
    """serkit evaluate --out of an SVM baseline keeps each fold's model (fold_<speaker>/checkpoint.pt),
    which serkit predict takes like any run folder."""
    pytest.importorskip("opensmile")
    recipe = {"data": {"corpus": "manifest", "manifest": str(assets / "manifest.jsonl")},
              "features": {"name": "egemaps"}, "model": {"name": "linear_svm"}, "eval": {"protocol": "loso"}}
    p = tmp_path / "svm.yaml"
    p.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    assert main(["evaluate", str(p), "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    folds = sorted(x.parent.name for x in (tmp_path / "run").glob("fold_*/checkpoint.pt"))
    assert folds == ["fold_emodb_03", "fold_emodb_08"]
    # the fold that held speaker 03 out predicts speaker 03's clip
    (r,) = _predict(tmp_path, tmp_path / "run" / "fold_emodb_03", str(assets / "03a02Wc.wav"))
    _check_result(r, LABELS)
    assert r["score_kind"] == "svm_margin_softmax"


def test_chen2022_ks_text_in_python_stream_and_manifest_utterances(tmp_path, assets, tiny_bert):
    """The Python API: predict_utterances passes each manifest row's text (serkit evaluate
    --end-to-end), predict_stream pairs every window with the given text, and a missing one raises."""
    from serkit.data.audio import load
    from serkit.data.manifest import read_jsonl
    from serkit.errors import InferenceError
    from serkit.inference import Predictor, predict_utterances

    run = _train(tmp_path, "ks_text", model=_ks("text", tiny_bert), features={"name": "logmel", "n_mels": 40},
                 assets=assets)
    pred = Predictor.load(run, threads=1)
    assert pred.needs_text and not pred.has_avd
    utts = read_jsonl(assets / "manifest.jsonl")
    res = predict_utterances(pred, utts)
    assert all("error" not in r and r["text"] == u.text for r, u in zip(res, utts, strict=True))
    # text only: the two clips with the same sentence get the same scores, another sentence others
    by = {r["id"]: r["scores"] for r in res}
    assert by["emodb_03a02Wc"] == by["emodb_03a02Ta"] != by["emodb_08a01Wa"]
    wins = list(pred.predict_stream(iter([load(assets / CLIP)]), text=CLIP_TEXT))
    assert wins and all(w["scores"] == res[2]["scores"] for w in wins)
    with pytest.raises(InferenceError, match="--text"):
        pred.predict_file(assets / CLIP)
