"""Nested cross-validation of the linear SVM's C for a baseline recipe (no test-speaker tuning).

For every outer fold of the recipe's protocol, C is chosen by an inner leave-one-speaker-out
(or speaker-grouped k-fold) search over the *training* speakers only, scored by UA (balanced
accuracy); the model refitted on all training speakers with that C is then tested once on the
held-out speaker(s). This checks that the recipe's fixed C is not a choice made on test data.

    python benchmarks/nested_c.py configs/baseline/emodb_compare_svm.yaml \
        --grid 1e-4 1e-3 1e-2 1e-1 --json docs/results/emodb_compare_svm_nested.json
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold, LeaveOneGroupOut

from serkit.cli.common import load_recipe
from serkit.data.corpora import corpus_spec
from serkit.data.splits import recipe_folds, recipe_protocol_name
from serkit.eval.report import Prediction, Report
from serkit.experiment import _fold_result, load_data
from serkit.features.extract import extract_features
from serkit.models import build_model
from serkit.viz.confusion import save_report_figures


def main() -> None:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--grid", type=float, nargs="+", default=[1e-4, 1e-3, 1e-2, 1e-1])
    ap.add_argument("--inner-folds", type=int, default=0,
                    help="0 = leave one training speaker out; k = speaker-grouped k-fold")
    ap.add_argument("--json", default=None)
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()

    t0 = time.time()
    cfg = load_recipe(args.config, [])
    mcfg = cfg.model
    utts, labels = load_data(cfg, data_root=args.data_root)
    spec = corpus_spec(cfg.data.corpus)
    folds = recipe_folds(cfg, utts)
    feats, errors = extract_features(utts, cfg.features, progress=True)
    by_id = {u.id: u for u in utts}
    X = {u.id: x for u, x in zip(utts, feats, strict=True) if x is not None}
    results, preds, chosen = [], [], []
    for f in folds:
        tr = [i for i in f.train if i in X]
        te = [i for i in f.test if i in X]
        xtr, ytr = np.stack([X[i] for i in tr]), [by_id[i].emotion for i in tr]
        groups = [by_id[i].speaker for i in tr]
        inner = LeaveOneGroupOut() if args.inner_folds == 0 else GroupKFold(n_splits=args.inner_folds)
        search = GridSearchCV(build_model(mcfg, seed=cfg.eval.seed), {"svm__C": args.grid}, cv=inner,
                              scoring="balanced_accuracy", n_jobs=1)
        search.fit(xtr, ytr, groups=groups)
        c = search.best_params_["svm__C"]
        chosen.append(c)
        clf = build_model(replace(mcfg, C=c), seed=cfg.eval.seed).fit(xtr, ytr)
        yp = clf.predict(np.stack([X[i] for i in te]))
        fp = [Prediction(i, f.name, by_id[i].speaker, by_id[i].emotion, str(p)) for i, p in zip(te, yp, strict=True)]
        preds += fp
        r = _fold_result(f.name, len(tr), [by_id[i] for i in te], fp, labels)
        r.extra["C"] = c
        r.extra["inner_ua"] = {str(cc): float(s) for cc, s in zip(args.grid, search.cv_results_["mean_test_score"], strict=True)}
        results.append(r)
        print(f"{f.name}: C={c:g} inner UA={search.best_score_:.4f} test UA={r.scores['ua']:.4f}", flush=True)
    inner_name = "leave-one-training-speaker-out" if args.inner_folds == 0 else f"{args.inner_folds}-fold grouped"
    report = Report(
        corpus=cfg.data.corpus, label_set=cfg.data.labels or spec.default_labels, labels=labels,
        protocol=cfg.eval.protocol, protocol_name=recipe_protocol_name(cfg), speaker_dependent=False,
        seed=cfg.eval.seed, n_utterances=len(utts), features=cfg.features.name, model=mcfg.name,
        folds=results, predictions=preds, wall_time_s=round(time.time() - t0, 1), config=cfg.to_dict(),
        notes=[f"C chosen per outer fold from {args.grid} by {inner_name} CV on the training speakers "
               f"(UA); chosen: {chosen}",
               "features standardised per speaker (each test speaker's own unlabelled audio)"]
        + ([f"{len(errors)} files skipped"] if errors else []),
    )
    print(report.to_table())
    if args.json:
        paths = report.save(args.json)
        paths.update(save_report_figures(report, args.json))
        print("wrote " + ", ".join(str(p) for p in paths.values()))


if __name__ == "__main__":
    main()
