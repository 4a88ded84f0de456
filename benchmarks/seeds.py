"""Seed-averaged scores of one system from several ``serkit evaluate --json`` reports (one per
``train.seed``, same recipe and folds), with paired tests against a baseline report.

Run: python benchmarks/seeds.py --baseline docs/results/emodb_compare_svm.json \\
         --json docs/results/seeds/li2019_emodb.json RUN.seed0.json RUN.seed1.json RUN.seed2.json

Prints and writes (``--json``):
- per fold: the UA (WA, macro-F1) of every seed and their mean, the *seed-averaged* score;
- mean ± std over folds of the seed-averaged scores (population std over folds, as every table
  of docs/results.md);
- std over seeds of the fold means (sample std, ddof = 1): the training seed's noise;
- paired comparison with the baseline on the same folds: mean difference of the seed-averaged UA,
  folds better, two-sided sign test and Wilcoxon signed-rank test over the folds (the baseline may
  also be another system's summary written by --json: then its seed-averaged UA is compared);
- for reference, the UA of the *seed ensemble* (class probabilities averaged over the seeds, read
  from each report's ``.predictions.csv``): a different system (an ensemble), reported apart.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

METRICS = ("ua", "wa", "f1")


def _report(path: Path) -> dict:
    d = json.loads(path.read_text())
    if not d.get("folds"):
        raise SystemExit(f"{path}: no folds; pass serkit evaluate --json reports")
    return d


def _paired(diffs: list[float]) -> dict:
    from scipy.stats import binomtest, wilcoxon

    better = sum(v > 0 for v in diffs)
    nonzero = sum(v != 0 for v in diffs)
    return {"mean_difference": float(np.mean(diffs)), "folds_better": better, "folds_worse": sum(v < 0 for v in diffs),
            "n_folds": len(diffs), "sign_test_p": float(binomtest(better, nonzero).pvalue) if nonzero else 1.0,
            "wilcoxon_p": float(wilcoxon(diffs).pvalue) if nonzero else 1.0}


def _ensemble_ua(paths: list[Path], labels: list[str]) -> dict[str, float] | None:
    """Per-fold UA of the seeds' averaged class probabilities (None without prediction CSVs)."""
    from serkit.eval.metrics import classification_scores

    probs: dict[str, list[np.ndarray]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for p in paths:
        csv_path = p.with_name(p.stem + ".predictions.csv")
        if not csv_path.is_file():
            return None
        with open(csv_path, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if not r.get(f"p_{labels[0]}"):
                    return None
                probs.setdefault(r["id"], []).append(np.array([float(r[f"p_{c}"]) for c in labels]))
                meta[r["id"]] = (r["fold"], r["true"])
    out: dict[str, float] = {}
    for fold in sorted({m[0] for m in meta.values()}):
        ids = [i for i, m in meta.items() if m[0] == fold and m[1] and len(probs[i]) == len(paths)]
        y = [meta[i][1] for i in ids]
        yp = [labels[int(np.argmax(np.mean(probs[i], 0)))] for i in ids]
        out[fold] = classification_scores(y, yp, labels)["ua"]
    return out


def summarise(paths: list[Path], baseline: Path | None = None) -> dict:
    """The seed summary of reports ``paths`` (see the module docstring)."""
    reps = [_report(p) for p in paths]
    folds = [f["name"] for f in reps[0]["folds"]]
    for p, r in zip(paths, reps, strict=True):
        if [f["name"] for f in r["folds"]] != folds:
            raise SystemExit(f"{p}: folds {[f['name'] for f in r['folds']]} differ from {paths[0]}'s {folds}")
    seeds = [r["config"]["train"]["seed"] for r in reps]
    per = {m: np.array([[f["scores"][m] for f in r["folds"]] for r in reps]) for m in METRICS}  # (seeds, folds)
    out: dict = {
        "reports": [str(p) for p in paths], "seeds": seeds, "folds": folds,
        "protocol": f"{reps[0]['corpus']} {reps[0].get('label_set')}, {reps[0]['protocol_name']}, {len(folds)} folds",
        "per_fold": {m: {fold: [float(v) for v in per[m][:, j]] for j, fold in enumerate(folds)} for m in METRICS},
        "seed_averaged": {}, "std_over_seeds": {},
        "wall_time_s": [r.get("wall_time_s") for r in reps],
        "epochs_run": [[f.get("extra", {}).get("epochs") for f in r["folds"]] for r in reps],
    }
    for m in METRICS:
        avg = per[m].mean(0)  # (folds,) seed-averaged score of each fold
        out["seed_averaged"][m] = {"mean": float(avg.mean()), "std_over_folds": float(avg.std()),
                                   "per_fold": dict(zip(folds, (float(v) for v in avg), strict=True))}
        fold_means = per[m].mean(1)  # (seeds,)
        out["std_over_seeds"][m] = {"fold_means": [float(v) for v in fold_means],
                                    "std": float(fold_means.std(ddof=1)) if len(fold_means) > 1 else 0.0}
    ens = _ensemble_ua(paths, reps[0]["labels"])
    if ens is not None:
        v = np.array([ens[f] for f in folds])
        out["seed_ensemble_ua"] = {"mean": float(v.mean()), "std_over_folds": float(v.std()), "per_fold": ens}
    if baseline is not None:
        b = json.loads(Path(baseline).read_text())
        if "seed_averaged" in b:  # another system's summary written by this script: its seed-averaged UA
            bua = b["seed_averaged"]["ua"]["per_fold"]
        else:
            b = _report(baseline)
            bua = {f["name"]: f["scores"]["ua"] for f in b["folds"]}
        missing = [f for f in folds if f not in bua]
        if missing:
            raise SystemExit(f"{baseline}: has no folds {missing}; compare reports of the same protocol")
        avg = out["seed_averaged"]["ua"]["per_fold"]
        out["baseline"] = {"report": str(baseline), "ua_mean": float(np.mean([bua[f] for f in folds])),
                           "seed_averaged_minus_baseline": _paired([avg[f] - bua[f] for f in folds])}
        if ens is not None:
            out["baseline"]["seed_ensemble_minus_baseline"] = _paired([ens[f] - bua[f] for f in folds])
    return out


def text(s: dict) -> str:
    """Human-readable summary."""
    lines = [f"{len(s['seeds'])} seeds (train.seed {s['seeds']}); {s['protocol']}"]
    for m in METRICS:
        a, sd = s["seed_averaged"][m], s["std_over_seeds"][m]
        lines.append(f"  {m}: {a['mean']:.3f} ± {a['std_over_folds']:.3f} (mean ± std over folds of the seed-averaged "
                     f"scores); std over seeds {sd['std']:.3f} (fold means {', '.join(f'{v:.3f}' for v in sd['fold_means'])})")
    if "seed_ensemble_ua" in s:
        e = s["seed_ensemble_ua"]
        lines.append(f"  seed ensemble (probabilities averaged), UA {e['mean']:.3f} ± {e['std_over_folds']:.3f}")
    if "baseline" in s:
        b = s["baseline"]
        for k, name in (("seed_averaged_minus_baseline", "seed-averaged"), ("seed_ensemble_minus_baseline", "seed ensemble")):
            if k in b:
                p = b[k]
                lines.append(f"  {name} - baseline ({b['report']}, UA {b['ua_mean']:.3f}): {p['mean_difference']:+.3f}, "
                             f"better on {p['folds_better']}/{p['n_folds']} folds, worse on {p['folds_worse']} "
                             f"(sign test p = {p['sign_test_p']:.3f}, Wilcoxon p = {p['wilcoxon_p']:.3f})")
    lines.append("  per fold UA (seeds -> mean): " + "; ".join(
        f"{f} {'/'.join(f'{v:.3f}' for v in s['per_fold']['ua'][f])} -> {s['seed_averaged']['ua']['per_fold'][f]:.3f}"
        for f in s["folds"]))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("reports", nargs="+", type=Path, help="serkit evaluate --json reports, one per seed")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="report of the system to compare with (same folds), or its --json summary of seeds")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    a = ap.parse_args(argv)
    s = summarise(a.reports, a.baseline)
    print(text(s))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(s, indent=1) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
