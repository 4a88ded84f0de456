"""Nested hyper-parameter search with Optuna: in every outer fold, the candidates are compared on
development speakers drawn from that fold's *training* speakers; the test speakers are used once,
by the chosen candidate.

Run: python benchmarks/search.py configs/li2019/emodb.yaml --trials 3 \\
         --reuse runs/seeds/li2019_emodb_s0 --json docs/results/search/li2019_emodb.json

Per outer fold: an Optuna study (TPE sampler, seeded) whose first trial is the recipe's own values;
every trial trains the recipe with the trial's values through the one training loop
(:func:`serkit.train.loop.fit`), which holds out the development speakers
(``train.valid_fraction``, ``train.valid_seed``) and keeps the epoch with the best development UA
(early stopping, ``train.patience``). The trial's objective is that development UA. The model of the
best trial predicts the fold's test speakers; it is not retrained (so the number of epochs is chosen
on the development speakers too). With ``--reuse RUN`` the first trial (the recipe's values) is read
from the fold checkpoints of a finished ``serkit evaluate RECIPE --out RUN`` instead of trained
again (its config must be the trial's).

The space (``SPACE``) is small on purpose: a few trials per fold on two CPU cores. With fewer trials
than the TPE sampler's start-up trials (10), the sampler draws at random; say so when reporting.
Needs the ``search`` extra (``pip install 'serkit[search]'``, Optuna).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

#: the search space: dotted recipe key -> ("log", low, high) | ("cat", choices)
SPACE: dict[str, tuple] = {
    "train.lr": ("log", 3e-4, 3e-3),
    "model.lstm_hidden": ("cat", (32, 64)),
    "model.dropout": ("cat", (0.2, 0.3, 0.4)),
    "train.class_weighted": ("cat", (False, True)),
}

log = logging.getLogger("search")


def _get(d: dict, key: str):
    for k in key.split("."):
        d = d.get(k, {}) if isinstance(d, dict) else {}
    return d if d != {} else None


def recipe_values(recipe: dict, space: dict[str, tuple]) -> dict:
    """The recipe's own value of every searched key (the first, enqueued trial)."""
    from serkit.experiment import recipe_from_dict

    resolved = recipe_from_dict(recipe).to_dict()
    return {k: _get(resolved, k) for k in space}


def suggest(trial, space: dict[str, tuple]) -> dict:
    """The trial's values."""
    out = {}
    for k, spec in space.items():
        if spec[0] == "log":
            out[k] = trial.suggest_float(k, spec[1], spec[2], log=True)
        else:
            out[k] = trial.suggest_categorical(k, list(spec[1]))
    return out


