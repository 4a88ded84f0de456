"""Calibration and cross-corpus scores of trained models, end to end, one file at a time.

For each row (a model and a test set) every test file goes through ``Predictor.predict_file``
(VAD + speech check, segments of at most 6 s, duration-weighted mean of the segment scores) and
the file's scores are compared with its label: UA over the common6 classes, and the expected
calibration error (ECE, 15 bins) of the file scores twice, with the checkpoint's temperature
(``train.calibration``) and with the temperature forced to 1 (the same model uncalibrated). A
reliability diagram of both goes to ``docs/figures/reliability_<key>.png``.

Test sets: ``heldout`` = the model card's held-out speakers (``eval.test_speakers`` of
configs/default.yaml), ``emodb`` / ``ravdess`` = every file of that corpus (for models trained on
the *other* corpus: cross-corpus). Per file: no per-speaker statistics.

The SVM peers of the cross-corpus table come from ``serkit evaluate`` reports of
``configs/cross_corpus/*_svm.yaml`` (``--svm-report``; they have no probabilities, so no ECE).

Usage::

    /work/bin/cpu python benchmarks/calibration.py --row today_heldout "v0.1 default" runs/today/model.pt emodb+ravdess heldout
    python benchmarks/calibration.py --svm-report runs/cross_corpus/emodb_to_ravdess_egemaps_svm.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from docs_section import write_section  # noqa: E402  (benchmarks/ is not a package)

from serkit.config import load_dict  # noqa: E402
from serkit.data.corpora import load_corpus  # noqa: E402
from serkit.data.corpora.common import find_data_root  # noqa: E402
from serkit.eval.metrics import (  # noqa: E402
    calibration_bins,
    ece_consistency,
    expected_calibration_error,
    unweighted_accuracy,
)
from serkit.inference import Predictor  # noqa: E402

SECTION = "## Calibration and cross-corpus scores"
RESULTS = ROOT / "docs" / "results" / "calibration"
FIGURES = ROOT / "docs" / "figures"
TEST_SETS = ("heldout", "emodb", "ravdess")


def test_set(name: str, data_root: Path) -> list:
    """The utterances of a test set (common6 labels)."""
    if name not in TEST_SETS:
        raise SystemExit(f"unknown test set {name!r}; expected one of {list(TEST_SETS)}")
    if name == "heldout":
        d = load_dict(ROOT / "configs" / "default.yaml")
        held = set(d["eval"]["test_speakers"])
        return [u for u in load_corpus("emodb+ravdess", root=data_root, labels="common6") if u.speaker in held]
    return load_corpus(name, root=data_root, labels="common6")


def evaluate(model: str, utts: list) -> dict:
    """UA and ECE (checkpoint temperature and T = 1) of file-level scores."""
    pred = Predictor.load(model, threads=1)
    labels = pred.label_names
    idx = {c: i for i, c in enumerate(labels)}
    t_model = float(getattr(pred.backend, "temperature", 1.0))
    rows = {"calibrated": [], "uncalibrated": []}
    truth, no_speech = [], 0
    for u in tqdm(utts, desc="files", mininterval=10):
        for kind, t in (("calibrated", t_model), ("uncalibrated", 1.0)):
            if kind == "uncalibrated" and t_model == 1.0:
                continue
            pred.backend.temperature = t
            r = pred.predict_file(u.path)
            rows[kind].append(None if r.get("no_speech") else [r["scores"][c] for c in labels])
        truth.append(u.emotion)
    pred.backend.temperature = t_model
    if t_model == 1.0:
        rows["uncalibrated"] = rows["calibrated"]
    out: dict = {"temperature": t_model, "n": len(utts), "labels": labels}
    for kind, sc in rows.items():
        ok = [i for i, s in enumerate(sc) if s is not None]
        no_speech = len(sc) - len(ok)
        probs = np.array([sc[i] for i in ok])
        y = [idx[truth[i]] for i in ok]
        got = [labels[int(np.argmax(sc[i]))] if sc[i] is not None else "(no speech)" for i in range(len(sc))]
        b = calibration_bins(probs, y)
        ece = expected_calibration_error(probs, y)
        out[kind] = {"ua": unweighted_accuracy(truth, got, [c for c in labels if c in set(truth)]),
                     "ece": ece, "no_speech": no_speech, "consistency": ece_consistency(probs, observed=ece),
                     "bins": {k: [None if np.isnan(v) else float(v) for v in b[k]] for k in ("confidence", "accuracy")}
                     | {"count": [int(c) for c in b["count"]]}}
    return out


DEV_SPEAKERS = ("emodb_09", "emodb_10", "ravdess_05", "ravdess_06", "ravdess_07", "ravdess_08")


class _Recorder:
    """Wraps a Predictor's backend at T = 1 and keeps every segment's probabilities (unrounded)."""

    def __init__(self, backend) -> None:
        self.backend, self.seen = backend, []
        self.kind, self.takes_norm_stats = backend.kind, backend.takes_norm_stats
        self.rep_levels, self.last_ctc = (), None

    def input_stats(self):
        return self.backend.input_stats()

    def __call__(self, x, lengths, **kw):
        probs, avd = self.backend(x, lengths, **kw)
        self.seen.append(probs.astype(np.float64))
        return probs, avd


def fit_file_temperature(model: str, utts: list) -> dict:
    """The temperature that minimises the NLL of the *file* scores (duration-weighted mean of segment softmaxes).

    ``serkit predict`` reports file scores that average several segments, so a temperature fitted on
    whole-utterance logits is not the one that calibrates them. The segment log-probabilities at
    T = 1 are recorded once (end to end, as ``Predictor.predict_file``), and the file scores of any
    T are recomputed exactly from them: ``p_file(T) = sum_s w_s softmax(log p_s / T)``. Grid
    search over T in [0.5, 5] (step 0.01). Only development speakers' files may be passed here.
    """
    from serkit.train.calibration import MIN_CALIBRATION_ITEMS

    pred = Predictor.load(model, threads=1)
    pred.backend.temperature = 1.0
    rec = _Recorder(pred.backend)
    pred.backend = rec
    labels = pred.label_names
    files = []
    for u in tqdm(utts, desc="dev files", mininterval=10):
        rec.seen = []
        r = pred.predict_file(u.path)
        if r.get("no_speech"):
            continue
        z = np.log(np.clip(np.concatenate(rec.seen), 1e-12, None))  # (S, C) = logits + a constant per segment
        w = np.array([max(sg["end"] - sg["start"], 1e-3) for sg in r["segments"]])
        files.append((z, w / w.sum(), labels.index(u.emotion)))
    if len(files) < MIN_CALIBRATION_ITEMS:
        raise SystemExit(f"only {len(files)} development files with speech; need {MIN_CALIBRATION_ITEMS}")

    def file_probs(t: float) -> np.ndarray:
        out = []
        for z, w, _ in files:
            e = np.exp((z - z.max(1, keepdims=True)) / t)
            out.append((w[:, None] * e / e.sum(1, keepdims=True)).sum(0))
        return np.array(out)

    y = np.array([f[2] for f in files])
    grid = np.round(np.arange(0.5, 5.0001, 0.01), 2)
    nll = [float(-np.mean(np.log(np.clip(file_probs(t)[np.arange(len(y)), y], 1e-12, None)))) for t in grid]
    best = float(grid[int(np.argmin(nll))])
    p_best = file_probs(best)
    ece_best = expected_calibration_error(p_best, y)
    return {"model": model, "n_files": len(files), "temperature": best, "nll_T1": nll[int(np.where(grid == 1.0)[0][0])],
            "nll_T": min(nll), "ece_T1": expected_calibration_error(file_probs(1.0), y),
            "ece_T": ece_best, "ece_T_consistency": ece_consistency(p_best, observed=ece_best),
            "fitted_on": "dev speakers " + ", ".join(DEV_SPEAKERS) + " (file scores end to end, never a test speaker)"}


def table(results: dict[str, dict], svms: list[dict]) -> str:
    lines = [
        SECTION, "",
        "Command: `python benchmarks/calibration.py --row KEY NAME MODEL TRAINED_ON TESTSET` (one JSON per row in "
        "`docs/results/calibration/`, this section rebuilt from all of them). End to end through "
        "`Predictor.predict_file`, one file at a time (no per-speaker statistics), common6 labels. "
        "`heldout` = the model card's held-out speakers (300 files); `emodb` (454 files) / `ravdess` "
        "(1040 files) = a whole corpus, for models trained on the other one (cross-corpus). ECE = expected "
        "calibration error of the file scores (15 bins), with the checkpoint's temperature and with T = 1 "
        "(the same model uncalibrated; equal when the model has no temperature). Files that come out "
        "`no_speech` count as wrong for UA and are left out of the ECE. Reliability diagrams: "
        "`docs/figures/reliability_<key>.png`. *Perfectly calibrated*: the ECE a perfectly calibrated model with "
        "the same scores would show on a test set of this size, mean and 95th percentile over 2000 consistency "
        "resamples (Bröcker and Smith 2007; `serkit.eval.metrics.ece_consistency`): 15-bin ECE on 300 files is "
        "biased upwards, so an ECE below the 95th percentile is consistent with perfect calibration (rows "
        "measured before this column existed show `-`). Caveat on the cross-corpus rows of the new recipe: their T (1.65) "
        "is the recipe's temperature fitted on the pooled dev speakers (emodb_09, emodb_10, ravdess_05-08), "
        "some of whom belong to the cross-corpus test corpus; their honest figure is the `ECE at T = 1` "
        "column (UA does not depend on T). The SVM peers (`configs/cross_corpus/*_svm.yaml`, C = 0.001 "
        "fixed, `serkit evaluate`) give labels, not probabilities.", "",
        "| model | trained on | test set | files | UA | ECE | perfectly calibrated: ECE mean / 95 % | ECE at T = 1 | T | no speech |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    order = {"heldout": 0, "ravdess": 1, "emodb": 2}
    for r in sorted(results.values(), key=lambda r: (order.get(r["test_set"], 3), r["name"])):
        c, u = r["calibrated"], r["uncalibrated"]
        k = c.get("consistency")
        floor = f"{k['mean']:.3f} / {k['p95']:.3f}" if k else "-"
        lines.append(f"| {r['name']} | {r.get('trained_on', '')} | {r['test_set']} | {r['n']} | {c['ua']:.3f} | "
                     f"{c['ece']:.3f} | {floor} | {u['ece']:.3f} | {r['temperature']:.2f} | {c['no_speech']} |")
    for s in svms:
        for corpus, sc in s["cross_corpus"]["per_corpus"].items():
            lines.append(f"| {s['features']} functionals + linear SVM (per file) | "
                         f"{'+'.join(s['cross_corpus']['train_corpora'])} | {corpus} | "
                         f"{s['folds'][0]['n_test']} | {sc['ua']:.3f} | - | - | - | - | - |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--row", nargs=5, action="append", default=[],
                    metavar=("KEY", "NAME", "MODEL", "TRAINED_ON", "TESTSET"),
                    help="a model, the corpora it was trained on (for the table) and a test set "
                         "(heldout, emodb, ravdess)")
    ap.add_argument("--svm-report", action="append", default=[], help="serkit evaluate JSON of a cross-corpus SVM")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N test files only (smoke runs)")
    ap.add_argument("--fit-file-temperature", default=None, metavar="DEV_MODEL",
                    help="fit the temperature of the file scores on the dev speakers with this model (trained "
                         "without them, e.g. the dev-split model of the recipe); writes --results/file_temperature.json "
                         "and, with --set-on, stores it in those checkpoints")
    ap.add_argument("--set-on", nargs="*", default=[], metavar="CHECKPOINT",
                    help="checkpoints to store the fitted file temperature in")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("--figures", default=str(FIGURES))
    args = ap.parse_args(argv)
    from serkit.viz.reliability import plot_reliability

    root = find_data_root(args.data_root)
    res = Path(args.results)
    res.mkdir(parents=True, exist_ok=True)
    if args.fit_file_temperature:
        from serkit.models.checkpoint import load_checkpoint

        dev = [u for u in load_corpus("emodb+ravdess", root=root, labels="common6") if u.speaker in DEV_SPEAKERS]
        fit = fit_file_temperature(args.fit_file_temperature, dev[: args.limit])
        (res.parent / "file_temperature.json").write_text(json.dumps(fit, indent=2), encoding="utf-8")
        print(json.dumps(fit, indent=2), flush=True)
        for ck_path in args.set_on:
            ck = load_checkpoint(ck_path)
            ck.temperature = fit["temperature"]
            ck.extra["calibration"] = {"method": "temperature (file scores)", "temperature": fit["temperature"],
                                       "fitted_on": fit["fitted_on"], "fitted_by": f"{fit['model']}, "
                                       "benchmarks/calibration.py --fit-file-temperature (file-score NLL, grid 0.01)",
                                       "n": fit["n_files"], "dev_nll_T1": fit["nll_T1"], "dev_nll_T": fit["nll_T"]}
            ck.save(ck_path)
            print(f"temperature {fit['temperature']} stored in {ck_path}")
        if not args.row:
            return 0
    for key, name, model, trained_on, ts in args.row:
        t0 = time.time()
        r = evaluate(model, test_set(ts, root)[: args.limit])
        r.update(name=name, model=model, test_set=ts, trained_on=trained_on, wall_s=round(time.time() - t0, 1))
        (res / f"{key}.json").write_text(json.dumps(r, indent=2), encoding="utf-8")
        curves = {f"T = {r['temperature']:.2f}": r["calibrated"]["bins"]}
        ece = {f"T = {r['temperature']:.2f}": r["calibrated"]["ece"]}
        if r["temperature"] != 1.0:
            curves["T = 1 (uncalibrated)"] = r["uncalibrated"]["bins"]
            ece["T = 1 (uncalibrated)"] = r["uncalibrated"]["ece"]
        plot_reliability({k: {kk: np.array(v, dtype=float) for kk, v in b.items()} for k, b in curves.items()},
                         Path(args.figures) / f"reliability_{key}.png", title=f"{name} on {ts}", ece=ece,
                         band=f"T = {r['temperature']:.2f}")
        print(f"{key}: UA {r['calibrated']['ua']:.3f} ECE {r['calibrated']['ece']:.3f} "
              f"(T=1: {r['uncalibrated']['ece']:.3f})", flush=True)
    svm_dir = res / "svm"
    for p in args.svm_report:
        svm_dir.mkdir(exist_ok=True)
        d = json.loads(Path(p).read_text())
        keep = {k: d[k] for k in ("features", "model", "cross_corpus", "folds", "labels", "protocol_name")}
        (svm_dir / Path(p).name).write_text(json.dumps(keep, indent=2), encoding="utf-8")
    allr = {p.stem: json.loads(p.read_text()) for p in sorted(res.glob("*.json"))}
    svms = [json.loads(p.read_text()) for p in sorted(svm_dir.glob("*.json"))] if svm_dir.is_dir() else []
    md = table(allr, svms)
    write_section(Path(args.out), md.splitlines()[0], md)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
