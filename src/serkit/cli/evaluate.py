"""``serkit evaluate CONFIG``: run a recipe under its speaker-independent protocol."""

from __future__ import annotations

import argparse

from serkit.cli.common import add_no_progress, add_recipe_arguments, load_recipe


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("evaluate", help="evaluate a recipe under its protocol (one model per fold)",
                       description="Train and test one model per fold of the recipe's protocol and "
                                   "print per-fold values and mean ± std.")
    add_recipe_arguments(p, "configs/baseline/emodb_egemaps_svm.yaml")
    p.add_argument("--json", default=None, metavar="OUT",
                   help="write the report as JSON (plus OUT.predictions.csv and OUT.confusion.png)")
    p.add_argument("--out", default=None, help="run folder for checkpoints and logs of neural models")
    add_no_progress(p)
    p.add_argument("--resume", action="store_true",
                   help="continue neural folds from OUT/fold_*/last.pt (needs --out); finished folds only predict")
    p.add_argument("--end-to-end", action="store_true",
                   help="also score each fold model as serkit predict runs it (Predictor: voice-activity "
                        "segments, max window, duration-weighted scores) on its test files: columns "
                        "E2E_UA/WA/F1 (needs --out and a neural model)")
    from serkit.cli.engine import add_evaluate_engine_arguments

    add_evaluate_engine_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate (every seed, locally or with Ray), print the tables, optionally save JSON + plots."""
    from pathlib import Path

    from serkit.errors import ConfigError
    from serkit.experiment import run_experiment, seed_recipes
    from serkit.viz.confusion import save_report_figures

    cfg = load_recipe(args.config, args.overrides, getattr(args, "ssl_model", None))
    end_to_end = getattr(args, "end_to_end", False)
    if end_to_end and not args.out:
        raise ConfigError("--end-to-end scores the fold models of the run folder; give --out DIR")
    n = getattr(args, "seeds", 1)
    cfgs = seed_recipes(cfg, n)
    seeds = [c.train.seed for c in cfgs]
    outs = [args.out if n == 1 or not args.out else str(Path(args.out) / f"seed{s}") for s in seeds]
    progress, resume = not args.no_progress, getattr(args, "resume", False)
    if getattr(args, "engine", "local") == "ray":
        from serkit.scale.ray_evaluate import run_experiments_ray

        reports = run_experiments_ray(cfgs, data_root=args.data_root, out_dirs=outs, resume=resume, progress=progress,
                                      address=args.ray_address, cpus_per_task=args.cpus_per_task)
    else:
        reports = [run_experiment(c, data_root=args.data_root, out_dir=o, progress=progress, resume=resume)
                   for c, o in zip(cfgs, outs, strict=True)]
    for s, c, o, report in zip(seeds, cfgs, outs, reports, strict=True):
        if end_to_end:
            from serkit.inference import end_to_end_scores

            e2e = end_to_end_scores(c, o, data_root=args.data_root)
            for f in report.folds:
                f.scores.update({k: v for k, v in e2e[f.name].items() if k != "e2e_failed"})
                f.extra["e2e_failed"] = int(e2e[f.name]["e2e_failed"])
            report.notes.append("E2E_*: each fold model run by Predictor on its test files as serkit predict runs "
                                "them (VAD segments, duration-weighted scores); files without speech count as wrong")
        if n > 1:
            print(f"== train.seed={s}")
        print(report.to_table())
        if args.json:
            js = args.json if n == 1 else str(Path(args.json).with_suffix("")) + f".seed{s}.json"
            paths = report.save(js)
            paths.update(save_report_figures(report, js))
            print("wrote " + ", ".join(str(p) for p in paths.values()))
    if n > 1:
        from serkit.cli.engine import seed_summary

        print(seed_summary(reports, seeds))
    return 0
