"""``serkit train CONFIG``: train one model from a recipe (neural, or a classical SVM on functionals)."""

from __future__ import annotations

import argparse

from serkit.cli.common import add_no_progress, add_recipe_arguments, load_recipe


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "train", help="train one model from a recipe (neural, or a classical SVM on functionals)",
        description="Train one model. Without --fold it trains on every speaker of the corpus "
                    "(validation speakers for early stopping drawn from them); with --fold NAME it "
                    "trains on that protocol fold's training speakers and reports on its test speakers.")
    add_recipe_arguments(p, "configs/default.yaml")
    p.add_argument("--out", required=True, help="run folder: checkpoint.pt, last.pt, resolved.yaml, train.log")
    p.add_argument("--resume", action="store_true", help="continue a killed run from OUT/last.pt")
    p.add_argument("--fold", default=None, help="train on this fold of the recipe's protocol and test on it")
    add_no_progress(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and print the validation (or fold test) scores.

    Under ``torchrun --nproc-per-node N -m serkit train ...`` the training is data-parallel (DDP,
    :mod:`serkit.train.distributed`); rank 0 writes the run folder and prints.
    """
    from serkit.train import distributed

    info = distributed.init()
    try:
        return _run(args, info)
    finally:
        distributed.shutdown()


def _run(args: argparse.Namespace, info) -> int:
    import json

    from serkit.experiment import load_data
    from serkit.models import CLASSICAL
    from serkit.train.loop import fit, fit_predict

    cfg = load_recipe(args.config, args.overrides, getattr(args, "ssl_model", None))
    utts, labels = load_data(cfg, data_root=args.data_root)
    progress = not args.no_progress
    if cfg.model.name in CLASSICAL:
        return _run_classical(args, cfg, utts, labels, info, progress)
    if args.fold is None:
        fitted = fit(cfg, utts, labels=labels, out_dir=args.out, resume=args.resume, progress=progress)
        res = fitted.result
        last = res.history[-1] if res.history else {}
        if not info.is_main:
            return 0
        print(json.dumps({"checkpoint": f"{args.out}/checkpoint.pt", "epochs": len(res.history),
                          **({"world_size": info.world_size, "backend": info.backend} if info.enabled else {}),
                          "train_time_s": res.wall_time_s, "n_parameters": res.checkpoint.extra["n_parameters"],
                          "validation_speakers": sorted({u.speaker for u in fitted.valid}),
                          "best_valid": res.checkpoint.extra.get("best_valid"), "last_epoch": last}, indent=2))
        return 0
    f, n_folds, train, test = _one_fold(cfg, utts, args.fold)
    fo = fit_predict(cfg, train, test, labels=labels, out_dir=args.out, progress=progress, fold=f.name,
                     resume=args.resume)
    if info.is_main:
        _print_fold_scores(cfg, f.name, n_folds, fo.predictions, labels)
    return 0


def _one_fold(cfg, utts, name: str):
    """The recipe's fold ``name`` (by the one recipe -> folds rule): (fold, number of folds, train, test)."""
    from serkit.data.splits import recipe_folds
    from serkit.errors import UnknownKeyError

    folds = {f.name: f for f in recipe_folds(cfg, utts, all_folds=True)}
    if name not in folds:
        raise UnknownKeyError("fold", name, folds)
    f = folds[name]
    by_id = {u.id: u for u in utts}
    return f, len(folds), [by_id[i] for i in f.train], [by_id[i] for i in f.test]


def _print_fold_scores(cfg, fold: str, n_folds: int, preds, labels) -> None:
    from serkit.data.splits import recipe_protocol_name
    from serkit.eval.metrics import classification_scores

    sc = classification_scores([p.true for p in preds], [p.pred for p in preds], labels)
    print(f"corpus={cfg.data.corpus} protocol={recipe_protocol_name(cfg)} fold={fold} "
          f"(1 of {n_folds} folds; no std for a single fold): "
          + " ".join(f"{m.upper()}={v:.4f}" for m, v in sc.items()))


def _run_classical(args: argparse.Namespace, cfg, utts, labels, info, progress: bool) -> int:
    """A classical model (linear SVM on functionals): fit on every speaker, or on one fold's
    training speakers and score its test speakers; the model goes to ``OUT/checkpoint.pt``."""
    import json

    from serkit.data.splits import check_speaker_disjoint
    from serkit.errors import ConfigError
    from serkit.experiment import fit_classical

    if args.resume:
        raise ConfigError(f"--resume continues neural training; {cfg.model.name} fits in one step, run it again")
    if not info.is_main:
        return 0
    if args.fold is None:
        ck, _ = fit_classical(cfg, utts, labels=labels, out_dir=args.out, progress=progress)
        print(json.dumps({"checkpoint": f"{args.out}/checkpoint.pt", "n_train": ck.extra["n_train"],
                          "train_time_s": ck.extra["train_time_s"], "n_parameters": ck.extra["n_parameters"],
                          "labels": ck.label_names}, indent=2))
        return 0
    f, n_folds, train, test = _one_fold(cfg, utts, args.fold)
    check_speaker_disjoint(train, test, fold=f.name, speaker_dependent=cfg.eval.speaker_dependent)
    _, preds = fit_classical(cfg, train, test, labels=labels, fold=f.name, out_dir=args.out, progress=progress)
    _print_fold_scores(cfg, f.name, n_folds, preds, labels)
    return 0