def run(recipe_path: str, *, overrides: list[str], trials: int, reuse: str | None, out: Path | None,
        seed: int = 0, space: dict[str, tuple] | None = None, only_folds: list[str] | None = None,
        progress: bool = False) -> dict:
    """The nested search; returns the JSON-ready result (report + per-fold choices)."""
    try:
        import optuna
    except ImportError:
        raise SystemExit("benchmarks/search.py needs Optuna: pip install 'serkit[search]'") from None
    from serkit.config import apply_overrides, load_dict
    from serkit.eval.metrics import classification_scores
    from serkit.eval.report import FoldResult
    from serkit.experiment import FoldRun, plan_experiment, recipe_diff, recipe_from_dict, report_of
    from serkit.models.checkpoint import load_model
    from serkit.train.loop import TrainResult, fit, predict_prepared, prepare

    space = space or SPACE
    base = apply_overrides(load_dict(recipe_path), list(overrides))
    cfg0 = recipe_from_dict(base)
    if cfg0.train.valid_fraction <= 0:
        raise SystemExit("the search needs development speakers: set train.valid_fraction > 0")
    plan = plan_experiment(cfg0, progress=progress)
    folds = [i for i, f in enumerate(plan.folds) if not only_folds or f.name in only_folds]
    by_id, labels = plan.by_id, plan.labels
    first = recipe_values(base, space)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    runs, choices = [], {}
    for i in folds:
        f = plan.folds[i]
        train, test = [by_id[u] for u in f.train], [by_id[u] for u in f.test]
        fitted_of: dict[int, TrainResult] = {}
        cfg_of: dict[int, object] = {}
        meta: dict[int, dict] = {}

        def objective(trial, f=f, train=train, fitted_of=fitted_of, cfg_of=cfg_of, meta=meta) -> float:
            values = suggest(trial, space)
            c = recipe_from_dict(apply_overrides(json.loads(json.dumps(base)), [f"{k}={v}" for k, v in values.items()]))
            t0 = time.time()
            ck_path = Path(reuse) / f"fold_{f.name}" / "checkpoint.pt" if reuse and trial.number == 0 else None
            if ck_path is not None and ck_path.is_file():
                model, ck = load_model(ck_path)
                diff = recipe_diff(c, ck.config)  # settings added since that run count as their defaults
                if diff:
                    raise SystemExit(f"{ck_path}: --reuse run differs from the recipe in {diff}")
                res = TrainResult(model, ck, list(ck.extra.get("history") or []), 0.0)
                source = f"reused {ck_path}"
            else:
                res = fit(c, train, labels=labels, progress=progress,
                          out_dir=out / f"fold_{f.name}" / f"trial{trial.number}" if out else None,
                          desc=f"fold {f.name} trial {trial.number}").result
                source = "trained"
            hist = res.history
            dev = [h.get("valid_ua", float("nan")) for h in hist]
            best = int(np.nanargmax(dev)) if dev else -1
            fitted_of[trial.number], cfg_of[trial.number] = res, c
            meta[trial.number] = {"values": values, "dev_ua": float(dev[best]) if dev else float("nan"),
                                  "best_epoch": best + 1, "epochs_run": len(hist), "source": source,
                                  "time_s": round(time.time() - t0, 1)}
            return meta[trial.number]["dev_ua"]

        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.enqueue_trial({k: v for k, v in first.items()})
        study.optimize(objective, n_trials=trials)
        best = study.best_trial.number
        res, c = fitted_of[best], cfg_of[best]
        preds = predict_prepared(res, prepare(c, test, progress=False), fold=f.name, batch_size=c.train.batch_size)
        scored = [p for p in preds if p.true is not None]
        scores = classification_scores([p.true for p in scored], [p.pred for p in scored], labels)
        r = FoldResult(f.name, len(f.train), len(preds), sorted({u.speaker for u in test}), scores,
                       {"chosen_trial": best, "chosen": meta[best]["values"], "trials": meta})
        runs.append(FoldRun(r, preds))
        choices[f.name] = {"chosen_trial": best, **meta[best]}
        log.info("fold %s: chose trial %d %s (dev UA %.3f); test UA %.3f", f.name, best, meta[best]["values"],
                 meta[best]["dev_ua"], scores["ua"])
    plan.folds = [plan.folds[i] for i in folds]
    report = report_of(plan, runs)
    report.notes.append(f"nested Optuna search ({trials} trials per fold, TPE seed {seed}, first trial = recipe values) "
                        f"over {space} on development speakers of each fold's training speakers; test speakers "
                        "scored once by the chosen trial's model")
    return {"report": report, "space": {k: list(v) if isinstance(v, tuple) else v for k, v in space.items()},
            "recipe_values": first, "choices": choices, "trials": trials}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--trials", type=int, default=3, help="trials per outer fold, the recipe's values first")
    ap.add_argument("--reuse", default=None, help="run folder of `serkit evaluate RECIPE --out RUN` for the first trial")
    ap.add_argument("--out", type=Path, default=None, help="folder for the trials' checkpoints")
    ap.add_argument("--only-folds", nargs="*", default=None, help="outer folds to run (default: all)")
    ap.add_argument("--json", type=Path, default=None, help="write the report (with per-fold choices) here")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.time()
    res = run(a.recipe, overrides=a.overrides, trials=a.trials, reuse=a.reuse, out=a.out, only_folds=a.only_folds)
    rep = res["report"]
    print(rep.to_table())
    for fold, ch in res["choices"].items():
        print(f"{fold}: trial {ch['chosen_trial']} {ch['values']} dev UA {ch['dev_ua']:.3f}, best epoch {ch['best_epoch']}")
    print(f"wall time {time.time() - t0:.1f} s")
    if a.json:
        paths = rep.save(a.json)
        d = json.loads(Path(paths["json"]).read_text())
        d["search"] = {k: v for k, v in res.items() if k != "report"}
        Path(paths["json"]).write_text(json.dumps(d, indent=1, default=str) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
